// The kinds (pdc/core/kinds.hpp) on the wire: one conversion each way, shared
// by the daemon's codec and libpdc's. The wire enums carry the same values,
// checked here, so a conversion is a cast after a range check; an unknown
// value (a newer peer, or garbage) is refused with an error, never guessed.
#pragma once

#include "pdc/core/kinds.hpp"
#include "pdc/proto/control_generated.h"

namespace pdc {

#define PDC_SAME_VALUE(wire_value, kind_value) \
  static_assert(static_cast<unsigned>(wire_value) == static_cast<unsigned>(kind_value))
PDC_SAME_VALUE(wire::Tier::Async, kernel_tier::async);
PDC_SAME_VALUE(wire::Tier::Threaded, kernel_tier::threaded);
PDC_SAME_VALUE(wire::Tier::Spin, kernel_tier::spin);
PDC_SAME_VALUE(wire::Tier::Pool, kernel_tier::pool);
PDC_SAME_VALUE(wire::Tier::Cuda, kernel_tier::cuda);
PDC_SAME_VALUE(wire::Tier::MAX, kernel_tier::cuda);
PDC_SAME_VALUE(wire::Backpressure::Block, backpressure_policy::block);
PDC_SAME_VALUE(wire::Backpressure::Reject, backpressure_policy::reject);
PDC_SAME_VALUE(wire::Backpressure::DropOldest, backpressure_policy::drop_oldest);
PDC_SAME_VALUE(wire::Backpressure::DropNewest, backpressure_policy::drop_newest);
PDC_SAME_VALUE(wire::Backpressure::MAX, backpressure_policy::drop_newest);
PDC_SAME_VALUE(wire::KernelState::Created, kernel_state::created);
PDC_SAME_VALUE(wire::KernelState::Launched, kernel_state::launched);
PDC_SAME_VALUE(wire::KernelState::Active, kernel_state::active);
PDC_SAME_VALUE(wire::KernelState::Deactivated, kernel_state::deactivated);
PDC_SAME_VALUE(wire::KernelState::Terminating, kernel_state::terminating);
PDC_SAME_VALUE(wire::KernelState::Terminated, kernel_state::terminated);
PDC_SAME_VALUE(wire::KernelState::Restarting, kernel_state::restarting);
PDC_SAME_VALUE(wire::KernelState::Failed, kernel_state::failed);
PDC_SAME_VALUE(wire::KernelState::MAX, kernel_state::failed);
PDC_SAME_VALUE(wire::Isolation::None, kernel_isolation::none);
PDC_SAME_VALUE(wire::Isolation::Process, kernel_isolation::process);
PDC_SAME_VALUE(wire::Isolation::MAX, kernel_isolation::process);
#undef PDC_SAME_VALUE

inline wire::Tier to_wire(kernel_tier t) noexcept {
  return static_cast<wire::Tier>(t);
}
inline wire::Backpressure to_wire(backpressure_policy p) noexcept {
  return static_cast<wire::Backpressure>(p);
}
inline wire::KernelState to_wire(kernel_state s) noexcept {
  return static_cast<wire::KernelState>(s);
}
inline wire::Isolation to_wire(kernel_isolation i) noexcept {
  return static_cast<wire::Isolation>(i);
}
inline result<kernel_tier> from_wire(wire::Tier t) {
  return tier_from_value(static_cast<std::uint32_t>(t));
}
inline result<backpressure_policy> from_wire(wire::Backpressure p) {
  return backpressure_from_value(static_cast<std::uint32_t>(p));
}
inline result<kernel_state> from_wire(wire::KernelState s) {
  return state_from_value(static_cast<std::uint32_t>(s));
}
inline result<kernel_isolation> from_wire(wire::Isolation i) {
  return isolation_from_value(static_cast<std::uint32_t>(i));
}

}  // namespace pdc
