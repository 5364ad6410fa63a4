#include "pdc/core/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace pdc {

std::size_t histogram::bucket_of(std::uint64_t value) noexcept {
  constexpr std::uint64_t k_clamp = (1ULL << k_max_bits) - 1;
  value = std::min(value, k_clamp);
  if (value < k_sub_count) return static_cast<std::size_t>(value);
  const auto msb = static_cast<unsigned>(63 - std::countl_zero(value));
  const unsigned shift = msb - k_sub_bits;
  const std::uint64_t sub = (value >> shift) & (k_sub_count - 1);
  return static_cast<std::size_t>((shift + 1) * k_sub_count + sub);
}

std::uint64_t histogram::bucket_lower(std::size_t index) noexcept {
  if (index < k_sub_count) return index;
  const std::uint64_t group = index / k_sub_count;  // = shift + 1
  const std::uint64_t sub = index % k_sub_count;
  return (k_sub_count + sub) << (group - 1);
}

void histogram::record(std::uint64_t value_ns) noexcept {
  ++buckets_[bucket_of(value_ns)];
  ++count_;
  sum_ += value_ns;
  min_ = std::min(min_, value_ns);
  max_ = std::max(max_, value_ns);
}

void histogram::merge(const histogram& other) noexcept {
  for (std::size_t i = 0; i < k_bucket_count; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void histogram::reset() noexcept {
  *this = histogram{};
}

double histogram::mean() const noexcept {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_);
}

std::uint64_t histogram::quantile(double q) const noexcept {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // Rank of the sample wanted, 1-based: the smallest rank r with r/count >= q.
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < k_bucket_count; ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      const std::uint64_t lo = bucket_lower(i);
      const std::uint64_t hi = i + 1 < k_bucket_count ? bucket_lower(i + 1) : lo + 1;
      const std::uint64_t mid = lo + (hi - lo) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

void published_histogram::snapshot_into(histogram& out) const noexcept {
  std::uint64_t count = 0;
  for (std::size_t i = 0; i < histogram::k_bucket_count; ++i) {
    const std::uint64_t n = buckets_[i].load(std::memory_order_relaxed);
    out.buckets_[i] += n;
    count += n;
  }
  if (count == 0) return;
  out.count_ += count;
  out.sum_ += sum_.load(std::memory_order_relaxed);
  out.min_ = std::min(out.min_, min_.load(std::memory_order_relaxed));
  out.max_ = std::max(out.max_, max_.load(std::memory_order_relaxed));
}

bool histogram::add_bucket(std::size_t index, std::uint64_t n) noexcept {
  if (index >= k_bucket_count) return false;
  // Saturating: the parts may come from a process that wrote garbage.
  buckets_[index] = n > UINT64_MAX - buckets_[index] ? UINT64_MAX : buckets_[index] + n;
  count_ = n > UINT64_MAX - count_ ? UINT64_MAX : count_ + n;
  return true;
}

void histogram::add_extremes(std::uint64_t min, std::uint64_t max, std::uint64_t sum) noexcept {
  if (count_ == 0) return;
  if (min < min_) min_ = min;
  if (max > max_) max_ = max;
  sum_ = sum > UINT64_MAX - sum_ ? UINT64_MAX : sum_ + sum;
}

}  // namespace pdc
