// Rows of a benchmark report, printed as a table or as a JSON array.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pdc/core/histogram.hpp"

namespace pdc::bench {

/// One measurement. Latency rows fill the *_ns fields; throughput rows fill
/// msgs_per_s. `ratio` is this row's p50 (latency) or msgs_per_s
/// (throughput) over the baseline row's.
struct row {
  std::string name;
  std::optional<double> p50_ns, p95_ns, p99_ns, p999_ns, mean_ns;
  std::optional<double> msgs_per_s;
  std::optional<std::string> baseline;
  std::optional<double> ratio;
  std::size_t repetitions = 1;  ///< Repetitions the numbers are medians of.
};

/// A latency row from a histogram of per-operation nanoseconds.
row latency_row(std::string name, const histogram& h);
/// A throughput row.
row throughput_row(std::string name, double msgs_per_s);

class report {
 public:
  void add(row r) { rows_.push_back(std::move(r)); }
  /// A line printed under the table (on stderr with --json): what the rows compare.
  void note(std::string text) { notes_.push_back(std::move(text)); }
  /// Fills `ratio` of every row whose `baseline` names another row (rows
  /// that have one already, from repetitions, keep it).
  void compute_ratios();
  void print_table() const;
  void print_json() const;
  [[nodiscard]] const std::vector<row>& rows() const { return rows_; }

 private:
  std::vector<row> rows_;
  std::vector<std::string> notes_;
};

/// Rows measured in several interleaved repetitions. Each row's numbers are
/// the medians of its repetitions, and its ratio the median of its
/// per-repetition ratios (against its baseline measured in the same
/// repetition), so a machine that changes speed between repetitions moves
/// both sides of a ratio together.
class repetitions {
 public:
  /// Adds the row measured in repetition `rep`.
  void add(std::size_t rep, row r);
  /// Appends the aggregated rows to `out`, in the order they first came.
  void finish_into(report& out) const;

 private:
  std::vector<std::string> order_;
  std::vector<std::vector<std::pair<std::size_t, row>>> samples_;  // by order_ index
};

}  // namespace pdc::bench
