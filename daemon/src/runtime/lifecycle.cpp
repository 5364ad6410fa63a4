#include "runtime/lifecycle.hpp"

namespace pdc::daemon {

std::string_view to_string(kernel_op op) noexcept {
  switch (op) {
    case kernel_op::launch:
      return "launch";
    case kernel_op::activate:
      return "activate";
    case kernel_op::deactivate:
      return "deactivate";
    case kernel_op::terminate:
      return "terminate";
  }
  return "unknown";
}

result<kernel_state> transition(std::string_view kernel_id, kernel_state from, kernel_op op) {
  using s = kernel_state;
  switch (op) {
    case kernel_op::launch:
      if (from == s::created) return s::launched;
      break;
    case kernel_op::activate:
      if (from == s::launched || from == s::deactivated) return s::active;
      break;
    case kernel_op::deactivate:
      if (from == s::active) return s::deactivated;
      break;
    case kernel_op::terminate:
      if (from == s::launched || from == s::active || from == s::deactivated) return s::terminating;
      break;
  }
  return make_error(errc::illegal_state, "cannot " + std::string(to_string(op)) + " kernel '" + std::string(kernel_id) +
                                             "': it is " + std::string(to_string(from)));
}

}  // namespace pdc::daemon
