// A counter with one writer and any number of readers: the writer adds with
// a relaxed load and store (no read-modify-write, no lock prefix, no shared
// line bounced between cores), readers load it relaxed. For statistics a
// thread keeps on its own cache lines and another thread reports.
#pragma once

#include <atomic>
#include <cstdint>

namespace pdc {

class published_counter {
 public:
  /// Adds `n`. The one writer thread only.
  void add(std::uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  /// The value now (any thread; relaxed: a statistic orders nothing).
  [[nodiscard]] std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

}  // namespace pdc
