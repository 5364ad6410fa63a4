// An attachment: a client's shared-memory data path to one kernel. One
// segment holds the request ring (client -> kernel), the reply ring
// (kernel -> client) and a control line (what the client counts and asks
// for under the kernel's backpressure policy). As iceoryx does for its
// ports, the shared part is plain data (attachment_control plus the two
// ring_controls) and each side works through its own view: the daemon's
// (consumes requests, produces replies, owns the segment) and the client's
// (produces requests, consumes replies). docs/ring.md has the layout.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "pdc/core/result.hpp"
#include "pdc/core/segment.hpp"
#include "pdc/core/spsc_ring.hpp"

namespace pdc {

/// Ring indices inside an attachment segment (decided here and nowhere else).
inline constexpr std::uint32_t k_attachment_request_ring = 0;
inline constexpr std::uint32_t k_attachment_reply_ring = 1;

/// The attachment's control line, in the segment's aux area. Only the
/// client writes it; the daemon reads it as untrusted input.
struct attachment_control {
  /// Requests the client refused on a full request ring (reject, or a block that timed out).
  alignas(k_ring_line) std::atomic<std::uint64_t> rejected;
  /// Requests the client dropped on a full request ring (drop_newest).
  std::atomic<std::uint64_t> dropped;
  /// Running count of drop_oldest asks: "drop your oldest request for me".
  std::atomic<std::uint64_t> shed_requests;
};
static_assert(sizeof(attachment_control) == k_ring_line);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

/// Sizes of an attachment's rings.
struct attachment_geometry {
  std::uint64_t request_ring_bytes = 1 << 20;  ///< Power of two.
  std::uint64_t reply_ring_bytes = 1 << 20;    ///< Power of two.
  std::uint32_t max_record_bytes = 0;          ///< Largest record (envelope + payload), <= each ring / 2.
};

/// The daemon's side: owns the segment, consumes requests, produces replies.
/// Its ring views are used by one thread at a time (the agent serving it).
class attachment_daemon_view {
 public:
  /// Creates the segment (sealed memfd named `name` for debugging) and the views.
  static result<attachment_daemon_view> create(const std::string& name, const attachment_geometry& g,
                                               std::uint64_t attachment_id);
  /// Views an existing segment made by create() (a kernel host process, say).
  static result<attachment_daemon_view> adopt(segment seg);

  [[nodiscard]] const segment& seg() const noexcept { return seg_; }
  [[nodiscard]] ring_consumer& requests() noexcept { return requests_; }
  [[nodiscard]] ring_producer& replies() noexcept { return replies_; }
  /// Shared indices of the request ring (for depth estimates from other threads).
  [[nodiscard]] const ring_control& request_control() const noexcept {
    return *seg_.control(k_attachment_request_ring);
  }

  /// drop_oldest asks that arrived since the last call (the client's running
  /// count moved forward by that much; a count that moved back asks for nothing).
  std::uint64_t take_shed_requests() noexcept;
  /// True when the client asked for a shed that take_shed_requests has not returned.
  [[nodiscard]] bool shed_pending() const noexcept;
  /// The client's counts (untrusted: they are statistics, shown as the client reports them).
  [[nodiscard]] std::uint64_t client_rejected() const noexcept;
  [[nodiscard]] std::uint64_t client_dropped() const noexcept;
  /// Closes both rings with `reason` (1: closed, else an errc value such as terminated).
  void close(std::uint32_t reason) noexcept;
  /// Takes over the rings' daemon ends from the shared indices, after another
  /// process that served them (a kernel host) died: corrupt_segment when the
  /// indices cannot be right. Only while nobody else serves the attachment.
  result<void> resync();
  /// Consumes every request the ring holds now (at most one ring's worth);
  /// returns how many. Only while nobody else serves the attachment.
  std::size_t discard_requests() noexcept;

 private:
  attachment_daemon_view(segment seg, attachment_control* ctl) noexcept;
  static result<void> check_indices(const segment& seg);

  segment seg_;
  attachment_control* ctl_ = nullptr;
  ring_consumer requests_;
  ring_producer replies_;
  std::uint64_t sheds_seen_ = 0;
};

/// The client's side: produces requests, consumes replies.
class attachment_client_view {
 public:
  /// Maps the segment pdcd passed (takes `fd`) and checks that it is an attachment.
  static result<attachment_client_view> open(int fd);

  [[nodiscard]] const segment& seg() const noexcept { return seg_; }
  [[nodiscard]] ring_producer& requests() noexcept { return requests_; }
  [[nodiscard]] ring_consumer& replies() noexcept { return replies_; }
  /// Largest record the request ring takes (envelope + payload).
  [[nodiscard]] std::uint32_t max_record_bytes() const noexcept { return requests_.max_record_bytes(); }

  /// Counts a request refused on a full ring (relaxed: a statistic).
  void count_rejected() noexcept;
  /// Counts a request dropped on a full ring.
  void count_dropped() noexcept;
  /// Asks the kernel to drop its oldest request, and wakes it if parked.
  void request_shed() noexcept;
  /// Closes both rings with `reason`.
  void close(std::uint32_t reason) noexcept;

 private:
  attachment_client_view(segment seg, attachment_control* ctl) noexcept;

  segment seg_;
  attachment_control* ctl_ = nullptr;
  ring_producer requests_;
  ring_consumer replies_;
};

}  // namespace pdc
