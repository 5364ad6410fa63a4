// A doorbell: where a sleeping worker waits, and the mark that says it
// sleeps, so a producer makes a system call only when the worker parked.
// The parking handshake is a Dekker pair (docs/tiers.md, "Waking a parked
// worker"): the worker stores `parked` then looks at its sources once more;
// a producer stores its work then loads `parked`. One of them sees the other.
//
// The worker sleeps in an epoll set that holds the doorbell's own eventfd
// (rung by the daemon's threads) and one eventfd per attachment it serves
// (rung by that attachment's client). A client's eventfd is never read or
// written by the daemon: it is watched edge-triggered, so a client that
// drains its counter, or makes its descriptor blocking, only loses its own
// wake-ups, and no daemon thread ever blocks on it (docs/security.md).
#pragma once

#include <atomic>
#include <cstdint>

namespace pdc::daemon {

class doorbell {
 public:
  /// Creates the eventfd and the epoll set; valid() is false if that failed.
  doorbell() noexcept;
  ~doorbell();
  doorbell(const doorbell&) = delete;
  doorbell& operator=(const doorbell&) = delete;

  [[nodiscard]] bool valid() const noexcept { return bell_fd_ >= 0 && epoll_fd_ >= 0; }
  /// The descriptor to wait on (an event loop registers it): readable when
  /// the bell or a watched client descriptor was rung.
  [[nodiscard]] int fd() const noexcept { return epoll_fd_; }

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

  /// Adds a client's eventfd (edge-triggered; never read). Any thread.
  /// False when the kernel refused it (no memory, the watch limit).
  bool watch(int client_fd) noexcept;
  /// Removes it again: before the descriptor is closed, since the client's
  /// duplicate would keep the registration alive. Any thread.
  void unwatch(int client_fd) noexcept;

  /// Owner: about to sleep. Then take the last look at every source.
  void mark_parked() noexcept {
    // SYNC: bell_parked — seq_cst store, the owner's half (see wake()).
    parked_.store(1, std::memory_order_seq_cst);
  }
  /// Owner: awake again.
  void clear_parked() noexcept { parked_.store(0, std::memory_order_relaxed); }
  /// Owner: sleeps until rung or `timeout_ns` passed, then drains what rang.
  void wait(std::uint64_t timeout_ns) noexcept;
  /// Owner: takes what rang without sleeping (after an event loop saw fd()
  /// readable).
  void drain() noexcept;

 private:
  void take(int timeout_ms) noexcept;

  int bell_fd_ = -1;
  int epoll_fd_ = -1;
  std::atomic<std::uint32_t> parked_{0};
};

}  // namespace pdc::daemon
