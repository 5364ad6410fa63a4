#include "isolation/kernel_host_process.hpp"

#include <unistd.h>

#include <asio/post.hpp>
#include <cstring>

#include "pdc/core/clock.hpp"
#include "pdc/core/segment.hpp"
#include "runtime/host_api.hpp"

namespace pdc::daemon {

namespace {

flatbuffers::Offset<host::Histogram> sparse(flatbuffers::FlatBufferBuilder& b, const histogram& h) {
  std::vector<std::uint16_t> index;
  std::vector<std::uint64_t> count;
  const auto& buckets = h.buckets();
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    if (buckets[i] == 0) continue;
    index.push_back(static_cast<std::uint16_t>(i));
    count.push_back(buckets[i]);
  }
  const auto iv = b.CreateVector(index);
  const auto cv = b.CreateVector(count);
  return host::CreateHistogram(b, iv, cv, h.min(), h.max(), h.sum());
}

std::span<const std::byte> bytes_of(const flatbuffers::Vector<std::uint8_t>* v) {
  if (v == nullptr) return {};
  return {reinterpret_cast<const std::byte*>(v->data()), v->size()};
}

}  // namespace

kernel_host_process::kernel_host_process(int link_fd)
    : link_(link_fd),
      watch_(io_),
      stats_timer_(io_),
      loader_(host_api_table()),
      pools_(*this),
      env_{io_, *this, pools_} {}

kernel_host_process::~kernel_host_process() {
  (void)watch_.release();  // link_ owns the descriptor
  kernel_.reset();
}

int kernel_host_process::run() {
  control_thread_ = std::this_thread::get_id();
  watch_.assign(link_.fd());
  read_link();
  io_.run();
  return exit_code_;
}

void kernel_host_process::finish(int code) {
  exit_code_ = code;
  stats_timer_.cancel();
  watch_.cancel();
  io_.stop();
}

errc kernel_host_process::send_frame(host::Body type, flatbuffers::FlatBufferBuilder& b,
                                     flatbuffers::Offset<void> body) {
  b.Finish(host::CreateFrame(b, type, body));
  return link_.send({b.GetBufferPointer(), b.GetSize()});
}

void kernel_host_process::read_link() {
  for (int i = 0; i < 64; ++i) {
    link_packet p;
    const errc got = link_.receive(p);
    if (got == errc::empty) break;
    if (got != errc::ok) {
      // pdcd is gone (or sent garbage): the kernel goes with it.
      finish(got == errc::peer_gone ? 0 : 2);
      return;
    }
    on_packet(p);
    if (io_.stopped()) return;
  }
  watch_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const std::error_code& ec) {
    if (!ec) read_link();
  });
}

void kernel_host_process::on_packet(link_packet& p) {
  const auto& f = p.frame();
  if (!started_ && f.body_type() != host::Body::Start) {
    fail(errc::protocol_error, "the first frame on the host link must be Start");
    return;
  }
  switch (f.body_type()) {
    case host::Body::Start:
      if (started_) return;
      start(*f.body_as_Start());
      return;
    case host::Body::Activate:
      if (kernel_) (void)kernel_->activate();
      return;
    case host::Body::Deactivate:
      if (kernel_) (void)kernel_->deactivate();
      return;
    case host::Body::Terminate: {
      if (!kernel_) return;
      const auto* t = f.body_as_Terminate();
      if (kernel_->state() == kernel_state::terminating) {
        if (t->drop()) kernel_->drain_until(0);
        return;
      }
      kernel_->terminate(t->drop(), t->timeout_ms() * 1'000'000, [this](result<void>) {
        send_stats();
        flatbuffers::FlatBufferBuilder b(64);
        (void)send_frame(host::Body::Terminated, b, host::CreateTerminated(b).Union());
        finish(0);
      });
      return;
    }
    case host::Body::Attach:
      on_attach(*f.body_as_Attach(), p);
      return;
    case host::Body::Detach:
      if (kernel_) kernel_->detach(f.body_as_Detach()->attachment_id());
      return;
    case host::Body::Message:
      on_message(*f.body_as_Message());
      return;
    case host::Body::Targets: {
      if (!kernel_) return;
      const auto* t = f.body_as_Targets();
      auto& outs = kernel_->outs();
      const auto now = outs.snapshot();
      for (const auto s : now->sessions) (void)outs.unsubscribe(s);
      for (const auto& k : now->kernels) (void)outs.unlink(k);
      if (t->sessions() != nullptr) {
        for (const auto s : *t->sessions()) (void)outs.subscribe(s);
      }
      if (t->kernels() != nullptr) {
        for (const auto* k : *t->kernels()) (void)outs.link(k->str());
      }
      return;
    }
    default:
      return;  // frames pdcd does not send
  }
}

void kernel_host_process::fail(errc code, const std::string& why) {
  flatbuffers::FlatBufferBuilder b(256 + why.size());
  const auto text = b.CreateString(why);
  (void)send_frame(host::Body::Failed, b, host::CreateFailed(b, static_cast<std::int32_t>(code), text).Union());
  finish(1);
}

void kernel_host_process::start(const host::Start& s) {
  started_ = true;
  if (s.link_version() != k_host_link_version) {
    fail(errc::version_mismatch, "pdcd speaks host link " + std::to_string(s.link_version()) +
                                     ", this pdc-kernel-host " + std::to_string(k_host_link_version) +
                                     " (install pdcd and pdc-kernel-host from one build)");
    return;
  }
  stats_interval_ms_ = std::max<std::uint32_t>(s.stats_interval_ms(), 1);
  launch_request req;
  req.kernel_type = s.kernel_type() != nullptr ? s.kernel_type()->str() : "";
  req.kernel_id = s.kernel_id() != nullptr ? s.kernel_id()->str() : "";
  auto tier = tier_from_value(s.tier());
  auto policy = backpressure_from_value(s.backpressure());
  if (!tier || !policy) {
    fail(errc::protocol_error, "Start names an unknown tier or policy");
    return;
  }
  req.tier = *tier;
  req.policy = *policy;
  req.capacity = std::max<std::uint32_t>(s.capacity(), 1);
  req.max_message_bytes = s.max_message_bytes();
  req.block_timeout_ms = s.block_timeout_ms();
  req.config = s.config() != nullptr ? s.config()->str() : "";
  req.workers = s.workers();
  req.cpu = s.cpu();
  req.idle_spin_us = s.idle_spin_us();
  req.latency_metrics = s.latency_metrics();
  req.owner_uid = s.owner_uid();
  const std::string path = s.plugin_path() != nullptr ? s.plugin_path()->str() : "";
  auto info = loader_.load(path);
  if (!info) {
    fail(info.code(), info.err().what());
    return;
  }
  auto type = loader_.find_type(req.kernel_type);
  if (!type) {
    fail(errc::not_found, "plugin " + path + " has no kernel type '" + req.kernel_type + "'");
    return;
  }
  const tier_row* row = find_tier(req.tier);
  if (row == nullptr) {
    fail(errc::not_supported, "tier " + std::string(to_string(req.tier)) + " is not in this build");
    return;
  }
  auto agents = row->agents(req, *type, env_);
  if (!agents) {
    fail(agents.code(), agents.err().what());
    return;
  }
  req.workers = *agents;
  const idle_strategy idle = idle_for(*row, req);
  kernel_ = std::make_shared<kernel>(req, std::move(type), *this);
  auto exec = row->make(*kernel_, req, env_, idle);
  if (!exec) {
    fail(exec.code(), exec.err().what());
    return;
  }
  if (auto launched = kernel_->launch(std::move(exec).value()); !launched) {
    kernel_.reset();
    fail(launched.code(), launched.err().what());
    return;
  }
  flatbuffers::FlatBufferBuilder b(64);
  (void)send_frame(host::Body::Ready, b, host::CreateReady(b, static_cast<std::int32_t>(::getpid())).Union());
  schedule_stats();
}

void kernel_host_process::on_message(const host::Message& m) {
  if (!kernel_) return;
  const auto bytes = bytes_of(m.message());
  envelope env;
  if (!read_envelope(bytes, env)) return;  // pdcd checked it; a torn frame is dropped
  queued_message q;
  q.env = env;
  const auto payload = bytes.subspan(sizeof(envelope));
  q.payload.assign(payload.begin(), payload.end());
  q.from = m.reply_session() != 0 ? reply_address::session(m.reply_session()) : reply_address::nobody();
  q.enqueued_ns = now_ns();
  const auto from = q.from;
  const auto id = env.message_id();
  switch (kernel_->offer(q)) {
    case offer_result::accepted:
      return;
    case offer_result::closed:
      kernel_->fail_sender(from, id, errc::terminated, "kernel '" + kernel_->id() + "' is terminating");
      return;
    case offer_result::wait:
    case offer_result::rejected:
    case offer_result::dropped_newest:
      // pdcd never sends more than the inbox holds; a full one means the window broke.
      kernel_->fail_sender(from, id, errc::rejected, "kernel '" + kernel_->id() + "' queue is full");
      return;
  }
}

void kernel_host_process::on_attach(const host::Attach& a, link_packet& p) {
  if (!kernel_ || p.fds.size() != 2) return;
  auto seg = segment::open(p.fds[0].release());
  if (!seg) {
    log(*kernel_, PDC_LOG_ERROR, "attachment " + std::to_string(a.attachment_id()) + ": " + seg.err().what());
    return;
  }
  auto view = attachment_daemon_view::adopt(std::move(seg).value());
  if (!view) {
    log(*kernel_, PDC_LOG_ERROR, "attachment " + std::to_string(a.attachment_id()) + ": " + view.err().what());
    return;
  }
  auto src = std::make_shared<attachment_source>(a.attachment_id(), a.session_id(), std::move(view).value(),
                                                 p.fds[1].release());
  if (auto r = kernel_->adopt_attachment(std::move(src)); !r) {
    log(*kernel_, PDC_LOG_ERROR, "attachment " + std::to_string(a.attachment_id()) + ": " + r.err().what());
  }
}

void kernel_host_process::schedule_stats() {
  stats_timer_.expires_after(std::chrono::milliseconds(stats_interval_ms_));
  stats_timer_.async_wait([this](const std::error_code& ec) {
    if (ec) return;
    send_stats();
    schedule_stats();
  });
}

void kernel_host_process::send_stats() {
  if (!kernel_) return;
  kernel_snapshot s;
  s.latency_metrics = kernel_->params().latency_metrics;
  kernel_->collect_agents(s);
  const std::uint64_t accepted = kernel_->in().accepted();
  const std::uint64_t depth = kernel_->in().depth();
  flatbuffers::FlatBufferBuilder b(1024);
  const auto wait = sparse(b, s.queue_wait);
  const auto proc = sparse(b, s.processing);
  const auto err = b.CreateString(kernel_->last_error());
  host::StatsBuilder sb(b);
  sb.add_messages_in(s.messages_in);
  sb.add_processed(s.processed);
  sb.add_messages_out(s.messages_out);
  sb.add_dropped(s.dropped);
  sb.add_dead_letters(s.dead_letters);
  sb.add_handler_errors(s.handler_errors);
  sb.add_malformed(s.malformed);
  sb.add_inbox_taken(accepted > depth ? accepted - depth : 0);
  sb.add_workers(s.workers);
  sb.add_queue_wait(wait);
  sb.add_processing(proc);
  sb.add_last_error(err);
  const auto body = sb.Finish();
  (void)send_frame(host::Body::Stats, b, body.Union());
}

// ---- kernel_host ----------------------------------------------------------------------------

errc kernel_host_process::deliver(std::uint64_t session_id, kernel& /*from*/, delivery what, const envelope& env,
                                  std::span<const std::byte> payload) {
  flatbuffers::FlatBufferBuilder b(sizeof(envelope) + payload.size() + 128);
  std::uint8_t* out = nullptr;
  const auto bytes = b.CreateUninitializedVector(sizeof(envelope) + payload.size(), &out);
  std::memcpy(out, &env, sizeof env);
  if (!payload.empty()) std::memcpy(out + sizeof env, payload.data(), payload.size());
  const auto d = host::CreateDeliver(b, session_id, static_cast<std::uint8_t>(what), bytes);
  const errc sent = send_frame(host::Body::Deliver, b, d.Union());
  return sent == errc::ok ? errc::ok : errc::full;
}

errc kernel_host_process::route(kernel& /*from*/, std::string_view to, const envelope& env,
                                std::span<const std::byte> payload) {
  flatbuffers::FlatBufferBuilder b(sizeof(envelope) + payload.size() + 128 + to.size());
  const auto name = b.CreateString(to.data(), to.size());
  std::uint8_t* out = nullptr;
  const auto bytes = b.CreateUninitializedVector(sizeof(envelope) + payload.size(), &out);
  std::memcpy(out, &env, sizeof env);
  if (!payload.empty()) std::memcpy(out + sizeof env, payload.data(), payload.size());
  const auto r = host::CreateRoute(b, name, bytes);
  const errc sent = send_frame(host::Body::Route, b, r.Union());
  return sent == errc::ok ? errc::ok : errc::full;
}

void kernel_host_process::log(const kernel& /*k*/, int level, std::string_view text) {
  flatbuffers::FlatBufferBuilder b(128 + text.size());
  const auto t = b.CreateString(text.data(), text.size());
  (void)send_frame(host::Body::Log, b, host::CreateLog(b, level, t).Union());
}

void kernel_host_process::post(std::function<void()> fn) {
  asio::post(io_, std::move(fn));
}

void kernel_host_process::post_after(std::uint64_t delay_ns, std::function<void()> fn) {
  auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::nanoseconds(delay_ns));
  timer->async_wait([timer, fn = std::move(fn)](const std::error_code& ec) {
    if (!ec) fn();
  });
}

bool kernel_host_process::on_control_thread() const noexcept {
  return std::this_thread::get_id() == control_thread_;
}

}  // namespace pdc::daemon
