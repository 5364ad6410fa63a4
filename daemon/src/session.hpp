// One connected client: reads requests, dispatches them to the registry,
// writes responses and deliveries (bounded), and holds at most one sender
// blocked on a full kernel queue (its socket is not read meanwhile, so the
// block reaches the client as ordinary socket backpressure).
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <asio/generic/seq_packet_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kernel.hpp"
#include "pdc/proto/control.hpp"

namespace pdc::daemon {

class control_server;

class session : public std::enable_shared_from_this<session> {
 public:
  using socket_type = asio::generic::seq_packet_protocol::socket;

  session(control_server& server, socket_type sock, std::uint64_t id);
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }

  void start() { read(); }
  /// Closes the socket and tells the server (idempotent).
  void close();
  /// Queues one Delivery frame; full when the client is not reading.
  errc deliver(const std::string& kernel_id, const envelope& env, std::span<const std::byte> payload);

 private:
  struct pending_send {
    std::weak_ptr<kernel> target;
    queued_message message;
    std::uint64_t request_id = 0;
    bool ack = true;
    std::uint64_t generation = 0;
  };

  void read();
  void on_read(const asio::error_code& ec, std::size_t n);
  bool peer_hung_up() const;
  void handle(const wire::Request& req);
  void handle_send(std::uint64_t rid, const wire::Send& send);
  void finish_offer(std::uint64_t rid, bool ack, kernel& k, offer_result r, std::uint64_t message_id);
  void retry_pending(std::uint64_t generation);
  void on_block_timeout(std::uint64_t generation);
  void resume();

  // Responses.
  void respond(std::uint64_t rid, errc code, const std::string& message = {});
  void respond(std::uint64_t rid, const error& e) { respond(rid, e.code, e.message); }
  template <typename BodyFn>
  void respond_with(std::uint64_t rid, BodyFn&& body);
  errc send_frame(flatbuffers::DetachedBuffer frame, std::vector<int> fds = {});
  void handle_attach(std::uint64_t rid, const wire::Attach& a);
  void handle_detach(std::uint64_t rid, const wire::Detach& d);
  void flush();
  void arm_write();

  control_server& server_;
  socket_type sock_;
  std::uint64_t id_;
  std::vector<std::uint8_t> rx_;
  asio::socket_base::message_flags rx_flags_ = 0;
  struct outgoing {
    flatbuffers::DetachedBuffer frame;
    std::vector<int> fds;  // passed with SCM_RIGHTS, closed once sent
  };
  std::deque<outgoing> tx_;
  std::map<std::uint64_t, std::weak_ptr<kernel>> attachments_;
  bool writing_ = false;
  bool closed_ = false;
  bool paused_ = false;
  std::optional<pending_send> pending_;
  std::uint64_t generation_ = 0;
  asio::steady_timer block_timer_;
  std::uint64_t dropped_deliveries_ = 0;
};

}  // namespace pdc::daemon
