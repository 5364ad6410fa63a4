// Kernel lifecycle: the six states (pdc::kernel_state, in core) and the
// transitions between them (the seed's behaviour; docs/tiers.md).
#pragma once

#include <cstdint>
#include <string_view>

#include "pdc/core/kinds.hpp"
#include "pdc/core/result.hpp"

namespace pdc::daemon {

enum class kernel_op : std::uint8_t { launch, activate, deactivate, terminate };

/// "launch", "activate", ...
std::string_view to_string(kernel_op op) noexcept;

/// The state `op` leads to from `from`, or illegal_state with a message that
/// names the kernel, the operation and the current state. Legal: launch from
/// created; activate from launched or deactivated; deactivate from active;
/// terminate from launched, active or deactivated (leads to terminating).
result<kernel_state> transition(std::string_view kernel_id, kernel_state from, kernel_op op);

}  // namespace pdc::daemon
