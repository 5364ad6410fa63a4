// Monotonic clock helpers (nanoseconds), shared by benchmarks, envelopes and metrics.
#pragma once

#include <cstdint>
#include <ctime>

namespace pdc {

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC, comparable across
/// processes on one machine). Thread-safe; ~20 ns through the vDSO.
inline std::uint64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

/// A deadline on the monotonic clock; `never()` does not expire.
class deadline {
 public:
  /// Expires `timeout_ns` from now; a negative timeout means never.
  static deadline after_ns(std::int64_t timeout_ns) noexcept {
    if (timeout_ns < 0) return never();
    return deadline(now_ns() + static_cast<std::uint64_t>(timeout_ns));
  }
  static deadline never() noexcept { return deadline(UINT64_MAX); }

  [[nodiscard]] bool expired() const noexcept { return at_ns_ != UINT64_MAX && now_ns() >= at_ns_; }
  [[nodiscard]] bool is_never() const noexcept { return at_ns_ == UINT64_MAX; }
  /// Nanoseconds left (0 once expired; UINT64_MAX for never).
  [[nodiscard]] std::uint64_t remaining_ns() const noexcept {
    if (is_never()) return UINT64_MAX;
    const auto now = now_ns();
    return now >= at_ns_ ? 0 : at_ns_ - now;
  }
  [[nodiscard]] std::uint64_t at_ns() const noexcept { return at_ns_; }

 private:
  explicit deadline(std::uint64_t at) noexcept : at_ns_(at) {}
  std::uint64_t at_ns_;
};

}  // namespace pdc
