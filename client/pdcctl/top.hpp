// pdcctl top: a live table of kernels (docs/pdcctl.md). The rows and their
// rendering are pure functions (unit-tested); run_top drives the terminal.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pdc/client.hpp"
#include "pdc/core/result.hpp"

namespace pdc::ctl {

/// Columns top can sort by, in display order.
enum class top_column : std::uint8_t { kernel, state, tier, in, out, queue, wait, proc, errors, drops };
inline constexpr top_column k_top_columns[] = {
    top_column::kernel, top_column::state, top_column::tier, top_column::in,     top_column::out,
    top_column::queue,  top_column::wait,  top_column::proc, top_column::errors, top_column::drops};

/// The name `--sort` takes ("in", "wait", ...).
std::string_view name_of(top_column c);
/// The column named `name`; nullopt for another name.
std::optional<top_column> parse_top_column(std::string_view name);

/// One kernel's line: counters now, rates since the previous sample.
struct top_row {
  std::string kernel_id;
  kernel_state state = kernel_state::created;
  kernel_tier tier = kernel_tier::async;
  std::optional<double> in_per_s;   ///< nullopt on the first sample of the kernel
  std::optional<double> out_per_s;  ///< nullopt on the first sample of the kernel
  std::uint64_t queue_depth = 0;
  std::uint32_t capacity = 0;
  std::uint64_t wait_p99_ns = 0;  ///< 0: no sample
  std::uint64_t proc_p99_ns = 0;  ///< 0: no sample
  std::uint64_t errors = 0;
  std::uint64_t drops = 0;  ///< dropped + rejected
};

/// Rows from two samples `dt_ns` apart (`before` empty: no rates yet).
std::vector<top_row> top_rows(std::span<const kernel_info> before, std::span<const kernel_info> now,
                              std::uint64_t dt_ns);

/// Sorts `rows` by `by` (numbers largest first unless `reverse`; names A to Z).
void sort_top_rows(std::vector<top_row>& rows, top_column by, bool reverse);

/// The table: a header line (the sort column marked with '*') and one line per row.
std::string render_top(std::span<const top_row> rows, top_column by);

/// What `pdcctl top` was asked.
struct top_options {
  std::uint32_t interval_ms = 1000;
  top_column sort = top_column::in;
  bool reverse = false;
  std::uint32_t iterations = 0;  ///< 0: until q / interrupted
};

/// Runs top against `session`, writing to `out`: in a terminal (stdout a tty)
/// it redraws in place and reads keys from stdin (q quits, s next sort
/// column, r reverses); otherwise it prints one table per interval.
result<void> run_top(client& session, std::ostream& out, const top_options& opts);

}  // namespace pdc::ctl
