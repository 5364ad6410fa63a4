// Latency histogram with log-linear buckets: mergeable, fixed size, no allocation
// after construction. Not thread-safe: one writer; merge copies to read.
#pragma once

#include <array>
#include <atomic>
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

  /// The raw parts, to carry a histogram to another process (a kernel host's stats).
  [[nodiscard]] const std::array<std::uint64_t, k_bucket_count>& buckets() const noexcept { return buckets_; }
  [[nodiscard]] std::uint64_t sum() const noexcept { return sum_; }
  /// Adds `n` samples to bucket `index` (refused, false, when out of range);
  /// with add_extremes() rebuilds a histogram from another process's parts.
  bool add_bucket(std::size_t index, std::uint64_t n) noexcept;
  /// Folds the other side's min, max and sum in (after its buckets).
  void add_extremes(std::uint64_t min, std::uint64_t max, std::uint64_t sum) noexcept;

  /// Bucket holding `value` (exposed for tests).
  static std::size_t bucket_of(std::uint64_t value) noexcept;
  /// Smallest value that falls in bucket `index`.
  static std::uint64_t bucket_lower(std::size_t index) noexcept;

 private:
  friend class published_histogram;

  std::array<std::uint64_t, k_bucket_count> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  // Sum in long double would be slower; 2^64 ns is ~584 years of samples.
  std::uint64_t sum_ = 0;
};

/// A histogram with one writer and any number of concurrent readers: the
/// writer records with relaxed loads and stores (no read-modify-write, no
/// lock); a reader takes a snapshot. Counts in a snapshot taken while the
/// writer runs may lag by the samples in flight; the total is the sum of the
/// buckets read, so quantiles stay consistent.
class published_histogram {
 public:
  /// Adds `n` samples of `value_ns`. Writer thread only.
  void record(std::uint64_t value_ns, std::uint64_t n = 1) noexcept {
    bump(buckets_[histogram::bucket_of(value_ns)], n);
    bump(sum_, value_ns * n);
    if (value_ns > max_.load(std::memory_order_relaxed)) max_.store(value_ns, std::memory_order_relaxed);
    if (value_ns < min_.load(std::memory_order_relaxed)) min_.store(value_ns, std::memory_order_relaxed);
  }
  /// Adds what has been recorded so far to `out`. Any thread.
  void snapshot_into(histogram& out) const noexcept;

 private:
  static void bump(std::atomic<std::uint64_t>& cell, std::uint64_t n) noexcept {
    // Relaxed load + store: a single writer needs no read-modify-write.
    cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  std::array<std::atomic<std::uint64_t>, histogram::k_bucket_count> buckets_{};
  std::atomic<std::uint64_t> sum_{0};
  std::atomic<std::uint64_t> min_{UINT64_MAX};
  std::atomic<std::uint64_t> max_{0};
};

}  // namespace pdc
