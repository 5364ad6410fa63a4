// Kernel lifecycle: the six states and the transitions between them
// (ARCHITECTURE.md section 4; the seed's behaviour).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "pdc/core/result.hpp"

namespace pdc::daemon {

enum class kernel_state : std::uint8_t { created, launched, active, deactivated, terminating, terminated };
enum class kernel_op : std::uint8_t { launch, activate, deactivate, terminate };

/// "CREATED", "LAUNCHED", ...
std::string_view to_string(kernel_state s) noexcept;
/// "launch", "activate", ...
std::string_view to_string(kernel_op op) noexcept;

/// The state `op` leads to from `from`, or illegal_state with a message that
/// names the kernel, the operation and the current state. Legal: launch from
/// CREATED; activate from LAUNCHED or DEACTIVATED; deactivate from ACTIVE;
/// terminate from LAUNCHED, ACTIVE or DEACTIVATED (leads to TERMINATING).
result<kernel_state> transition(std::string_view kernel_id, kernel_state from, kernel_op op);

}  // namespace pdc::daemon
