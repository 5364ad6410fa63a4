// Named thread pools (config [[pool]]): N agent runners that the agents of
// several kernels share, as PyDotCompute's ThreadedKernelPool (the Python
// library pdc descends from) runs several named workers on one set of threads. Each agent stays on one runner, so every
// attachment keeps one consumer and its order; each kernel keeps its own
// metrics. A handler that blocks holds its runner's thread: the other
// agents on that thread wait meanwhile (use a private pool, or threaded).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pdc/core/result.hpp"
#include "tiers/agent_runner.hpp"

namespace pdc::daemon {

struct pool_config {
  std::string name;
  std::uint32_t threads = 2;
  std::uint32_t idle_spin_us = 5;  ///< How long an idle pool thread polls before it parks.
};

class thread_pool {
 public:
  thread_pool(kernel_host& host, pool_config cfg);
  result<void> start();

  [[nodiscard]] const pool_config& config() const noexcept { return cfg_; }
  /// The `n` runners with the fewest agents (distinct while n <= threads). Control thread.
  [[nodiscard]] std::vector<agent_runner*> least_loaded(std::size_t n) const;
  /// Kernels on the pool (control thread): kept by the registry.
  std::vector<std::string> kernels;

 private:
  pool_config cfg_;
  std::vector<std::unique_ptr<agent_runner>> runners_;
};

/// The daemon's named pools, made at start from the config.
class pool_registry {
 public:
  explicit pool_registry(kernel_host& host) : host_(host) {}
  /// Creates and starts a pool; refuses a duplicate name or a thread that cannot start.
  result<void> add(const pool_config& cfg);
  /// The pool named `name`, or not_found naming the pools there are.
  result<thread_pool*> find(const std::string& name) const;
  [[nodiscard]] const std::map<std::string, std::unique_ptr<thread_pool>, std::less<>>& all() const noexcept {
    return pools_;
  }

 private:
  kernel_host& host_;
  std::map<std::string, std::unique_ptr<thread_pool>, std::less<>> pools_;
};

}  // namespace pdc::daemon
