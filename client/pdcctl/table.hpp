// Aligned plain-text tables for pdcctl's human-readable output.
#pragma once

#include <string>
#include <vector>

namespace pdc::ctl {

/// One column: its header and whether cells align right (numbers).
struct column {
  std::string title;
  bool right = false;
};

/// Rows of cells rendered with columns padded to their widest cell and
/// separated by two spaces; trailing spaces are trimmed.
class text_table {
 public:
  explicit text_table(std::vector<column> columns) : columns_(std::move(columns)) {}
  /// Adds a row; missing cells are blank, extra cells are ignored.
  void add_row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  /// Header line then one line per row, each ending in '\n'.
  [[nodiscard]] std::string render() const;

 private:
  std::vector<column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

/// Display width of UTF-8 `text` (code points; wide glyphs count as one).
std::size_t display_width(const std::string& text);

}  // namespace pdc::ctl
