// pdc-bench: one subcommand per question; prints a table, or JSON rows with --json.
#include <CLI/CLI.hpp>

#include "benches.hpp"
#include "pinning.hpp"

int main(int argc, char** argv) {
  CLI::App app{"pdc-bench: pdc measured beside raw baselines in the same run"};
  app.require_subcommand(1);
  // Options may come before or after the subcommand: `pdc-bench tiers --json` = `pdc-bench --json tiers`.
  app.fallthrough();
  bool json = false;
  pdc::bench::bench_options opt;
  std::vector<int> pin;
  app.add_flag("--json", json, "Print a JSON array of rows instead of a table");
  app.add_option("--scale", opt.scale, "Multiply iteration counts (e.g. 0.1 for a quick run)")
      ->check(CLI::PositiveNumber);
  app.add_option("--reps", opt.reps, "Interleaved repetitions of the tiers rows (rows are medians)")
      ->check(CLI::Range(1, 100));
  app.add_option("--only", opt.only, "tiers: measure only the rows whose name holds this text (repeatable)");
  app.add_option("--pin", pin, "Pin the client side to CPU A and the kernel / echo side to CPU B (--pin 0 1)")
      ->expected(2);
  auto* ring = app.add_subcommand("ring", "Core SPSC ring vs a bare ring: same-thread, ping-pong, streaming");
#ifdef PDC_BENCH_WITH_DAEMON
  std::string kernels_dir = PDC_BENCH_KERNELS_DIR;
  auto* socket = app.add_subcommand("socket", "Tier-1 round trip through pdcd's socket vs a bare Unix socket");
  socket->add_option("--kernels-dir", kernels_dir, "Folder holding pdc_echo.so");
  auto* tiers = app.add_subcommand("tiers", "The seed's tier table: every tier over attachments vs bare baselines");
  tiers->add_option("--kernels-dir", kernels_dir, "Folder holding pdc_echo.so and pdc_sink.so");
  auto* isolation = app.add_subcommand(
      "isolation", "Process-isolated kernels vs the same in pdcd; crash-to-reply time; a neighbour under a crash loop");
  isolation->add_option("--kernels-dir", kernels_dir, "Folder holding pdc_echo.so and pdc_sink.so");
  auto* anomaly =
      app.add_subcommand("anomaly", "The anomaly kernel on tier 3 in points/s vs the computation in-process");
  anomaly->add_option("--kernels-dir", kernels_dir, "Folder holding pdc_anomaly.so");
#ifdef PDC_HAVE_CUDA
  auto* cuda = app.add_subcommand(
      "cuda", "The cuda tier on a GPU: round trip, device message rate, anomaly vs tier 3, idle cost");
  cuda->add_option("--kernels-dir", kernels_dir, "Folder holding pdc_cuda.so and pdc_anomaly.so");
#endif
#endif
#ifdef PDC_BENCH_WITH_NATS
  std::string nats_server = "nats-server";
  auto* nats = app.add_subcommand(
      "nats", "The cluster rows: pdc across two nodes beside bare NATS (request/reply, publish, JetStream)");
  nats->add_option("--nats-server", nats_server, "The nats-server executable");
#ifdef PDC_BENCH_WITH_DAEMON
  nats->add_option("--kernels-dir", kernels_dir, "Folder holding pdc_echo.so, pdc_sink.so and pdc_router.so");
#endif
#endif
  for (auto* sub : app.get_subcommands({})) sub->fallthrough();
  CLI11_PARSE(app, argc, argv);
  if (pin.size() == 2) {
    pdc::bench::set_pinning(pin[0], pin[1]);
    pdc::bench::pin_client_side();
  }

  pdc::bench::report out;
  if (ring->parsed()) pdc::bench::run_ring(out, opt.scale);
#ifdef PDC_BENCH_WITH_DAEMON
  if (socket->parsed()) pdc::bench::run_socket(out, opt.scale, kernels_dir);
  if (tiers->parsed()) pdc::bench::run_tiers(out, opt, kernels_dir);
  if (isolation->parsed()) pdc::bench::run_isolation(out, opt, kernels_dir);
  if (anomaly->parsed()) pdc::bench::run_anomaly(out, opt, kernels_dir);
#ifdef PDC_HAVE_CUDA
  if (cuda->parsed()) pdc::bench::run_cuda(out, opt, kernels_dir);
#endif
#endif
#ifdef PDC_BENCH_WITH_NATS
#ifdef PDC_BENCH_WITH_DAEMON
  if (nats->parsed()) pdc::bench::run_nats(out, opt, nats_server, kernels_dir);
#else
  if (nats->parsed()) pdc::bench::run_nats(out, opt, nats_server, {});
#endif
#endif
  out.compute_ratios();
  if (json) {
    out.print_json();
  } else {
    out.print_table();
  }
  return 0;
}
