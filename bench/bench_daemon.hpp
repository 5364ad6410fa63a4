// A pdcd for benchmarks: runs the daemon library in a forked child process
// (so client and kernels are in different processes), and a client for it.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "pdc/client.hpp"

namespace pdc::bench {

/// A pdcd child process serving a socket in the temporary folder; stopped
/// (SIGTERM, then reaped) when destroyed.
class bench_daemon {
 public:
  /// Loads `plugins` from `kernels_dir` and launches `kernels` (activated).
  /// With a `cluster` node name, it is a node of that NATS cluster (pdc-bench nats).
  bench_daemon(const std::string& kernels_dir, std::vector<std::string> plugins,
               std::vector<daemon::startup_kernel> kernels = {}, daemon::isolation_config isolation = {},
               daemon::cluster_config cluster = {});
  ~bench_daemon();
  bench_daemon(const bench_daemon&) = delete;
  bench_daemon& operator=(const bench_daemon&) = delete;

  /// A connected client (retrying while the daemon starts); exits the
  /// program with a message if the daemon never answers.
  client connect();
  /// The daemon's process id.
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

 private:
  std::string socket_;
  pid_t pid_ = -1;
};

}  // namespace pdc::bench
