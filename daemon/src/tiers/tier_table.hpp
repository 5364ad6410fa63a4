// The tier table: everything tier-specific, one row per tier (docs/tiers.md
// shows it). A tier is a name and a wire value (pdc::kernel_tier), a bit in
// a plugin's tier mask, a default idle strategy, a rule for how many agents
// a kernel gets, and an executor factory. Adding a tier is one row and one
// executor file.
#pragma once

#include <asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "pdc/core/idle_strategy.hpp"
#include "pdc/core/kinds.hpp"
#include "pdc/core/result.hpp"
#include "pdc/proto/control.hpp"
#include "plugins/plugin_loader.hpp"
#include "runtime/launch_request.hpp"
#include "tiers/executor.hpp"

namespace pdc::daemon {

class kernel;
class kernel_host;
class pool_registry;

/// What executors are made with.
struct executor_env {
  asio::io_context& io;
  kernel_host& host;
  pool_registry& pools;
};

struct tier_row {
  kernel_tier tier;
  std::string_view name;      ///< As pdc::to_string(tier) spells it (a test checks).
  wire::Tier wire;            ///< Its value on the wire (a test checks).
  std::uint32_t plugin_mask;  ///< Its bit in pdc_kernel_type.tiers.
  idle_strategy default_idle;
  std::string_view summary;  ///< One line for help texts.
  /// How many agents a launch gets (0 in the request: the tier's default),
  /// and whether the launch fits the tier at all (pinning, pools, styles).
  result<std::uint32_t> (*agents)(const launch_request& req, const kernel_type_entry& type, const executor_env& env);
  /// Makes the kernel's executor (req is complete: agents filled in).
  result<std::unique_ptr<executor>> (*make)(kernel& k, const launch_request& req, const executor_env& env,
                                            const idle_strategy& idle);
};

/// Every tier this build can run, in wire order.
std::span<const tier_row> tier_rows() noexcept;
/// The row of `t`, or null when this build has no executor for it (cuda, built without CUDA).
const tier_row* find_tier(kernel_tier t) noexcept;
/// The idle strategy of a launch: the row's default, or its `idle_spin_us`.
idle_strategy idle_for(const tier_row& row, const launch_request& req) noexcept;

// Executor factories and agent rules, one pair per tier file.
result<std::uint32_t> async_agents(const launch_request& req, const kernel_type_entry& type, const executor_env& env);
result<std::unique_ptr<executor>> make_async_executor(kernel& k, const launch_request& req, const executor_env& env,
                                                      const idle_strategy& idle);
result<std::uint32_t> threaded_agents(const launch_request& req, const kernel_type_entry& type,
                                      const executor_env& env);
result<std::unique_ptr<executor>> make_thread_executor(kernel& k, const launch_request& req, const executor_env& env,
                                                       const idle_strategy& idle);
result<std::uint32_t> spin_agents(const launch_request& req, const kernel_type_entry& type, const executor_env& env);
result<std::unique_ptr<executor>> make_spin_executor(kernel& k, const launch_request& req, const executor_env& env,
                                                     const idle_strategy& idle);
result<std::uint32_t> pool_agents(const launch_request& req, const kernel_type_entry& type, const executor_env& env);
result<std::unique_ptr<executor>> make_pool_executor(kernel& k, const launch_request& req, const executor_env& env,
                                                     const idle_strategy& idle);
#ifdef PDC_HAVE_CUDA
result<std::uint32_t> cuda_agents(const launch_request& req, const kernel_type_entry& type, const executor_env& env);
result<std::unique_ptr<executor>> make_cuda_executor(kernel& k, const launch_request& req, const executor_env& env,
                                                     const idle_strategy& idle);
#endif

}  // namespace pdc::daemon
