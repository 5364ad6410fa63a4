#include "table.hpp"

#include <algorithm>

namespace pdc::ctl {

std::size_t display_width(const std::string& text) {
  // Count bytes that start a code point (not UTF-8 continuation bytes).
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U; }));
}

std::string text_table::render() const {
  std::vector<std::size_t> widths(columns_.size(), 0);
  const auto cell = [](const std::vector<std::string>& row, std::size_t i) -> const std::string& {
    static const std::string blank;
    return i < row.size() ? row[i] : blank;
  };
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    widths[i] = display_width(columns_[i].title);
    for (const auto& row : rows_) widths[i] = std::max(widths[i], display_width(cell(row, i)));
  }
  std::string out;
  const auto emit_line = [&](auto&& text_of) {
    std::string line;
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      const std::string& text = text_of(i);
      const std::string pad(widths[i] - display_width(text), ' ');
      if (i > 0) line += "  ";
      line += columns_[i].right ? pad + text : text + pad;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line;
    out += '\n';
  };
  emit_line([&](std::size_t i) -> const std::string& { return columns_[i].title; });
  for (const auto& row : rows_) emit_line([&](std::size_t i) -> const std::string& { return cell(row, i); });
  return out;
}

}  // namespace pdc::ctl
