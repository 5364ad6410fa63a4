// The pool tier: a kernel's agents on the threads of a pool, each agent on
// one thread for good (so every attachment keeps one consumer and its
// order; the first agent serves the inbox). Without --pool the kernel gets a
// private pool of --workers threads (default 2), one agent each; with
// --pool NAME its agents (--workers, default 1) join the named pool's
// least-loaded threads, beside other kernels' agents.
//
// More than one agent runs the handler concurrently on one plugin state, so
// a kernel type must declare PDC_KERNEL_CONCURRENT for that; others are
// refused with the reason (docs/tiers.md, "Pools").
#include "runtime/kernel.hpp"
#include "tiers/runner_executor.hpp"
#include "tiers/thread_pool.hpp"
#include "tiers/tier_table.hpp"

namespace pdc::daemon {

namespace {
constexpr std::uint32_t k_private_default = 2;
constexpr std::uint32_t k_private_max = 64;
}  // namespace

result<std::uint32_t> pool_agents(const launch_request& req, const kernel_type_entry& type, const executor_env& env) {
  if (req.cpu >= 0)
    return make_error(errc::invalid_argument, "CPU pinning (--cpu) applies to the spin and threaded tiers only");
  std::uint32_t n = req.workers;
  if (req.pool.empty()) {
    if (n == 0) n = k_private_default;
    if (n > k_private_max) {
      return make_error(errc::invalid_argument, "a private pool has 1 to " + std::to_string(k_private_max) +
                                                    " workers (got " + std::to_string(n) + ")");
    }
  } else {
    auto pool = env.pools.find(req.pool);
    if (!pool) return std::move(pool).err();
    if (type.is_loop()) {
      return make_error(errc::not_supported, "kernel type '" + type.name +
                                                 "' is loop-style: its run() would hold a thread of the shared pool '" +
                                                 req.pool + "'; use threaded, spin or a private pool");
    }
    if (req.idle_spin_us != 0) {
      return make_error(errc::invalid_argument, "idle_spin_us is set per pool for named pools (pool '" + req.pool +
                                                    "' uses " + std::to_string((*pool)->config().idle_spin_us) +
                                                    " us)");
    }
    if (n == 0) n = 1;
    if (n > (*pool)->config().threads) {
      return make_error(errc::invalid_argument, "pool '" + req.pool + "' has " +
                                                    std::to_string((*pool)->config().threads) + " threads; " +
                                                    std::to_string(n) + " workers cannot each have their own");
    }
  }
  if (n > 1 && (type.flags & PDC_KERNEL_CONCURRENT) == 0) {
    return make_error(errc::not_supported,
                      "kernel type '" + type.name + "' does not declare PDC_KERNEL_CONCURRENT: its handler must not " +
                          "run on " + std::to_string(n) + " threads at once on one state; launch it with " +
                          "--workers 1, or on the threaded tier");
  }
  return n;
}

result<std::unique_ptr<executor>> make_pool_executor(kernel& k, const launch_request& req, const executor_env& env,
                                                     const idle_strategy& idle) {
  if (req.pool.empty()) {
    return std::unique_ptr<executor>(runner_executor::dedicated(k, env.host, req.workers, idle, -1));
  }
  auto pool = env.pools.find(req.pool);
  if (!pool) return std::move(pool).err();
  return std::unique_ptr<executor>(runner_executor::shared(k, env.host, (*pool)->least_loaded(req.workers)));
}

}  // namespace pdc::daemon
