// The kinds pdc names everywhere: kernel tiers, backpressure policies and
// kernel states. Each exists once, here, with the numeric value shared by the
// wire, the plugin ABI and the C client ABI (pdc/kinds.h), and one spelling
// used in logs, on the command line, in the config file and in JSON.
#pragma once

#include <cstdint>
#include <string_view>

#include "pdc/core/result.hpp"
#include "pdc/kinds.h"

namespace pdc {

/// Where and how a kernel's loop runs (docs/tiers.md).
enum class kernel_tier : std::uint8_t {
  async = PDC_TIER_ASYNC,        ///< Tier 1: the daemon's event loop.
  threaded = PDC_TIER_THREADED,  ///< Tier 2: a dedicated thread.
  spin = PDC_TIER_SPIN,          ///< Tier 3: a busy-polling dedicated thread.
  pool = PDC_TIER_POOL,          ///< Tier 2, pooled: agents on the threads of a pool.
  cuda = PDC_TIER_CUDA,          ///< Tier 4: a persistent GPU kernel.
};

/// What a kernel does with a message when its queue is full.
enum class backpressure_policy : std::uint8_t {
  block = PDC_BACKPRESSURE_BLOCK,              ///< The sender waits for room, up to the block timeout.
  reject = PDC_BACKPRESSURE_REJECT,            ///< The new message is refused (errc::rejected).
  drop_oldest = PDC_BACKPRESSURE_DROP_OLDEST,  ///< The oldest is dropped; its sender gets an error reply.
  drop_newest = PDC_BACKPRESSURE_DROP_NEWEST,  ///< The new message is dropped (errc::dropped).
};

/// A kernel's lifecycle state (docs/tiers.md, "Lifecycle").
enum class kernel_state : std::uint8_t {
  created = PDC_STATE_CREATED,
  launched = PDC_STATE_LAUNCHED,
  active = PDC_STATE_ACTIVE,
  deactivated = PDC_STATE_DEACTIVATED,
  terminating = PDC_STATE_TERMINATING,
  terminated = PDC_STATE_TERMINATED,
  restarting = PDC_STATE_RESTARTING,  ///< Process isolation: the host died and is being restarted.
  failed = PDC_STATE_FAILED,          ///< Process isolation: restarts used up; waits for an administrator.
};

/// Where a kernel's handlers run (docs/isolation.md).
enum class kernel_isolation : std::uint8_t {
  none = PDC_ISOLATION_NONE,        ///< Inside pdcd.
  process = PDC_ISOLATION_PROCESS,  ///< In a supervised pdc-kernel-host process of its own.
};

/// "async", "threaded", "spin", "pool", "cuda" (static storage).
std::string_view to_string(kernel_tier t) noexcept;
/// "block", "reject", "drop_oldest", "drop_newest".
std::string_view to_string(backpressure_policy p) noexcept;
/// "created", "launched", "active", "deactivated", "terminating", "terminated", "restarting", "failed".
std::string_view to_string(kernel_state s) noexcept;
/// "none", "process".
std::string_view to_string(kernel_isolation i) noexcept;

/// Parses a tier name as to_string spells it; invalid_argument naming the choices otherwise.
result<kernel_tier> parse_tier(std::string_view name);
/// Parses a policy name as to_string spells it ('-' may stand for '_').
result<backpressure_policy> parse_backpressure(std::string_view name);
/// Parses a state name as to_string spells it.
result<kernel_state> parse_state(std::string_view name);
/// Parses an isolation name as to_string spells it.
result<kernel_isolation> parse_isolation(std::string_view name);

/// The tier with numeric value `v` (wire, C ABI); invalid_argument for a value this build does not know.
result<kernel_tier> tier_from_value(std::uint32_t v);
/// The policy with numeric value `v`; invalid_argument for an unknown value.
result<backpressure_policy> backpressure_from_value(std::uint32_t v);
/// The state with numeric value `v`; invalid_argument for an unknown value.
result<kernel_state> state_from_value(std::uint32_t v);
/// The isolation with numeric value `v`; invalid_argument for an unknown value.
result<kernel_isolation> isolation_from_value(std::uint32_t v);

/// Every tier, policy and state, in value order (for help texts and tests).
inline constexpr kernel_tier k_all_tiers[] = {kernel_tier::async, kernel_tier::threaded, kernel_tier::spin,
                                              kernel_tier::pool, kernel_tier::cuda};
inline constexpr backpressure_policy k_all_backpressure_policies[] = {
    backpressure_policy::block, backpressure_policy::reject, backpressure_policy::drop_oldest,
    backpressure_policy::drop_newest};
inline constexpr kernel_state k_all_kernel_states[] = {
    kernel_state::created,     kernel_state::launched,   kernel_state::active,     kernel_state::deactivated,
    kernel_state::terminating, kernel_state::terminated, kernel_state::restarting, kernel_state::failed};
inline constexpr kernel_isolation k_all_isolations[] = {kernel_isolation::none, kernel_isolation::process};
static_assert(std::size(k_all_tiers) == PDC_TIER_COUNT);

/// The bit of `t` in a plugin's tier mask (pdc_kernel_type.tiers).
constexpr std::uint32_t tier_mask_bit(kernel_tier t) noexcept {
  return 1U << static_cast<std::uint32_t>(t);
}

}  // namespace pdc
