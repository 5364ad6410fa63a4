// Tier 3 (spin): the kernel's one agent on a dedicated thread that
// busy-polls (50 us by default, then it parks, so an idle kernel does not
// burn a core of a small machine; --idle-spin-us raises it), optionally
// pinned to a CPU (--cpu).
#include <thread>

#include "runtime/kernel.hpp"
#include "tiers/runner_executor.hpp"
#include "tiers/tier_table.hpp"

namespace pdc::daemon {

result<std::uint32_t> spin_agents(const launch_request& req, const kernel_type_entry& /*type*/,
                                  const executor_env& /*env*/) {
  if (req.workers > 1) {
    return make_error(errc::invalid_argument, "the spin tier runs one worker (got --workers " +
                                                  std::to_string(req.workers) + "); launch one kernel per core");
  }
  const auto cpus = std::thread::hardware_concurrency();
  if (req.cpu >= 0 && cpus != 0 && static_cast<unsigned>(req.cpu) >= cpus) {
    return make_error(errc::invalid_argument, "CPU " + std::to_string(req.cpu) + " does not exist (this machine has " +
                                                  std::to_string(cpus) + ")");
  }
  return 1U;
}

result<std::unique_ptr<executor>> make_spin_executor(kernel& k, const launch_request& req, const executor_env& env,
                                                     const idle_strategy& idle) {
  return std::unique_ptr<executor>(runner_executor::dedicated(k, env.host, 1, idle, req.cpu));
}

}  // namespace pdc::daemon
