#include "server/session.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "pdc/core/clock.hpp"
#include "server/codec.hpp"
#include "server/control_server.hpp"

namespace pdc::daemon {

session::session(control_server& server, socket_type sock, std::uint64_t id, peer_credentials peer)
    : server_(server),
      sock_(std::move(sock)),
      id_(id),
      peer_(std::move(peer)),
      rx_(server.config().max_message_bytes + sizeof(envelope) + k_frame_overhead_bytes),
      // Room for two of the largest frames at least, whatever the config says.
      buffer_limit_(std::max<std::size_t>(server.config().limits.session_buffer_bytes, 2 * rx_.size())),
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
  tx_bytes_ = 0;
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
  if (closed_ || paused_ || tx_full_ || reading_) return;
  reading_ = true;
  sock_.async_wait(asio::socket_base::wait_read, [self = shared_from_this()](const asio::error_code& ec) {
    self->reading_ = false;
    self->on_readable(ec);
  });
}

bool session::peer_hung_up() const {
  pollfd p{const_cast<socket_type&>(sock_).native_handle(), POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0;
}

namespace {
// Room for the most descriptors one packet can carry (SCM_MAX_FD, 253).
constexpr std::size_t k_max_passed_fds = 253;

// The descriptors a packet carried (it should carry none).
std::vector<int> passed_fds(msghdr& msg) {
  std::vector<int> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0)) continue;
    const std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const auto* data = CMSG_DATA(c);
    for (std::size_t i = 0; i < n; ++i) {
      int fd = -1;
      std::memcpy(&fd, data + i * sizeof(int), sizeof fd);
      fds.push_back(fd);
    }
  }
  return fds;
}
}  // namespace

void session::on_readable(const asio::error_code& ec) {
  if (closed_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    spdlog::debug("session {} closed ({})", id_, ec.message());
    close();
    return;
  }
  const int fd = sock_.native_handle();
  // A bounded turn: other sessions and the kernels on this loop get theirs.
  for (std::size_t frames = 0; frames < k_frames_per_turn; ++frames) {
    if (closed_ || paused_ || tx_full_) return;
    iovec iov{rx_.data(), rx_.size()};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * k_max_passed_fds)> control{};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    const ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      spdlog::debug("session {} closed ({})", id_, std::strerror(errno));
      close();
      return;
    }
    if (n == 0 && msg.msg_controllen == 0 && peer_hung_up()) {
      spdlog::debug("session {} closed (client hung up)", id_);
      close();
      return;
    }
    on_frame(static_cast<std::size_t>(n), msg);
  }
  read();
}

void session::on_frame(std::size_t n, msghdr& msg) {
  if (auto fds = passed_fds(msg); !fds.empty() || (msg.msg_flags & MSG_CTRUNC) != 0) {
    // Closed on another thread: closing what a client sent can block (a
    // file on a stalled file system) and must never stall the event loop.
    const std::size_t count = fds.size();
    server_.closer().close_later(std::move(fds));
    server_.reg().count_denied();
    send(codec::response(0, errc::protocol_error,
                         "frame carried " + std::to_string(count) +
                             " file descriptors; pdcd accepts none from clients (closed; frame refused)"));
    return;
  }
  if ((msg.msg_flags & MSG_TRUNC) != 0) {
    send(codec::response(0, errc::message_too_large,
                         "frame larger than the daemon's limit of " + std::to_string(rx_.size()) + " bytes; refused"));
    return;
  }
  flatbuffers::Verifier verifier(rx_.data(), n, 64, 100000);
  if (n == 0 || !wire::VerifyRequestBuffer(verifier)) {
    send(codec::response(0, errc::protocol_error,
                         "malformed frame (" + std::to_string(n) + " bytes): not a valid pdc request; refused"));
    return;
  }
  dispatch(server_.reg(), *this, *wire::GetRequest(rx_.data()));
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
  // Responses always queue (a client must get its answer), but the session
  // stops reading requests while they pile up; deliveries are bounded by
  // frames and by bytes, and dropped (counted) beyond.
  const auto& cfg = server_.config();
  if (fds.empty() && (tx_.size() >= cfg.session_queue_limit || tx_bytes_ + frame.size() > buffer_limit_)) {
    return errc::full;
  }
  tx_bytes_ += frame.size();
  tx_.push_back(outgoing{std::move(frame), std::move(fds)});
  if (tx_bytes_ > buffer_limit_ && !tx_full_) {
    tx_full_ = true;  // read() waits until the client took its answers
    spdlog::debug("session {}: {} bytes wait for the client to read; its requests wait", id_, tx_bytes_);
  }
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
    tx_bytes_ -= o.frame.size();
    tx_.pop_front();
    if (tx_full_ && tx_bytes_ <= buffer_limit_ / 2) {
      tx_full_ = false;
      read();
    }
  }
}

}  // namespace pdc::daemon
