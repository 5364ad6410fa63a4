// Helpers shared by pdc tests: waiting on conditions with a deadline (tests
// never sleep to "let things settle") and sanitizer-aware sizes.
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>

namespace pdc::test {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool k_sanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
inline constexpr bool k_sanitized = true;
#else
inline constexpr bool k_sanitized = false;
#endif
#else
inline constexpr bool k_sanitized = false;
#endif

/// `full` normally; a tenth under sanitizers (they slow code 5-20x).
constexpr std::uint64_t scaled(std::uint64_t full) {
  return k_sanitized ? full / 10 : full;
}

/// Polls `cond` until true or `timeout` passes; returns its last value.
template <typename Cond>
bool wait_until(Cond&& cond, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= until) return cond();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

}  // namespace pdc::test
