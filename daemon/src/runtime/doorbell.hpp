// A doorbell: the eventfd a sleeping worker waits on, and the mark that says
// it sleeps, so a producer makes a system call only when the worker parked.
// The parking handshake is a Dekker pair (docs/tiers.md, "Waking a parked
// worker"): the worker stores `parked` then looks at its sources once more;
// a producer stores its work then loads `parked`. One of them sees the other.
#pragma once

#include <atomic>
#include <cstdint>

namespace pdc::daemon {

class doorbell {
 public:
  /// Creates the eventfd (non-blocking); valid() is false if that failed.
  doorbell() noexcept;
  ~doorbell();
  doorbell(const doorbell&) = delete;
  doorbell& operator=(const doorbell&) = delete;

  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  [[nodiscard]] int fd() const noexcept { return fd_; }

  /// Rings the bell if its owner is parked (or about to be). Any thread,
  /// after a seq_cst store of the work it announces.
  void wake() noexcept {
    // SYNC: bell_parked — seq_cst load after the waker's seq_cst store of its
    // work; pairs with the owner's seq_cst store in mark_parked() before its
    // last look (Dekker): one of the two sees the other.
    if (parked_.load(std::memory_order_seq_cst) != 0) ring();
  }
  /// Rings unconditionally.
  void ring() noexcept;

  /// Owner: about to sleep. Then take the last look at every source.
  void mark_parked() noexcept {
    // SYNC: bell_parked — seq_cst store, the owner's half (see wake()).
    parked_.store(1, std::memory_order_seq_cst);
  }
  /// Owner: awake again.
  void clear_parked() noexcept { parked_.store(0, std::memory_order_relaxed); }
  /// Owner: sleeps until rung or `timeout_ns` passed, then drains the counter.
  void wait(std::uint64_t timeout_ns) noexcept;
  /// Owner: empties the counter (after an event loop saw the fd readable).
  void drain() noexcept;

 private:
  int fd_ = -1;
  std::atomic<std::uint32_t> parked_{0};
};

}  // namespace pdc::daemon
