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
};

/// A latency row from a histogram of per-operation nanoseconds.
row latency_row(std::string name, const histogram& h);
/// A throughput row.
row throughput_row(std::string name, double msgs_per_s);

class report {
 public:
  void add(row r) { rows_.push_back(std::move(r)); }
  /// Fills `ratio` of every row whose `baseline` names another row.
  void compute_ratios();
  void print_table() const;
  void print_json() const;
  [[nodiscard]] const std::vector<row>& rows() const { return rows_; }

 private:
  std::vector<row> rows_;
};

}  // namespace pdc::bench
