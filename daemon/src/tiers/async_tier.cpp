// Tier 1 (async)'s rules and factory; the executor is async_executor.cpp.
#include "runtime/kernel.hpp"
#include "tiers/async_executor.hpp"
#include "tiers/tier_table.hpp"

namespace pdc::daemon {

result<std::uint32_t> async_agents(const launch_request& req, const kernel_type_entry& /*type*/,
                                   const executor_env& /*env*/) {
  if (req.workers > 1) {
    return make_error(errc::invalid_argument, "the async tier runs one worker, on the event loop (got --workers " +
                                                  std::to_string(req.workers) + ")");
  }
  if (req.cpu >= 0)
    return make_error(errc::invalid_argument, "CPU pinning (--cpu) applies to the spin and threaded tiers only");
  return 1U;
}

result<std::unique_ptr<executor>> make_async_executor(kernel& k, const launch_request& /*req*/, const executor_env& env,
                                                      const idle_strategy& idle) {
  return std::unique_ptr<executor>(std::make_unique<async_executor>(k, env.io, env.host, idle));
}

}  // namespace pdc::daemon
