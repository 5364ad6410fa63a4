// Names of libpdc's enums, as printed by pdcctl and accepted on its command line.
#include <array>
#include <utility>

#include "pdc/client.hpp"

namespace pdc {

namespace {
constexpr std::array<std::pair<kernel_tier, std::string_view>, 5> k_tiers{{
    {kernel_tier::async, "async"},
    {kernel_tier::threaded, "threaded"},
    {kernel_tier::spin, "spin"},
    {kernel_tier::pool, "pool"},
    {kernel_tier::cuda, "cuda"},
}};

constexpr std::array<std::pair<backpressure_policy, std::string_view>, 4> k_policies{{
    {backpressure_policy::block, "block"},
    {backpressure_policy::reject, "reject"},
    {backpressure_policy::drop_oldest, "drop_oldest"},
    {backpressure_policy::drop_newest, "drop_newest"},
}};

constexpr std::array<std::pair<kernel_state, std::string_view>, 6> k_states{{
    {kernel_state::created, "created"},
    {kernel_state::launched, "launched"},
    {kernel_state::active, "active"},
    {kernel_state::deactivated, "deactivated"},
    {kernel_state::terminating, "terminating"},
    {kernel_state::terminated, "terminated"},
}};

template <typename E, std::size_t N>
std::string_view name_in(const std::array<std::pair<E, std::string_view>, N>& table, E value) noexcept {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return "unknown";
}

template <typename E, std::size_t N>
std::optional<E> value_in(const std::array<std::pair<E, std::string_view>, N>& table, std::string_view name) noexcept {
  for (const auto& [v, n] : table) {
    if (n == name) return v;
  }
  return std::nullopt;
}
}  // namespace

std::string_view to_string(kernel_tier t) noexcept {
  return name_in(k_tiers, t);
}
std::string_view to_string(backpressure_policy b) noexcept {
  return name_in(k_policies, b);
}
std::string_view to_string(kernel_state s) noexcept {
  return name_in(k_states, s);
}
std::optional<kernel_tier> parse_tier(std::string_view name) noexcept {
  return value_in(k_tiers, name);
}
std::optional<backpressure_policy> parse_backpressure(std::string_view name) noexcept {
  return value_in(k_policies, name);
}

}  // namespace pdc
