// pdc-bench: one subcommand per question; prints a table, or JSON rows with --json.
#include <CLI/CLI.hpp>

#include "benches.hpp"

int main(int argc, char** argv) {
  CLI::App app{"pdc-bench: pdc measured beside raw baselines in the same run"};
  app.require_subcommand(1);
  bool json = false;
  double scale = 1.0;
  app.add_flag("--json", json, "Print a JSON array of rows instead of a table");
  app.add_option("--scale", scale, "Multiply iteration counts (e.g. 0.1 for a quick run)")->check(CLI::PositiveNumber);
  auto* ring = app.add_subcommand("ring", "Core SPSC ring vs a bare ring: same-thread, ping-pong, streaming");
  CLI11_PARSE(app, argc, argv);

  pdc::bench::report out;
  if (ring->parsed()) pdc::bench::run_ring(out, scale);
  out.compute_ratios();
  if (json) {
    out.print_json();
  } else {
    out.print_table();
  }
  return 0;
}
