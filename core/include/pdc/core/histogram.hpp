// Latency histogram with log-linear buckets: mergeable, fixed size, no allocation
// after construction. Not thread-safe: one writer; merge copies to read.
#pragma once

#include <array>
#include <cstdint>

namespace pdc {

/// Records non-negative values (nanoseconds) with about 3% relative error.
/// Values below 32 are exact; above that each power of two is split into 32
/// linear sub-buckets. Values above 2^44 ns (~4.9 hours) are clamped.
class histogram {
 public:
  static constexpr unsigned k_sub_bits = 5;
  static constexpr std::uint64_t k_sub_count = 1ULL << k_sub_bits;
  static constexpr unsigned k_max_bits = 44;
  static constexpr std::size_t k_bucket_count = (k_max_bits - k_sub_bits + 1) * k_sub_count;

  /// Adds one sample. O(1), no allocation.
  void record(std::uint64_t value_ns) noexcept;
  /// Adds every sample of `other` to this histogram.
  void merge(const histogram& other) noexcept;
  /// Forgets every sample.
  void reset() noexcept;

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  [[nodiscard]] double mean() const noexcept;
  /// Value at quantile q in [0, 1] (e.g. 0.99), within bucket precision;
  /// never outside [min, max]. 0 when empty.
  [[nodiscard]] std::uint64_t quantile(double q) const noexcept;
  [[nodiscard]] std::uint64_t p50() const noexcept { return quantile(0.50); }
  [[nodiscard]] std::uint64_t p90() const noexcept { return quantile(0.90); }
  [[nodiscard]] std::uint64_t p95() const noexcept { return quantile(0.95); }
  [[nodiscard]] std::uint64_t p99() const noexcept { return quantile(0.99); }
  [[nodiscard]] std::uint64_t p999() const noexcept { return quantile(0.999); }

  /// Bucket holding `value` (exposed for tests).
  static std::size_t bucket_of(std::uint64_t value) noexcept;
  /// Smallest value that falls in bucket `index`.
  static std::uint64_t bucket_lower(std::size_t index) noexcept;

 private:
  std::array<std::uint64_t, k_bucket_count> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  // Sum in long double would be slower; 2^64 ns is ~584 years of samples.
  std::uint64_t sum_ = 0;
};

}  // namespace pdc
