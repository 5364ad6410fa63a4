// What client::attach hands to the attachment it opens, and the Detach call
// an attachment makes through its client's session.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "pdc/client.hpp"
#include "pdc/core/clock.hpp"
#include "unique_fd.hpp"

namespace pdc::detail {

/// An AttachReply and the descriptors that came with it.
struct attach_parts {
  std::uint64_t attachment_id = 0;
  std::uint64_t segment_bytes = 0;                                 ///< As announced; 0 = not checked.
  std::uint32_t max_message_bytes = 0;                             ///< Payload limit announced; 0 = the ring's.
  backpressure_policy kernel_policy = backpressure_policy::block;  ///< The kernel's policy for a full ring.
  std::uint32_t block_timeout_ms = 5000;                           ///< The kernel's block wait limit.
  std::string kernel_id;
  unique_fd segment_fd;         ///< The sealed memfd (fds[0]).
  unique_fd doorbell_fd;        ///< The kernel's eventfd (fds[1]).
  unique_fd wake_socket;        ///< The reply ring's wake-up socket (fds[2]; may be missing).
  unique_fd hangup_probe;       ///< A duplicate of the session's socket.
  std::weak_ptr<session> link;  ///< The session, for Detach (never owned).
  attach_options options;
  /// attach_options::reattach: attaches again to the same kernel through the
  /// client, waiting until the deadline as its reconnect policy allows.
  std::function<result<attachment>(deadline)> reattach;
};

/// Maps and checks the segment and builds the attachment (defined with it).
result<attachment> open_attachment(attach_parts&& parts);

/// Sends Detach{attachment_id} and waits (bounded) for its answer. An
/// attachment the daemon no longer knows (errc::not_found) counts as detached.
result<void> send_detach(session& s, std::uint64_t attachment_id);

}  // namespace pdc::detail
