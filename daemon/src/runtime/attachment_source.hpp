// The daemon's side of one attachment, as a kernel's agent serves it: the
// core daemon view (request ring in, reply ring out, the client's control
// line) plus who owns it and how the agent is getting on with it.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "pdc/core/attachment.hpp"

namespace pdc::daemon {

struct attachment_source {
  attachment_source(std::uint64_t attachment_id, std::uint64_t owner_session, attachment_daemon_view v, int wake,
                    int reply_wake = -1)
      : id(attachment_id), session_id(owner_session), view(std::move(v)), wake_fd(wake), reply_wake_fd(reply_wake) {
    // A client waiting in an event loop is woken through this socket.
    view.replies().set_park_socket(reply_wake_fd);
  }
  ~attachment_source() {
    if (wake_fd >= 0) ::close(wake_fd);
    if (reply_wake_fd >= 0) ::close(reply_wake_fd);
  }
  attachment_source(const attachment_source&) = delete;
  attachment_source& operator=(const attachment_source&) = delete;

  const std::uint64_t id;
  const std::uint64_t session_id;
  /// Ring views: used only by the thread of the agent serving the attachment.
  attachment_daemon_view view;
  /// The eventfd the client rings when it committed to a parked ring (the
  /// client holds a duplicate). The serving agent's doorbell watches it; the
  /// daemon never reads or writes it.
  const int wake_fd;
  /// The daemon's end of the attachment's wake-up socket pair (-1: none).
  /// The reply ring's producer sends a byte on it when the client parked
  /// with k_parked_socket (it waits in an event loop on the other end). Shut
  /// for reading: what a client writes to its end fails, nothing piles up.
  const int reply_wake_fd;
  /// Set by the control thread on detach; the agent then lets go of it.
  std::atomic<bool> detached{false};
  /// Agent thread: the client closed its side, or wrote a corrupt ring.
  bool broken = false;
  /// Agent thread: a malformed record was logged already (one line per attachment).
  bool malformed_logged = false;
  /// Agent thread: replies reserved in the reply ring, not yet committed.
  bool replies_pending = false;
};

}  // namespace pdc::daemon
