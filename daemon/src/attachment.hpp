// The daemon's side of one attachment: a client's shared-memory data path to
// a kernel. The segment holds ring 0 (requests: client produces, kernel
// consumes) and ring 1 (replies: kernel produces, client consumes).
#pragma once

#include <atomic>
#include <cstdint>

#include "pdc/core/segment.hpp"

namespace pdc::daemon {

/// reply_to values with this bit name an attachment; without it, a session.
inline constexpr std::uint64_t k_attachment_tag = 1ULL << 63;

struct attachment_source {
  attachment_source(std::uint64_t attachment_id, std::uint64_t owner_session, segment s)
      : id(attachment_id),
        session_id(owner_session),
        seg(std::move(s)),
        requests(seg.consumer(0)),
        replies(seg.producer(1)) {}

  const std::uint64_t id;
  const std::uint64_t session_id;
  segment seg;
  // Used only by the thread of the worker that owns this attachment.
  ring_consumer requests;
  ring_producer replies;
  /// Set by the control thread on detach; the worker then drops the source.
  std::atomic<bool> detached{false};
  /// Set by the worker when the client wrote a malformed record.
  bool broken = false;
  /// drop_oldest: shed requests already served (worker thread).
  std::uint64_t shed_done = 0;
};

}  // namespace pdc::daemon
