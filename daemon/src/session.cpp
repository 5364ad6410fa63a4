#include "session.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "control_server.hpp"
#include "pdc/core/clock.hpp"
#include "telemetry.hpp"

namespace pdc::daemon {

namespace {
constexpr const char* k_daemon_version = "pdcd 0.1.0";

std::string str(const flatbuffers::String* s) {
  return s == nullptr ? std::string() : s->str();
}
}  // namespace

session::session(control_server& server, socket_type sock, std::uint64_t id)
    : server_(server),
      sock_(std::move(sock)),
      id_(id),
      rx_(server.config().max_message_bytes + sizeof(envelope) + k_frame_overhead_bytes),
      block_timer_(sock_.get_executor()) {}

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
    respond(0, errc::message_too_large,
            "frame larger than the daemon's limit of " + std::to_string(rx_.size()) + " bytes; refused");
  } else {
    flatbuffers::Verifier verifier(rx_.data(), n, 64, 100000);
    if (n == 0 || !wire::VerifyRequestBuffer(verifier)) {
      respond(0, errc::protocol_error,
              "malformed frame (" + std::to_string(n) + " bytes): not a valid pdc request; refused");
    } else {
      handle(*wire::GetRequest(rx_.data()));
    }
  }
  read();
}

// ---- dispatch -----------------------------------------------------------------

template <typename BodyFn>
void session::respond_with(std::uint64_t rid, BodyFn&& body) {
  flatbuffers::FlatBufferBuilder b(256);
  auto [type, offset] = body(b);
  const auto msg = b.CreateString("");
  const auto resp = wire::CreateResponse(b, rid, 0, msg, type, offset);
  b.Finish(wire::CreateServerFrame(b, wire::ServerBody::Response, resp.Union()));
  send_frame(b.Release());
}

void session::respond(std::uint64_t rid, errc code, const std::string& message) {
  flatbuffers::FlatBufferBuilder b(128 + message.size());
  const auto msg = b.CreateString(message);
  const auto resp = wire::CreateResponse(b, rid, static_cast<std::int32_t>(code), msg);
  b.Finish(wire::CreateServerFrame(b, wire::ServerBody::Response, resp.Union()));
  send_frame(b.Release());
}

void session::handle(const wire::Request& req) {
  auto& reg = server_.reg();
  const std::uint64_t rid = req.id();
  using B = wire::RequestBody;
  using RB = wire::ResponseBody;
  switch (req.body_type()) {
    case B::Hello: {
      const auto* h = req.body_as_Hello();
      if (h->protocol_version() != 0 && h->protocol_version() != k_protocol_version) {
        respond(rid, errc::version_mismatch,
                "client speaks protocol " + std::to_string(h->protocol_version()) + ", pdcd speaks " +
                    std::to_string(k_protocol_version));
        return;
      }
      spdlog::debug("session {} is '{}'", id_, str(h->client_name()));
      respond_with(rid, [&](flatbuffers::FlatBufferBuilder& b) {
        const auto v = b.CreateString(k_daemon_version);
        return std::pair{
            RB::HelloReply,
            wire::CreateHelloReply(b, k_protocol_version, v, id_, server_.config().max_message_bytes).Union()};
      });
      return;
    }
    case B::PluginLoad: {
      auto info = reg.load_plugin(str(req.body_as_PluginLoad()->path()));
      if (!info) return respond(rid, info.err());
      respond_with(rid, [&](flatbuffers::FlatBufferBuilder& b) {
        std::vector<flatbuffers::Offset<flatbuffers::String>> types;
        for (const auto& t : info->kernel_types) types.push_back(b.CreateString(t));
        const auto pi = wire::CreatePluginInfo(b, b.CreateString(info->name), b.CreateString(info->version),
                                               b.CreateString(info->path), b.CreateVector(types), 0);
        return std::pair{RB::PluginLoadReply, wire::CreatePluginLoadReply(b, pi).Union()};
      });
      return;
    }
    case B::PluginUnload: {
      auto r = reg.unload_plugin(str(req.body_as_PluginUnload()->name()));
      return r ? respond(rid, errc::ok) : respond(rid, r.err());
    }
    case B::PluginList: {
      const auto plugins = reg.plugins();
      respond_with(rid, [&](flatbuffers::FlatBufferBuilder& b) {
        std::vector<flatbuffers::Offset<wire::PluginInfo>> items;
        for (const auto& p : plugins) {
          std::vector<flatbuffers::Offset<flatbuffers::String>> types;
          for (const auto& t : p.kernel_types) types.push_back(b.CreateString(t));
          items.push_back(wire::CreatePluginInfo(b, b.CreateString(p.name), b.CreateString(p.version),
                                                 b.CreateString(p.path), b.CreateVector(types),
                                                 reg.live_kernels_of(p.name)));
        }
        return std::pair{RB::PluginListReply, wire::CreatePluginListReply(b, b.CreateVector(items)).Union()};
      });
      return;
    }
    case B::Launch: {
      const auto* l = req.body_as_Launch();
      launch_request lr;
      lr.kernel_type = str(l->kernel_type());
      lr.kernel_id = str(l->kernel_id());
      lr.tier_kind = from_wire(l->tier());
      lr.capacity = l->capacity();
      lr.policy = from_wire(l->backpressure());
      lr.max_message_bytes = l->max_message_bytes();
      lr.block_timeout_ms = l->block_timeout_ms();
      lr.config = str(l->config());
      lr.workers = l->workers();
      lr.cpu = l->cpu();
      lr.idle_spin_us = l->idle_spin_us();
      auto r = reg.launch(std::move(lr));
      return r ? respond(rid, errc::ok) : respond(rid, r.err());
    }
    case B::Activate: {
      auto r = reg.activate(str(req.body_as_Activate()->kernel_id()));
      return r ? respond(rid, errc::ok) : respond(rid, r.err());
    }
    case B::Deactivate: {
      auto r = reg.deactivate(str(req.body_as_Deactivate()->kernel_id()));
      return r ? respond(rid, errc::ok) : respond(rid, r.err());
    }
    case B::Terminate: {
      const auto* t = req.body_as_Terminate();
      auto r = reg.terminate(str(t->kernel_id()), t->drop(), std::uint64_t{t->timeout_ms()} * 1'000'000);
      return r ? respond(rid, errc::ok) : respond(rid, r.err());
    }
    case B::Status:
    case B::List:
    case B::Metrics: {
      std::string id;
      if (req.body_type() == B::Status) id = str(req.body_as_Status()->kernel_id());
      if (req.body_type() == B::Metrics) id = str(req.body_as_Metrics()->kernel_id());
      std::vector<const kernel*> ks;
      if (id.empty()) {
        for (const auto& [kid, k] : reg.kernels()) ks.push_back(k.get());
      } else {
        auto k = reg.find(id);
        if (!k) return respond(rid, k.err());
        ks.push_back(k->get());
      }
      const bool prom =
          req.body_type() == B::Metrics && req.body_as_Metrics()->format() == wire::MetricsFormat::Prometheus;
      respond_with(rid, [&](flatbuffers::FlatBufferBuilder& b) {
        std::vector<flatbuffers::Offset<wire::KernelInfo>> infos;
        for (const auto* k : ks) infos.push_back(build_kernel_info(b, *k));
        const auto vec = b.CreateVector(infos);
        if (req.body_type() == B::Metrics) {
          const auto text = b.CreateString(prom ? prometheus_text(ks) : std::string());
          return std::pair{RB::MetricsReply, wire::CreateMetricsReply(b, vec, text).Union()};
        }
        return std::pair{RB::KernelListReply, wire::CreateKernelListReply(b, vec).Union()};
      });
      return;
    }
    case B::Send:
      return handle_send(rid, *req.body_as_Send());
    case B::Subscribe: {
      auto k = reg.find(str(req.body_as_Subscribe()->kernel_id()));
      if (!k) return respond(rid, k.err());
      (*k)->subscribe(id_);
      return respond(rid, errc::ok);
    }
    case B::Unsubscribe: {
      auto k = reg.find(str(req.body_as_Unsubscribe()->kernel_id()));
      if (!k) return respond(rid, k.err());
      (*k)->unsubscribe(id_);
      return respond(rid, errc::ok);
    }
    case B::Attach:
      return handle_attach(rid, *req.body_as_Attach());
    case B::Detach:
      return handle_detach(rid, *req.body_as_Detach());
    case B::Connect: {
      const auto* c = req.body_as_Connect();
      auto r = reg.connect(str(c->from_kernel()), str(c->to_kernel()));
      return r ? respond(rid, errc::ok) : respond(rid, r.err());
    }
    case B::Disconnect: {
      const auto* c = req.body_as_Disconnect();
      auto r = reg.disconnect(str(c->from_kernel()), str(c->to_kernel()));
      return r ? respond(rid, errc::ok) : respond(rid, r.err());
    }
    case B::NONE:
      break;
  }
  respond(rid, errc::not_supported, "request has no body or an unknown operation; refused");
}

void session::handle_send(std::uint64_t rid, const wire::Send& send) {
  auto k = server_.reg().find(str(send.kernel_id()));
  if (!k) return respond(rid, k.err());
  const auto* bytes = send.message();
  if (bytes == nullptr) return respond(rid, errc::protocol_error, "send carries no message; refused");
  const std::span<const std::byte> raw(reinterpret_cast<const std::byte*>(bytes->data()), bytes->size());
  envelope env;
  if (!read_envelope(raw, env)) {
    return respond(rid, errc::protocol_error,
                   "message of " + std::to_string(raw.size()) + " bytes does not hold a 48-byte envelope and the " +
                       "payload length it declares; refused");
  }
  const auto payload = payload_of(raw);
  const auto limit = (*k)->params().max_message_bytes;
  if (payload.size() > limit) {
    return respond(rid, errc::message_too_large,
                   "message of " + std::to_string(payload.size()) + " bytes exceeds kernel '" + (*k)->id() +
                       "' limit of " + std::to_string(limit) + " bytes; refused");
  }
  // The daemon, not the client, says where replies go.
  queued_message m{make_envelope(env.message_id(), env.payload_length(), env.send_timestamp_ns(), env.correlation_id(),
                                 id_, env.type_id(), env.flags(), env.priority()),
                   {payload.begin(), payload.end()},
                   0};
  const auto message_id = env.message_id();
  const auto r = (*k)->offer(m);
  if (r == offer_result::wait) {
    pending_ = pending_send{*k, std::move(m), rid, send.ack(), ++generation_};
    paused_ = true;
    spdlog::debug("session {} blocked: kernel '{}' queue is full", id_, (*k)->id());
    const auto gen = generation_;
    (*k)->wait_for_space([weak = weak_from_this(), gen] {
      if (auto self = weak.lock()) self->retry_pending(gen);
    });
    block_timer_.expires_after(std::chrono::milliseconds((*k)->params().block_timeout_ms));
    block_timer_.async_wait([weak = weak_from_this(), gen](const asio::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->on_block_timeout(gen);
    });
    return;
  }
  finish_offer(rid, send.ack(), **k, r, message_id);
}

void session::handle_attach(std::uint64_t rid, const wire::Attach& a) {
  auto k = server_.reg().find(str(a.kernel_id()));
  if (!k) return respond(rid, k.err());
  auto grant = (*k)->attach(id_, a.request_ring_bytes(), a.reply_ring_bytes());
  if (!grant) return respond(rid, grant.err());
  attachments_.emplace(grant->attachment_id, *k);
  spdlog::info("session {} attached to kernel '{}' (attachment {}, {} bytes)", id_, (*k)->id(), grant->attachment_id,
               grant->segment_bytes);
  flatbuffers::FlatBufferBuilder b(256);
  const auto reply =
      wire::CreateAttachReply(b, grant->attachment_id, grant->segment_bytes, 0, 1, (*k)->params().max_message_bytes,
                              to_wire((*k)->params().policy), (*k)->params().block_timeout_ms);
  const auto msg = b.CreateString("");
  const auto resp = wire::CreateResponse(b, rid, 0, msg, wire::ResponseBody::AttachReply, reply.Union());
  b.Finish(wire::CreateServerFrame(b, wire::ServerBody::Response, resp.Union()));
  send_frame(b.Release(), {grant->segment_fd, grant->doorbell_fd});
}

void session::handle_detach(std::uint64_t rid, const wire::Detach& d) {
  auto it = attachments_.find(d.attachment_id());
  if (it == attachments_.end()) {
    return respond(rid, errc::not_found,
                   "attachment " + std::to_string(d.attachment_id()) + " is not attached by this session");
  }
  if (auto k = it->second.lock()) k->detach(it->first);
  attachments_.erase(it);
  respond(rid, errc::ok);
}

void session::finish_offer(std::uint64_t rid, bool ack, kernel& k, offer_result r, std::uint64_t message_id) {
  switch (r) {
    case offer_result::accepted:
      if (ack) {
        respond_with(rid, [&](flatbuffers::FlatBufferBuilder& b) {
          return std::pair{wire::ResponseBody::SendReply, wire::CreateSendReply(b, message_id).Union()};
        });
      }
      return;
    case offer_result::rejected:
      return respond(rid, errc::rejected,
                     "kernel '" + k.id() + "' queue is full (" + std::to_string(k.params().capacity) +
                         " messages, policy reject); message refused");
    case offer_result::dropped_newest:
      return respond(rid, errc::dropped, "kernel '" + k.id() + "' queue is full (policy drop_newest); message dropped");
    case offer_result::terminated:
      return respond(rid, errc::terminated, "kernel '" + k.id() + "' is terminating; message refused");
    case offer_result::wait:
      break;
  }
  respond(rid, errc::internal, "unexpected offer outcome");
}

void session::retry_pending(std::uint64_t generation) {
  if (closed_ || !pending_ || pending_->generation != generation) return;
  auto k = pending_->target.lock();
  if (!k) {
    const auto rid = pending_->request_id;
    pending_.reset();
    respond(rid, errc::terminated, "kernel terminated while the message waited for queue space");
    return resume();
  }
  const auto message_id = pending_->message.env.message_id();
  const auto r = k->offer(pending_->message);
  if (r == offer_result::wait) {
    k->wait_for_space([weak = weak_from_this(), generation] {
      if (auto self = weak.lock()) self->retry_pending(generation);
    });
    return;
  }
  const auto rid = pending_->request_id;
  const bool ack = pending_->ack;
  pending_.reset();
  block_timer_.cancel();
  finish_offer(rid, ack, *k, r, message_id);
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
  respond(rid, errc::timeout,
          "kernel '" + kid + "' queue stayed full for " + std::to_string(waited) +
              " ms (policy block); message not queued");
  resume();
}

void session::resume() {
  paused_ = false;
  read();
}

// ---- writing ------------------------------------------------------------------

errc session::deliver(const std::string& kernel_id, const envelope& env, std::span<const std::byte> payload) {
  flatbuffers::FlatBufferBuilder b(sizeof(envelope) + payload.size() + 128);
  std::uint8_t* dst = nullptr;
  const auto vec = b.CreateUninitializedVector(sizeof(envelope) + payload.size(), &dst);
  std::memcpy(dst, &env, sizeof env);
  if (!payload.empty()) std::memcpy(dst + sizeof env, payload.data(), payload.size());
  const auto kid = b.CreateString(kernel_id);
  const auto d = wire::CreateDelivery(b, kid, vec);
  b.Finish(wire::CreateServerFrame(b, wire::ServerBody::Delivery, d.Union()));
  const errc rc = send_frame(b.Release());
  if (rc == errc::full) ++dropped_deliveries_;
  return rc;
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
