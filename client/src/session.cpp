#include "session.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "socket_io.hpp"

namespace pdc::detail {

namespace {
// Unreported ack=false sends and failures kept; beyond this the oldest are forgotten.
constexpr std::size_t k_unacked_limit = 4096;
constexpr std::size_t k_send_failure_limit = 256;
// How long to nap when the socket claims room but a large packet still does not fit.
constexpr std::int64_t k_full_socket_nap_ns = 1'000'000;

deadline earlier(deadline a, deadline b) noexcept {
  return a.at_ns() <= b.at_ns() ? a : b;
}

std::size_t packet_limit(std::uint32_t max_message_bytes) {
  const std::uint32_t payload = std::min(max_message_bytes, k_max_message_ceiling_bytes);
  return static_cast<std::size_t>(payload) + sizeof(envelope) + k_frame_overhead_bytes;
}

// shutdown before close: attachments hold duplicates of the socket (to
// notice a hang-up), and closing one descriptor alone would not end the
// session for the daemon.
void end_connection(int fd) noexcept {
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

// Takes ownership of every descriptor passed with a packet (SCM_RIGHTS), so
// none can leak whatever the packet turns out to be. A truncated control
// message (MSG_CTRUNC) keeps none: a partial set is useless.
void adopt_passed_fds(msghdr& msg, passed_fds& out) noexcept {
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < n; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      unique_fd owned(fd);
      if (out.count < out.fds.size()) out.fds[out.count++] = std::move(owned);
    }
  }
  if ((msg.msg_flags & MSG_CTRUNC) != 0) {
    for (auto& fd : out.fds) fd.reset();
    out.count = 0;
  }
}

const wire::ServerFrame& frame_of(const std::uint8_t* bytes) {
  return *flatbuffers::GetRoot<wire::ServerFrame>(bytes);
}

// Makes `text` one line (daemon messages are shown verbatim to users).
std::string one_line(const flatbuffers::String* text) {
  if (text == nullptr) return {};
  std::string out = text->str();
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return out;
}
}  // namespace

const wire::Response& response_packet::get() const noexcept {
  return *frame_of(bytes_.data()).body_as_Response();
}

session::session(int fd) noexcept : fd_(fd) {
  try {
    rx_.resize(packet_limit(k_default_max_message_bytes));
  } catch (...) {
    broken_ = make_error(errc::system_error, "out of memory for the receive buffer");
  }
}

session::~session() {
  if (fd_ >= 0) end_connection(fd_);
}

void session::set_delivery_limit(std::size_t messages) noexcept {
  delivery_limit_ = std::max<std::size_t>(messages, 1);
  while (deliveries_.size() > delivery_limit_) {
    deliveries_.pop_front();
    ++dropped_;
  }
}

void session::set_max_message_bytes(std::uint32_t bytes) {
  const std::size_t limit = packet_limit(std::max(bytes, k_default_max_message_bytes));
  if (limit > rx_.size()) rx_.resize(limit);
  // The kernel charges a datagram to the sender's buffer: make room for two packets.
  int sndbuf = 0;
  socklen_t len = sizeof sndbuf;
  const auto want = static_cast<int>(2 * packet_limit(bytes));
  if (::getsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) == 0 && sndbuf < want) {
    (void)::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);  // best effort
  }
}

// The end of the connection: daemon_stopping after a Goodbye, else peer_gone.
error session::gone_error() const {
  if (goodbye_) return *goodbye_;
  return make_error(errc::peer_gone, "daemon closed the connection");
}

error session::fail(error e) {
  if (!broken_) {
    broken_ = std::move(e);
    if (fd_ >= 0) {
      end_connection(fd_);
      fd_ = -1;
    }
  }
  return *broken_;
}

result<response_packet> session::call(std::span<const std::uint8_t> packet, std::uint64_t request_id, deadline dl) {
  if (broken_) return *broken_;
  awaited_response_id_ = request_id;
  response_.reset();
  auto sent = send_packet(packet, dl);
  while (sent && !response_) {
    sent = read_one(dl);
  }
  awaited_response_id_ = 0;
  if (!response_) {
    return sent.code() == errc::timeout ? make_error(errc::timeout, "pdcd did not answer in time") : sent.err();
  }
  auto r = std::move(*response_);
  response_.reset();
  return r;
}

result<void> session::post_unacked(std::span<const std::uint8_t> packet, std::uint64_t request_id,
                                   std::uint64_t message_id, deadline dl) {
  if (broken_) return *broken_;
  auto sent = send_packet(packet, dl);
  if (sent) note_unacked(request_id, message_id);
  return sent;
}

result<received_message> session::request(std::span<const std::uint8_t> packet, std::uint64_t request_id,
                                          std::uint64_t message_id, bool ack, deadline dl) {
  if (broken_) return *broken_;
  // Set before sending: the reply may overtake the Send's Response.
  awaited_reply_id_ = message_id;
  reply_.reset();
  result<void> status = ok();
  if (ack) {
    auto accepted = call(packet, request_id, dl);
    if (!accepted) status = std::move(accepted).err();
  } else {
    status = post_unacked(packet, request_id, message_id, dl);
  }
  while (status && !reply_) {
    status = read_one(dl);
  }
  awaited_reply_id_ = 0;
  if (!reply_) return std::move(status).err();
  auto r = std::move(*reply_);
  reply_.reset();
  return r;
}

result<received_message> session::next_delivery(deadline dl) {
  while (deliveries_.empty()) {
    if (broken_) return *broken_;
    auto r = read_one(dl);
    if (!r) return std::move(r).err();
  }
  auto m = std::move(deliveries_.front());
  deliveries_.pop_front();
  return m;
}

void session::carry_over(session& old) {
  while (!old.deliveries_.empty()) {
    deliveries_.push_front(std::move(old.deliveries_.back()));
    old.deliveries_.pop_back();
  }
  while (deliveries_.size() > delivery_limit_) {
    deliveries_.pop_front();
    ++dropped_;
  }
  dropped_ += old.dropped_;
  for (auto& f : old.send_failures_) {
    if (send_failures_.size() == k_send_failure_limit) send_failures_.pop_front();
    send_failures_.push_back(std::move(f));
  }
  old.send_failures_.clear();
}

std::optional<send_failure> session::take_send_failure() {
  if (send_failures_.empty()) return std::nullopt;
  auto f = std::move(send_failures_.front());
  send_failures_.pop_front();
  return f;
}

void session::note_unacked(std::uint64_t request_id, std::uint64_t message_id) {
  if (unacked_.size() == k_unacked_limit) unacked_.pop_front();
  unacked_.emplace_back(request_id, message_id);
}

// Sends one packet. While the socket is full, keeps reading what the daemon
// sends us so neither side can block the other.
result<void> session::send_packet(std::span<const std::uint8_t> packet, deadline dl) {
  if (packet.size() > rx_.size()) {
    return make_error(errc::message_too_large, "request of " + std::to_string(packet.size()) +
                                                   " bytes exceeds the daemon's packet limit; nothing was sent");
  }
  bool writable_but_full = false;
  last_send_refused_ = false;
  for (;;) {
    if (broken_) {
      last_send_refused_ = true;
      return *broken_;
    }
    const ssize_t n = ::send(fd_, packet.data(), packet.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      if (static_cast<std::size_t>(n) == packet.size()) return ok();
      return fail(make_error(errc::system_error, "short send on a packet socket"));
    }
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EPIPE || err == ECONNRESET || err == ENOTCONN) {
      last_send_refused_ = true;
      (void)read_available();  // keep what the daemon sent before it went away
      return fail(gone_error());
    }
    if (err == EMSGSIZE) {
      return make_error(errc::message_too_large,
                        "request of " + std::to_string(packet.size()) + " bytes exceeds the socket buffer");
    }
    if (err != EAGAIN && err != EWOULDBLOCK) return fail(make_error(errc::system_error, "send: " + errno_text(err)));
    // POLLOUT can report room that is still too small for this packet: then
    // wait for input only, with a short nap, instead of spinning.
    const deadline wait_dl = writable_but_full ? earlier(dl, deadline::after_ns(k_full_socket_nap_ns)) : dl;
    auto ready = wait_fd(fd_, writable_but_full ? short{POLLIN} : short{POLLIN | POLLOUT}, wait_dl);
    if (!ready && ready.code() != errc::timeout) return fail(std::move(ready).err());
    if (!ready && dl.expired()) return make_error(errc::timeout, "pdcd is not reading its socket");
    const short revents = ready ? *ready : short{0};
    writable_but_full = (revents & POLLOUT) != 0;
    if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      auto drained = read_available();
      if (!drained) return drained;
    }
  }
}

// Reads every packet already queued on the socket without blocking.
result<void> session::read_available() {
  for (;;) {
    auto r = read_one(deadline::after_ns(0));
    if (r.code() == errc::timeout) return ok();
    if (!r) return r;
  }
}

// Reads and dispatches exactly one packet, waiting until `dl`.
result<void> session::read_one(deadline dl) {
  for (;;) {
    if (broken_) return *broken_;
    iovec iov{rx_.data(), rx_.size()};
    // Room for a few descriptors on every packet: only an AttachReply carries
    // any, but whatever arrives must be received to be closed.
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * k_max_passed_fds)> control{};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    const ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    passed_fds fds;
    if (n >= 0) adopt_passed_fds(msg, fds);
    if (n > 0) {
      if ((msg.msg_flags & MSG_TRUNC) != 0) {
        return fail(make_error(errc::protocol_error, "packet from pdcd exceeds " + std::to_string(rx_.size()) +
                                                         " bytes (larger than the announced message limit)"));
      }
      return dispatch(static_cast<std::size_t>(n), fds);
    }
    if (n == 0) return fail(gone_error());  // pdcd never sends empty packets: this is EOF
    const int err = errno;
    if (err == EINTR) continue;
    if (err == ECONNRESET || err == ENOTCONN || err == EPIPE) return fail(gone_error());
    if (err != EAGAIN && err != EWOULDBLOCK) return fail(make_error(errc::system_error, "recv: " + errno_text(err)));
    auto ready = wait_fd(fd_, POLLIN, dl);
    if (!ready) {
      if (ready.code() == errc::timeout) return make_error(errc::timeout);
      return fail(std::move(ready).err());
    }
  }
}

result<void> session::dispatch(std::size_t length, passed_fds& fds) {
  flatbuffers::Verifier verifier(rx_.data(), length);
  if (!verifier.VerifyBuffer<wire::ServerFrame>(nullptr)) {
    return fail(make_error(errc::protocol_error,
                           "malformed packet from pdcd (" + std::to_string(length) + " bytes failed verification)"));
  }
  const auto& frame = frame_of(rx_.data());
  if (const auto* response = frame.body_as_Response()) return dispatch_response(*response, length, fds);
  if (const auto* delivery = frame.body_as_Delivery()) return dispatch_delivery(*delivery);
  if (const auto* bye = frame.body_as_Goodbye()) {
    // pdcd is stopping: it drains, then closes. Until then replies and
    // deliveries still arrive; afterwards every call fails with this.
    const std::string why = one_line(bye->message());
    goodbye_ = make_error(errc::daemon_stopping, why.empty() ? std::string("pdcd is stopping") : why);
    return ok();
  }
  return fail(make_error(errc::protocol_error, "packet from pdcd carries neither a response nor a delivery"));
}

result<void> session::dispatch_response(const wire::Response& response, std::size_t length, passed_fds& fds) {
  const std::uint64_t id = response.id();
  if (id == 0 && response.code() != 0) {
    // The daemon could not read a request's id (docs/protocol.md): it can only be the one in flight.
    if (awaited_response_id_ != 0)
      response_.emplace(make_error(errc_from_int(response.code()), one_line(response.message())));
    return ok();
  }
  if (id == 0 || id > last_request_id_) {
    return fail(make_error(errc::protocol_error, "response to unknown request id " + std::to_string(id)));
  }
  const errc code = response.code() == 0 ? errc::ok : errc_from_int(response.code());
  if (id == awaited_response_id_) {
    if (code == errc::ok) {
      // Only an AttachReply may hand us descriptors; any others close with `fds`.
      std::vector<unique_fd> kept;
      if (response.body_type() == wire::ResponseBody::AttachReply) {
        kept.reserve(fds.count);
        for (std::size_t i = 0; i < fds.count; ++i) kept.push_back(std::move(fds.fds[i]));
      }
      response_.emplace(response_packet(
          std::vector<std::uint8_t>(rx_.begin(), rx_.begin() + static_cast<std::ptrdiff_t>(length)), std::move(kept)));
    } else {
      response_.emplace(make_error(code, one_line(response.message())));
    }
    return ok();
  }
  const auto unacked = std::find_if(unacked_.begin(), unacked_.end(), [id](const auto& e) { return e.first == id; });
  if (unacked == unacked_.end()) return ok();  // late answer to a call that timed out
  const std::uint64_t message_id = unacked->second;
  unacked_.erase(unacked);
  if (code == errc::ok) return ok();
  error reason = make_error(code, one_line(response.message()));
  if (message_id == awaited_reply_id_) reply_.emplace(reason);
  if (send_failures_.size() == k_send_failure_limit) send_failures_.pop_front();
  send_failures_.push_back(send_failure{message_id, std::move(reason)});
  return ok();
}

result<void> session::dispatch_delivery(const wire::Delivery& delivery) {
  const auto* message = delivery.message();
  envelope env;
  if (message == nullptr || !read_envelope(std::as_bytes(std::span(message->data(), message->size())), env)) {
    return fail(make_error(errc::protocol_error, "delivery from pdcd has a malformed envelope"));
  }
  received_message m;
  m.kernel_id = delivery.kernel_id() != nullptr ? delivery.kernel_id()->str() : std::string();
  m.env = env;
  const auto* payload = reinterpret_cast<const std::byte*>(message->data()) + sizeof(envelope);
  m.payload.assign(payload, payload + env.payload_length());

  const bool answers_waiter = awaited_reply_id_ != 0 && m.is_reply() && env.correlation_id() == awaited_reply_id_;
  if (answers_waiter) {
    reply_.emplace(std::move(m));
    return ok();
  }
  if (deliveries_.size() >= delivery_limit_) {
    deliveries_.pop_front();
    ++dropped_;
  }
  deliveries_.push_back(std::move(m));
  return ok();
}

}  // namespace pdc::detail
