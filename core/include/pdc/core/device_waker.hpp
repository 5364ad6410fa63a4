// The host helper of the cuda tier (docs/cuda.md, "Waking clients"): a GPU
// writes reply rings but cannot wake a futex or write a socket, so one
// thread per GPU watches the reply rings a device produces into and wakes
// the clients parked on them. A client that spins needs no help; one that
// parks is woken within about one polling interval of its reply.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "pdc/core/spsc_ring.hpp"

namespace pdc {

class device_waker {
 public:
  /// Starts the thread; it looks at every ring once per `interval` while a
  /// client is parked on one and some ring moved (or a client parked)
  /// within `hot`, and once per `quiet` otherwise. A client that parks is
  /// noticed within `quiet` and then woken within `interval` of a reply
  /// that comes within `hot`; one that waits on a silent kernel for longer
  /// costs the host a look per `quiet`, not a spin.
  explicit device_waker(std::chrono::microseconds interval = std::chrono::microseconds(20),
                        std::chrono::microseconds quiet = std::chrono::microseconds(1000),
                        std::chrono::microseconds hot = std::chrono::microseconds(10'000));
  ~device_waker();
  device_waker(const device_waker&) = delete;
  device_waker& operator=(const device_waker&) = delete;

  /// Watches the reply ring `view` (the host's producer view of a ring the
  /// device produces into: only its wake path is used, never its indices).
  /// The view must outlive remove(). Returns a handle for remove().
  std::uint64_t add(ring_producer* view);
  /// Stops watching; once it returns, the thread no longer touches the view.
  void remove(std::uint64_t handle);

  struct stats {
    std::uint64_t rounds = 0;  ///< Looks at every ring.
    std::uint64_t wakes = 0;   ///< Wake-ups sent to parked clients.
    std::uint64_t cpu_ns = 0;  ///< CPU time the thread has used.
  };
  [[nodiscard]] stats snapshot() const noexcept;

 private:
  struct watched {
    std::uint64_t handle;
    ring_producer* view;
    std::uint64_t last_write;  // the write index last seen
    bool was_parked;           // its client was parked at the last look
  };
  void run();

  std::chrono::microseconds interval_;
  std::chrono::microseconds quiet_;
  std::chrono::microseconds hot_;
  mutable std::mutex mu_;  // rings_, next_
  std::vector<watched> rings_;
  std::uint64_t next_ = 1;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> rounds_{0}, wakes_{0}, cpu_ns_{0};
  std::thread thread_;
};

}  // namespace pdc
