#include "server/session.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pdc/core/clock.hpp"
#include "server/codec.hpp"
#include "server/control_server.hpp"

namespace pdc::daemon {

session::session(control_server& server, socket_type sock, std::uint64_t id)
    : server_(server),
      sock_(std::move(sock)),
      id_(id),
      rx_(server.config().max_message_bytes + sizeof(envelope) + k_frame_overhead_bytes),
      block_timer_(sock_.get_executor()) {}

session::~session() = default;

void session::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& [aid, weak] : attachments_) {
    if (auto k = weak.lock()) k->detach(aid);
  }
  attachments_.clear();
  for (auto& o : tx_) {
    for (int fd : o.fds) ::close(fd);
  }
  tx_.clear();
  block_timer_.cancel();
  pending_.reset();
  asio::error_code ignored;
  sock_.close(ignored);
  if (dropped_deliveries_ != 0) {
    spdlog::warn("session {}: {} deliveries dropped because the client did not read", id_, dropped_deliveries_);
  }
  server_.on_session_closed(id_);  // may destroy the server's reference to us
}

// ---- reading ----------------------------------------------------------------

void session::read() {
  if (closed_ || paused_) return;
  sock_.async_receive(asio::buffer(rx_), 0, rx_flags_,
                      [self = shared_from_this()](const asio::error_code& ec, std::size_t n) { self->on_read(ec, n); });
}

bool session::peer_hung_up() const {
  pollfd p{const_cast<socket_type&>(sock_).native_handle(), POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

void session::on_read(const asio::error_code& ec, std::size_t n) {
  if (closed_) return;
  if (ec == asio::error::operation_aborted) return;
  if (ec || (n == 0 && peer_hung_up())) {
    spdlog::debug("session {} closed ({})", id_, ec ? ec.message() : "client hung up");
    close();
    return;
  }
  if ((rx_flags_ & MSG_TRUNC) != 0) {
    send(codec::response(0, errc::message_too_large,
                         "frame larger than the daemon's limit of " + std::to_string(rx_.size()) + " bytes; refused"));
  } else {
    flatbuffers::Verifier verifier(rx_.data(), n, 64, 100000);
    if (n == 0 || !wire::VerifyRequestBuffer(verifier)) {
      send(codec::response(0, errc::protocol_error,
                           "malformed frame (" + std::to_string(n) + " bytes): not a valid pdc request; refused"));
    } else {
      dispatch(server_.reg(), *this, *wire::GetRequest(rx_.data()));
    }
  }
  read();
}

void session::hold_send(std::shared_ptr<kernel> k, queued_message m, std::uint64_t rid, bool ack) {
  pending_ = pending_send{k, std::move(m), rid, ack, ++generation_};
  paused_ = true;
  spdlog::debug("session {} blocked: kernel '{}' queue is full", id_, k->id());
  const auto gen = generation_;
  k->in().wait_for_space([weak = weak_from_this(), gen] {
    if (auto self = weak.lock()) self->retry_pending(gen);
  });
  block_timer_.expires_after(std::chrono::milliseconds(k->params().block_timeout_ms));
  block_timer_.async_wait([weak = weak_from_this(), gen](const asio::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->on_block_timeout(gen);
  });
}

void session::attached(std::uint64_t attachment_id, std::weak_ptr<kernel> k) {
  attachments_.emplace(attachment_id, std::move(k));
}

bool session::detach(std::uint64_t attachment_id) {
  auto it = attachments_.find(attachment_id);
  if (it == attachments_.end()) return false;
  if (auto k = it->second.lock()) k->detach(it->first);
  attachments_.erase(it);
  return true;
}

void session::retry_pending(std::uint64_t generation) {
  if (closed_ || !pending_ || pending_->generation != generation) return;
  auto k = pending_->target.lock();
  if (!k) {
    const auto rid = pending_->request_id;
    pending_.reset();
    send(codec::response(rid, errc::terminated, "kernel terminated while the message waited for queue space"));
    return resume();
  }
  const auto message_id = pending_->message.env.message_id();
  const auto r = k->offer(pending_->message);
  if (r == offer_result::wait) {
    k->in().wait_for_space([weak = weak_from_this(), generation] {
      if (auto self = weak.lock()) self->retry_pending(generation);
    });
    return;
  }
  const auto rid = pending_->request_id;
  const bool ack = pending_->ack;
  pending_.reset();
  block_timer_.cancel();
  answer_offer(*this, rid, ack, *k, r, message_id);
  resume();
}

void session::on_block_timeout(std::uint64_t generation) {
  if (closed_ || !pending_ || pending_->generation != generation) return;
  const auto rid = pending_->request_id;
  std::string kid = "?";
  std::uint32_t waited = 0;
  if (auto k = pending_->target.lock()) {
    kid = k->id();
    waited = k->params().block_timeout_ms;
    k->note_block_timeout();
  }
  pending_.reset();
  send(codec::response(rid, errc::timeout,
                       "kernel '" + kid + "' queue stayed full for " + std::to_string(waited) +
                           " ms (policy block); message not queued"));
  resume();
}

void session::resume() {
  paused_ = false;
  read();
}

// ---- writing ------------------------------------------------------------------

errc session::deliver(const std::string& kernel_id, const envelope& env, std::span<const std::byte> payload) {
  const errc rc = send_frame(codec::delivery(kernel_id, env, payload), {});
  if (rc == errc::full) ++dropped_deliveries_;
  return rc;
}

void session::send(flatbuffers::DetachedBuffer frame, std::vector<int> fds) {
  (void)send_frame(std::move(frame), std::move(fds));
}

namespace {
// One packet, with `fds` attached (SCM_RIGHTS) when there are any.
ssize_t send_packet(int sock, const flatbuffers::DetachedBuffer& frame, const std::vector<int>& fds) {
  if (fds.empty()) return ::send(sock, frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  iovec iov{const_cast<std::uint8_t*>(frame.data()), frame.size()};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  return ::sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void close_all(const std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
}
}  // namespace

errc session::send_frame(flatbuffers::DetachedBuffer frame, std::vector<int> fds) {
  if (closed_) {
    close_all(fds);
    return errc::peer_gone;
  }
  if (tx_.empty()) {
    const auto n = send_packet(sock_.native_handle(), frame, fds);
    if (n == static_cast<ssize_t>(frame.size())) {
      close_all(fds);
      return errc::ok;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      spdlog::info("session {}: send failed ({}); closing", id_, std::strerror(errno));
      close_all(fds);
      close();
      return errc::peer_gone;
    }
  }
  // Responses always queue (a client must get its answer); deliveries are bounded.
  if (fds.empty() && tx_.size() >= server_.config().session_queue_limit) return errc::full;
  tx_.push_back(outgoing{std::move(frame), std::move(fds)});
  arm_write();
  return errc::ok;
}

void session::arm_write() {
  if (writing_ || closed_) return;
  writing_ = true;
  sock_.async_wait(asio::socket_base::wait_write, [self = shared_from_this()](const asio::error_code& ec) {
    self->writing_ = false;
    if (!ec) self->flush();
  });
}

void session::flush() {
  while (!tx_.empty() && !closed_) {
    auto& o = tx_.front();
    const auto n = send_packet(sock_.native_handle(), o.frame, o.fds);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return arm_write();
      spdlog::info("session {}: send failed ({}); closing", id_, std::strerror(errno));
      return close();
    }
    close_all(o.fds);
    tx_.pop_front();
  }
}

}  // namespace pdc::daemon
