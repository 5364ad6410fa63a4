#include "pdc/core/kinds.hpp"

#include <string>

namespace pdc {

std::string_view to_string(kernel_tier t) noexcept {
  switch (t) {
    case kernel_tier::async:
      return "async";
    case kernel_tier::threaded:
      return "threaded";
    case kernel_tier::spin:
      return "spin";
    case kernel_tier::pool:
      return "pool";
    case kernel_tier::cuda:
      return "cuda";
  }
  return "unknown";
}

std::string_view to_string(backpressure_policy p) noexcept {
  switch (p) {
    case backpressure_policy::block:
      return "block";
    case backpressure_policy::reject:
      return "reject";
    case backpressure_policy::drop_oldest:
      return "drop_oldest";
    case backpressure_policy::drop_newest:
      return "drop_newest";
  }
  return "unknown";
}

std::string_view to_string(kernel_state s) noexcept {
  switch (s) {
    case kernel_state::created:
      return "created";
    case kernel_state::launched:
      return "launched";
    case kernel_state::active:
      return "active";
    case kernel_state::deactivated:
      return "deactivated";
    case kernel_state::terminating:
      return "terminating";
    case kernel_state::terminated:
      return "terminated";
    case kernel_state::restarting:
      return "restarting";
    case kernel_state::failed:
      return "failed";
  }
  return "unknown";
}

std::string_view to_string(kernel_isolation i) noexcept {
  switch (i) {
    case kernel_isolation::none:
      return "none";
    case kernel_isolation::process:
      return "process";
  }
  return "unknown";
}

namespace {

// "a, b or c" of every name in `all`.
template <typename E, std::size_t N>
std::string choices(const E (&all)[N]) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i) {
    if (i != 0) out += i + 1 == N ? " or " : ", ";
    out += to_string(all[i]);
  }
  return out;
}

template <typename E, std::size_t N>
result<E> parse_in(const E (&all)[N], std::string_view name, const char* what) {
  std::string norm(name);
  for (auto& c : norm) {
    if (c == '-') c = '_';
  }
  for (const E e : all) {
    if (to_string(e) == norm) return e;
  }
  return make_error(errc::invalid_argument,
                    "unknown " + std::string(what) + " '" + std::string(name) + "' (expected " + choices(all) + ")");
}

template <typename E, std::size_t N>
error unknown_value(const E (&all)[N], std::uint32_t v, const char* what) {
  return make_error(errc::invalid_argument, "unknown " + std::string(what) + " value " + std::to_string(v) +
                                                " (this build knows " + choices(all) + ")");
}

}  // namespace

result<kernel_tier> parse_tier(std::string_view name) {
  return parse_in(k_all_tiers, name, "tier");
}
result<backpressure_policy> parse_backpressure(std::string_view name) {
  return parse_in(k_all_backpressure_policies, name, "backpressure policy");
}
result<kernel_state> parse_state(std::string_view name) {
  return parse_in(k_all_kernel_states, name, "kernel state");
}
result<kernel_isolation> parse_isolation(std::string_view name) {
  return parse_in(k_all_isolations, name, "isolation");
}
// Switches without default: a new enumerator that is not listed is a
// compile warning (an error in CI), and an unknown value falls through to
// the refusal.
result<kernel_tier> tier_from_value(std::uint32_t v) {
  const auto t = static_cast<kernel_tier>(v);
  if (v <= 0xff) {
    switch (t) {
      case kernel_tier::async:
      case kernel_tier::threaded:
      case kernel_tier::spin:
      case kernel_tier::pool:
      case kernel_tier::cuda:
        return t;
    }
  }
  return unknown_value(k_all_tiers, v, "tier");
}

result<backpressure_policy> backpressure_from_value(std::uint32_t v) {
  const auto p = static_cast<backpressure_policy>(v);
  if (v <= 0xff) {
    switch (p) {
      case backpressure_policy::block:
      case backpressure_policy::reject:
      case backpressure_policy::drop_oldest:
      case backpressure_policy::drop_newest:
        return p;
    }
  }
  return unknown_value(k_all_backpressure_policies, v, "backpressure policy");
}

result<kernel_state> state_from_value(std::uint32_t v) {
  const auto s = static_cast<kernel_state>(v);
  if (v <= 0xff) {
    switch (s) {
      case kernel_state::created:
      case kernel_state::launched:
      case kernel_state::active:
      case kernel_state::deactivated:
      case kernel_state::terminating:
      case kernel_state::terminated:
      case kernel_state::restarting:
      case kernel_state::failed:
        return s;
    }
  }
  return unknown_value(k_all_kernel_states, v, "kernel state");
}

result<kernel_isolation> isolation_from_value(std::uint32_t v) {
  const auto i = static_cast<kernel_isolation>(v);
  if (v <= 0xff) {
    switch (i) {
      case kernel_isolation::none:
      case kernel_isolation::process:
        return i;
    }
  }
  return unknown_value(k_all_isolations, v, "isolation");
}

}  // namespace pdc
