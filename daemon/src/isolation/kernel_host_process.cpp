#include "isolation/kernel_host_process.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <asio/post.hpp>
#include <cstring>

#include "isolation/confinement.hpp"
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
    if (got == errc::peer_gone && kernel_ && !start_.rendezvous.empty()) {
      // pdcd is gone: the attachments are served still, and the next pdcd adopts this host.
      orphaned();
      return;
    }
    if (got != errc::ok) {
      // pdcd is gone (or sent garbage) and nobody can adopt the kernel: it goes with it.
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
  if (adopting_) {
    if (f.body_type() == host::Body::Adopted) {
      adopting_ = false;
      spdlog::info("adopted by the new pdcd");
      schedule_stats();
    } else if (f.body_type() == host::Body::Refused) {
      const auto* r = f.body_as_Refused();
      spdlog::error("the new pdcd refused to adopt the kernel ({}); terminating it",
                    r->reason() != nullptr ? r->reason()->str() : "no reason given");
      kernel_->terminate(true, 0, [this](result<void>) { finish(0); });
    }
    return;
  }
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
      if (t->reason() == static_cast<std::int32_t>(errc::daemon_stopping))
        kernel_->set_stop_reason(errc::daemon_stopping);
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
  auto decoded = decode_start(s);
  if (!decoded) {
    fail(decoded.code(), decoded.err().what());
    return;
  }
  start_ = std::move(decoded).value();
  stats_interval_ms_ = start_.stats_interval_ms;
  launch_request req = start_.req;
  req.isolation = kernel_isolation::none;  // in here, it runs in this process
  // Confined before the plugin is loaded: its constructors run confined too.
  if (auto confined = confine(start_.req.confinement); !confined) {
    fail(confined.code(), "kernel '" + req.kernel_id + "': cannot confine its host: " + confined.err().what());
    return;
  }
  const std::string& path = start_.plugin_path;
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
  if (!kernel_ || p.fds.size() < 2 || p.fds.size() > 3) return;
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
  const int reply_wake = p.fds.size() == 3 ? p.fds[2].release() : -1;
  auto src = std::make_shared<attachment_source>(a.attachment_id(), a.session_id(), std::move(view).value(),
                                                 p.fds[1].release(), reply_wake);
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

// ---- a host whose pdcd is gone ----------------------------------------------------------

void kernel_host_process::orphaned() {
  stats_timer_.cancel();
  (void)watch_.release();
  link_.close();
  spdlog::warn("pdcd is gone; serving the attachments still, and waiting for a pdcd at {}", start_.rendezvous);
  reconnect_delay_ms_ = 50;
  orphaned_ns_ = now_ns();
  schedule_reconnect();
}

void kernel_host_process::schedule_reconnect() {
  stats_timer_.expires_after(std::chrono::milliseconds(reconnect_delay_ms_));
  stats_timer_.async_wait([this](const std::error_code& ec) {
    if (ec) return;
    const std::uint64_t limit = std::uint64_t{start_.orphan_timeout_ms} * 1'000'000;
    if (limit != 0 && now_ns() - orphaned_ns_ > limit) {
      spdlog::warn("no pdcd came back within {} ms ([isolation] orphan_timeout_ms); terminating the kernel",
                   start_.orphan_timeout_ms);
      kernel_->terminate(true, 0, [this](result<void>) { finish(0); });
      return;
    }
    if (!reconnect()) {
      reconnect_delay_ms_ = std::min<std::uint32_t>(reconnect_delay_ms_ * 2, 1000);
      schedule_reconnect();
    }
  });
}

bool kernel_host_process::reconnect() {
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (start_.rendezvous.size() >= sizeof addr.sun_path) {
    ::close(fd);
    return false;
  }
  std::memcpy(addr.sun_path, start_.rendezvous.c_str(), start_.rendezvous.size() + 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return false;
  }
  link_ = host_link(fd);
  // Who we are and what we serve: the Start we were given, our state, then each attachment with its descriptors.
  {
    flatbuffers::FlatBufferBuilder b(1024);
    const auto st = encode_start(b, start_);
    const auto adopt =
        host::CreateAdopt(b, st, static_cast<std::int32_t>(::getpid()), static_cast<std::uint8_t>(kernel_->state()));
    if (send_frame(host::Body::Adopt, b, adopt.Union()) != errc::ok) {
      link_.close();
      return false;
    }
  }
  bool sent = true;
  kernel_->for_each_attachment([&](const attachment_source& src) {
    const int seg = ::fcntl(src.view.seg().fd(), F_DUPFD_CLOEXEC, 0);
    const int wake = ::fcntl(src.wake_fd, F_DUPFD_CLOEXEC, 0);
    const int reply_wake = src.reply_wake_fd >= 0 ? ::fcntl(src.reply_wake_fd, F_DUPFD_CLOEXEC, 0) : -1;
    flatbuffers::FlatBufferBuilder b(128);
    b.Finish(host::CreateFrame(b, host::Body::Attach, host::CreateAttach(b, src.id, src.session_id).Union()));
    const int fds[3] = {seg, wake, reply_wake};
    const std::span<const int> passed(fds, reply_wake >= 0 ? 3 : 2);
    if (seg < 0 || wake < 0 || link_.send({b.GetBufferPointer(), b.GetSize()}, passed) != errc::ok) sent = false;
    for (const int passed_fd : fds) {
      if (passed_fd >= 0) ::close(passed_fd);
    }
  });
  flatbuffers::FlatBufferBuilder b(64);
  if (!sent || send_frame(host::Body::AdoptDone, b, host::CreateAdoptDone(b).Union()) != errc::ok) {
    link_.close();
    return false;
  }
  adopting_ = true;
  watch_.assign(link_.fd());
  read_link();
  return true;
}

bool kernel_host_process::on_control_thread() const noexcept {
  return std::this_thread::get_id() == control_thread_;
}

}  // namespace pdc::daemon
