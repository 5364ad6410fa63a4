// Tier 2 (threaded): the kernel's one agent on a dedicated thread that polls
// briefly (5 us by default), then parks on its doorbell; handlers may block.
#include "runtime/kernel.hpp"
#include "tiers/runner_executor.hpp"
#include "tiers/tier_table.hpp"

namespace pdc::daemon {

result<std::uint32_t> threaded_agents(const launch_request& req, const kernel_type_entry& /*type*/,
                                      const executor_env& /*env*/) {
  if (req.workers > 1) {
    return make_error(errc::invalid_argument, "the threaded tier runs one worker (got --workers " +
                                                  std::to_string(req.workers) + "); use the pool tier for more");
  }
  return 1U;
}

result<std::unique_ptr<executor>> make_thread_executor(kernel& k, const launch_request& req, const executor_env& env,
                                                       const idle_strategy& idle) {
  return std::unique_ptr<executor>(runner_executor::dedicated(k, env.host, 1, idle, req.cpu));
}

}  // namespace pdc::daemon
