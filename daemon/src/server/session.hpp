// One connected client: the transport of the control protocol. It reads
// packets (each verified before use), hands requests to dispatch, writes
// responses and deliveries through a bounded transmit queue with fd
// passing, and holds at most one sender blocked on a full kernel inbox
// (its socket is not read meanwhile, so the block reaches the client as
// ordinary socket backpressure).
#pragma once

#include <flatbuffers/flatbuffers.h>
#include <sys/socket.h>

#include <asio/generic/seq_packet_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pdc/proto/control.hpp"
#include "runtime/kernel.hpp"
#include "server/dispatch.hpp"

namespace pdc::daemon {

class control_server;

class session final : public request_port, public std::enable_shared_from_this<session> {
 public:
  using socket_type = asio::generic::seq_packet_protocol::socket;

  session(control_server& server, socket_type sock, std::uint64_t id, peer_credentials peer);
  ~session() override;

  void start() { read(); }
  /// Closes the socket, releases the session's attachments and tells the server (idempotent).
  void close();
  /// Queues one Delivery frame: ok, full when the client is not reading, peer_gone when closed.
  errc deliver(const std::string& kernel_id, const envelope& env, std::span<const std::byte> payload);

  // ---- request_port ----
  [[nodiscard]] std::uint64_t session_id() const noexcept override { return id_; }
  [[nodiscard]] const peer_credentials& peer() const noexcept override { return peer_; }
  void send(flatbuffers::DetachedBuffer frame, std::vector<int> fds = {}) override;
  void hold_send(std::shared_ptr<kernel> k, queued_message m, std::uint64_t rid, bool ack) override;
  void attached(std::uint64_t attachment_id, std::weak_ptr<kernel> k) override;
  bool detach(std::uint64_t attachment_id) override;
  [[nodiscard]] std::size_t attachment_count() const noexcept override { return attachments_.size(); }
  [[nodiscard]] std::string& pending_text() noexcept override { return pending_text_; }
  [[nodiscard]] std::weak_ptr<request_port> weak_port() override { return weak_from_this(); }

 private:
  struct pending_send {
    std::weak_ptr<kernel> target;
    queued_message message;
    std::uint64_t request_id = 0;
    bool ack = true;
    std::uint64_t generation = 0;
  };
  struct outgoing {
    flatbuffers::DetachedBuffer frame;
    std::vector<int> fds;  // passed with SCM_RIGHTS, closed once sent
  };

  /// Frames read per turn before the loop serves someone else.
  static constexpr std::size_t k_frames_per_turn = 32;

  void read();
  void on_readable(const asio::error_code& ec);
  void on_frame(std::size_t n, msghdr& msg);
  [[nodiscard]] bool peer_hung_up() const;
  void retry_pending(std::uint64_t generation);
  void on_block_timeout(std::uint64_t generation);
  void resume();
  errc send_frame(flatbuffers::DetachedBuffer frame, std::vector<int> fds);
  void flush();
  void arm_write();

  control_server& server_;
  socket_type sock_;
  std::uint64_t id_;
  peer_credentials peer_;
  std::vector<std::uint8_t> rx_;
  std::deque<outgoing> tx_;
  std::size_t buffer_limit_;  // bytes tx_ may hold (limits.session_buffer_bytes)
  std::size_t tx_bytes_ = 0;  // frame bytes in tx_
  std::map<std::uint64_t, std::weak_ptr<kernel>> attachments_;
  bool writing_ = false;
  bool reading_ = false;  // a wait for readability is pending
  bool tx_full_ = false;  // tx_bytes_ passed the limit: requests wait until the client reads
  bool closed_ = false;
  bool paused_ = false;
  std::optional<pending_send> pending_;
  std::uint64_t generation_ = 0;
  asio::steady_timer block_timer_;
  std::uint64_t dropped_deliveries_ = 0;
  std::string pending_text_;  // Prometheus text being read in pages
};

}  // namespace pdc::daemon
