// Closes descriptors that clients sent, on a thread of its own: the last
// close of a file can block (a stalled network or FUSE file system a client
// controls), and the event loop must never wait for it (docs/security.md).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace pdc::daemon {

class fd_closer {
 public:
  /// Starts the thread; if that fails, close_later() closes on the caller's
  /// thread (logged once), which is what the daemon did before.
  fd_closer();
  /// Asks the thread to stop; it is detached, so a close stuck in the
  /// kernel cannot hold up shutdown.
  ~fd_closer();
  fd_closer(const fd_closer&) = delete;
  fd_closer& operator=(const fd_closer&) = delete;

  /// Queues `fds` to be closed. Any thread.
  void close_later(std::vector<int> fds);
  /// Descriptors queued and not yet closed.
  [[nodiscard]] std::size_t pending() const;

 private:
  struct shared_state {
    mutable std::mutex mu;
    std::condition_variable cv;
    std::vector<int> queue;   // guarded by mu
    std::size_t closing = 0;  // taken by the thread, not yet closed; guarded by mu
    bool stop = false;        // guarded by mu
  };
  static void run(const std::shared_ptr<shared_state>& st);

  std::shared_ptr<shared_state> state_ = std::make_shared<shared_state>();
  bool threaded_ = false;
};

}  // namespace pdc::daemon
