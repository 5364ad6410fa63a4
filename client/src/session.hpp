// The transport under pdc::client: one SOCK_SEQPACKET connection to pdcd,
// request/response matching, and the bounded buffer of deliveries.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "pdc/client.hpp"
#include "pdc/core/clock.hpp"
#include "pdc/core/result.hpp"
#include "pdc/proto/control.hpp"
#include "unique_fd.hpp"

namespace pdc::detail {

/// Most file descriptors read with one packet; the kernel closes any beyond
/// what fits (the packet then has MSG_CTRUNC and keeps none).
inline constexpr std::size_t k_max_passed_fds = 4;

/// File descriptors that arrived with one packet (SCM_RIGHTS), owned: those
/// nobody takes are closed with this object.
struct passed_fds {
  std::array<unique_fd, k_max_passed_fds> fds;
  std::size_t count = 0;
};

/// A verified Response with code 0, kept together with the packet that holds
/// it and the file descriptors that came with it (AttachReply only).
class response_packet {
 public:
  explicit response_packet(std::vector<std::uint8_t> bytes, std::vector<unique_fd> fds = {}) noexcept
      : bytes_(std::move(bytes)), fds_(std::move(fds)) {}
  /// The Response table (valid while this object lives).
  [[nodiscard]] const wire::Response& get() const noexcept;
  /// Hands over the file descriptors that came with the packet.
  std::vector<unique_fd> take_fds() noexcept { return std::move(fds_); }

 private:
  std::vector<std::uint8_t> bytes_;
  std::vector<unique_fd> fds_;
};

/// Blocking request/response over a connected socket; buffers deliveries that
/// arrive while it waits. Not thread-safe (see pdc::client).
class session {
 public:
  /// Takes ownership of `fd` (a connected SOCK_SEQPACKET socket).
  explicit session(int fd) noexcept;
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;
  session(session&&) = delete;
  session& operator=(session&&) = delete;

  /// Id for the next Request (increasing from 1).
  std::uint64_t next_request_id() noexcept { return ++last_request_id_; }
  /// message_id for the next message sent (increasing from 1).
  std::uint64_t next_message_id() noexcept { return ++last_message_id_; }

  /// Sends the finished Request `packet` (id `request_id`) and waits until its
  /// Response arrives or `dl` passes. A non-zero code becomes an error.
  result<response_packet> call(std::span<const std::uint8_t> packet, std::uint64_t request_id, deadline dl);

  /// Sends a Send request with ack=false carrying `message_id`; a later
  /// failure Response is kept for take_send_failure().
  result<void> post_unacked(std::span<const std::uint8_t> packet, std::uint64_t request_id, std::uint64_t message_id,
                            deadline dl);

  /// Sends the Send request `packet` (ack or not) and waits for the Delivery
  /// that replies to `message_id`, leaving other deliveries buffered.
  result<received_message> request(std::span<const std::uint8_t> packet, std::uint64_t request_id,
                                   std::uint64_t message_id, bool ack, deadline dl);

  /// The oldest buffered delivery, waiting until `dl` for one; errc::timeout if none.
  result<received_message> next_delivery(deadline dl);

  /// Takes over what `old` (a session that broke) still holds for the
  /// application: buffered deliveries (first in line) and send failures.
  void carry_over(session& old);

  /// Oldest unreported ack=false send failure.
  std::optional<send_failure> take_send_failure();

  /// Sets the largest packet accepted from the daemon (payload limit + frame overhead).
  void set_max_message_bytes(std::uint32_t bytes);
  /// Upper bound on buffered deliveries (at least 1); drops the oldest beyond it.
  void set_delivery_limit(std::size_t messages) noexcept;
  [[nodiscard]] std::size_t buffered() const noexcept { return deliveries_.size(); }
  [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_; }
  /// False once the connection broke.
  [[nodiscard]] bool healthy() const noexcept { return !broken_.has_value(); }
  /// Why the connection broke (set once healthy() is false).
  [[nodiscard]] const std::optional<error>& broken() const noexcept { return broken_; }
  /// True once pdcd said it is stopping (a Goodbye), even while still connected.
  [[nodiscard]] bool stopping() const noexcept { return goodbye_.has_value(); }
  /// True when the last packet could not be sent because the connection had
  /// already ended (EPIPE): pdcd never saw it, so it is safe to send again.
  [[nodiscard]] bool last_send_refused() const noexcept { return last_send_refused_; }
  /// The connected socket (-1 once broken); attachments keep a duplicate to notice a hang-up.
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  result<void> send_packet(std::span<const std::uint8_t> packet, deadline dl);
  result<void> read_one(deadline dl);
  result<void> read_available();
  result<void> dispatch(std::size_t length, passed_fds& fds);
  result<void> dispatch_response(const wire::Response& response, std::size_t length, passed_fds& fds);
  result<void> dispatch_delivery(const wire::Delivery& delivery);
  void note_unacked(std::uint64_t request_id, std::uint64_t message_id);
  error fail(error e);
  [[nodiscard]] error gone_error() const;

  int fd_;
  std::vector<std::uint8_t> rx_;
  std::uint64_t last_request_id_ = 0;
  std::uint64_t last_message_id_ = 0;
  std::optional<error> broken_;
  std::optional<error> goodbye_;  // pdcd said it is stopping
  bool last_send_refused_ = false;

  // What the one in-flight blocking call waits for (calls never nest).
  std::uint64_t awaited_response_id_ = 0;
  std::optional<result<response_packet>> response_;
  std::uint64_t awaited_reply_id_ = 0;
  std::optional<result<received_message>> reply_;

  std::deque<received_message> deliveries_;
  std::size_t delivery_limit_ = k_default_delivery_limit;
  std::uint64_t dropped_ = 0;
  std::deque<std::pair<std::uint64_t, std::uint64_t>> unacked_;  // (request id, message id), bounded
  std::deque<send_failure> send_failures_;                       // bounded
};

}  // namespace pdc::detail
