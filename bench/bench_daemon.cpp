#include "bench_daemon.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "app/daemon.hpp"
#include "pinning.hpp"

namespace pdc::bench {

namespace {
// Several daemons in one run (pdc-bench isolation) each get a socket of their own.
int next_daemon() {
  static int n = 0;
  return ++n;
}
}  // namespace

bench_daemon::bench_daemon(const std::string& kernels_dir, std::vector<std::string> plugins,
                           std::vector<daemon::startup_kernel> kernels, daemon::isolation_config isolation,
                           daemon::cluster_config cluster)
    : socket_((std::filesystem::temp_directory_path() /
               ("pdc-bench-" + std::to_string(::getpid()) + "-" + std::to_string(next_daemon()) + ".sock"))
                  .string()) {
  pid_ = ::fork();
  if (pid_ != 0) return;
  pin_server_side();
  // Its log lines (a crashing host, say) go to stderr, never into the table on stdout.
  spdlog::set_default_logger(spdlog::stderr_logger_st("pdcd-bench"));
  daemon::daemon_config cfg;
  cfg.socket_path = socket_;
  cfg.plugin_dirs = {kernels_dir};
  cfg.plugins = std::move(plugins);
  cfg.kernels = std::move(kernels);
  cfg.isolation = std::move(isolation);
  cfg.cluster = std::move(cluster);
  cfg.log_level = "warn";
  daemon::set_log_level("warn");
  auto d = daemon::daemon::create(cfg, true);
  if (!d) {
    std::fprintf(stderr, "pdcd: %s\n", d.err().what().c_str());
    ::_exit(1);
  }
  (*d)->run();
  ::_exit(0);
}

bench_daemon::~bench_daemon() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, nullptr, 0);
}

client bench_daemon::connect() {
  for (int i = 0; i < 2000; ++i) {
    auto c = client::connect(socket_, "pdc-bench");
    if (c) return std::move(c).value();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::fprintf(stderr, "pdc-bench: cannot reach the benchmark daemon at %s\n", socket_.c_str());
  ::kill(pid_, SIGKILL);
  std::exit(1);
}

}  // namespace pdc::bench
