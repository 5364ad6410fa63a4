#include "isolation/process_executor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/post.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <utility>

#include "pdc/core/clock.hpp"
#include "runtime/kernel.hpp"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

extern char** environ;

namespace pdc::daemon {

namespace {

constexpr int k_host_link_fd = 3;  // where the host finds its end of the link
// A halted host that has not terminated by then is killed.
constexpr std::uint64_t k_halt_grace_ns = 1'000'000'000;

std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) noexcept {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

std::vector<std::uint8_t> finish(flatbuffers::FlatBufferBuilder& b, host::Body type, flatbuffers::Offset<void> body) {
  b.Finish(host::CreateFrame(b, type, body));
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

template <typename Make>
std::vector<std::uint8_t> frame_of(host::Body type, Make make) {
  flatbuffers::FlatBufferBuilder b(256);
  const auto body = make(b);
  return finish(b, type, body.Union());
}

std::string pdcd_folder() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : self.parent_path().string();
}

void read_histogram(const host::Histogram* h, histogram& out) {
  out.reset();
  if (h == nullptr || h->index() == nullptr || h->count() == nullptr) return;
  const auto n = std::min(h->index()->size(), h->count()->size());
  for (flatbuffers::uoffset_t i = 0; i < n; ++i) (void)out.add_bucket(h->index()->Get(i), h->count()->Get(i));
  out.add_extremes(h->min(), h->max(), h->sum());
}

}  // namespace

void host_stats::add(const host_stats& o) noexcept {
  messages_in = sat_add(messages_in, o.messages_in);
  processed = sat_add(processed, o.processed);
  messages_out = sat_add(messages_out, o.messages_out);
  dropped = sat_add(dropped, o.dropped);
  dead_letters = sat_add(dead_letters, o.dead_letters);
  handler_errors = sat_add(handler_errors, o.handler_errors);
  malformed = sat_add(malformed, o.malformed);
  queue_wait.merge(o.queue_wait);
  processing.merge(o.processing);
}

std::string describe_exit(int code, int status) {
  if (code == CLD_EXITED) return "exit code " + std::to_string(status);
  const char* abbrev = ::sigabbrev_np(status);
  std::string name = abbrev != nullptr ? "SIG" + std::string(abbrev) : std::to_string(status);
  return "signal " + name + (code == CLD_DUMPED ? " (core dumped)" : "");
}

process_executor::process_executor(kernel& k, const launch_request& req, const executor_env& env,
                                   const isolation_config& cfg, std::string plugin_path)
    : k_(k),
      req_(req),
      env_(env),
      cfg_(cfg),
      plugin_path_(std::move(plugin_path)),
      restart_timer_(env.io),
      progress_timer_(env.io) {
  host_path_ = cfg_.host_path.empty() ? pdcd_folder() + "/pdc-kernel-host" : cfg_.host_path;
}

process_executor::~process_executor() {
  alive_.reset();
  restart_timer_.cancel();
  progress_timer_.cancel();
  // The daemon is going (or the launch failed): the host goes with it.
  kill_host();
  if (pid_watch_) {
    pid_watch_->cancel();
    (void)pid_watch_->release();
  }
  if (link_watch_) {
    link_watch_->cancel();
    (void)link_watch_->release();
  }
  if (pidfd_ >= 0) {
    siginfo_t info{};
    if (adopted_child_) (void)::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_), &info, WEXITED);
    ::close(pidfd_);
  }
  for (auto& p : outbox_) {
    for (const int fd : p.fds) ::close(fd);
  }
}

// ---- starting a host ---------------------------------------------------------------------

result<void> process_executor::spawn() {
  int pair[2] = {-1, -1};
  if (make_link_pair(pair) != errc::ok) {
    return make_error(errc::system_error, "cannot start a host for kernel '" + req_.kernel_id +
                                              "': socketpair: " + std::string(std::strerror(errno)));
  }
  owned_fd ours(pair[0]);
  // The child's end must not already be fd 3: dup2 onto itself would keep close-on-exec.
  owned_fd theirs(::fcntl(pair[1], F_DUPFD_CLOEXEC, 10));
  ::close(pair[1]);
  if (theirs.get() < 0)
    return make_error(errc::system_error, "cannot start a host: fcntl: " + std::string(std::strerror(errno)));

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, theirs.get(), k_host_link_fd);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Nothing but stdio and the link crosses into the host, even a descriptor
  // some library opened without close-on-exec: a session socket left open
  // there would let the host speak as pdcd and hide pdcd's death from clients.
  posix_spawn_file_actions_addclosefrom_np(&actions, k_host_link_fd + 1);
#endif
  std::string kernel_arg = req_.kernel_id;
  std::string link_arg = std::to_string(k_host_link_fd);
  std::string rendezvous_arg = cfg_.rendezvous_path;
  std::vector<char*> argv{const_cast<char*>(host_path_.c_str()), const_cast<char*>("--link"), link_arg.data(),
                          const_cast<char*>("--kernel"), kernel_arg.data()};
  // In the command line too, so a new pdcd finds the hosts it should expect (/proc).
  if (!rendezvous_arg.empty()) {
    argv.push_back(const_cast<char*>("--rendezvous"));
    argv.push_back(rendezvous_arg.data());
  }
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, host_path_.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return make_error(errc::system_error, "cannot start " + host_path_ + " for kernel '" + req_.kernel_id +
                                              "': " + std::string(std::strerror(rc)));
  }
  // Nobody else reaps pdcd's children: the pid stays ours until waitid.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    const int e = errno;
    ::kill(pid, SIGKILL);
    (void)::waitpid(pid, nullptr, 0);
    return make_error(errc::system_error, "cannot watch the host of kernel '" + req_.kernel_id +
                                              "': pidfd_open: " + std::string(std::strerror(e)));
  }
  (void)::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  pid_ = pid;
  pidfd_ = pidfd;
  link_ = host_link(ours.release());
  started_ns_ = now_ns();
  progress_ns_ = started_ns_;
  stats_ns_ = started_ns_;
  last_ = host_stats{};
  last_processed_ = 0;
  forwarded_ = 0;
  told_state_ = kernel_state::launched;
  told_terminate_ = false;
  told_halt_ = false;
  kill_armed_ = false;
  host_error_.clear();

  send_packet(frame_of(host::Body::Start, [&](flatbuffers::FlatBufferBuilder& b) {
    return encode_start(
        b, host_start{req_, plugin_path_, cfg_.stats_interval_ms, cfg_.rendezvous_path, cfg_.orphan_timeout_ms});
  }));
  return ok();
}

result<void> process_executor::take_over(host_link link, pid_t pid, kernel_state host_state) {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    return make_error(errc::system_error, "cannot watch host pid " + std::to_string(pid) +
                                              ": pidfd_open: " + std::string(std::strerror(errno)));
  }
  (void)::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  pid_ = pid;
  pidfd_ = pidfd;
  link_ = std::move(link);
  adopting_ = true;
  adopted_child_ = false;
  started_ns_ = now_ns();
  progress_ns_ = started_ns_;
  stats_ns_ = started_ns_;
  told_state_ = host_state;
  return ok();
}

void process_executor::adopted() {
  adopting_ = false;
  send_packet(frame_of(host::Body::Adopted, [](auto& b) { return host::CreateAdopted(b); }));
  send_targets();
  sync();
}

result<void> process_executor::start() {
  if (adopting_) {
    health_ = health::running;
    watch();
    return ok();
  }
  if (auto spawned = spawn(); !spawned) return spawned;
  // The launch is answered once the host ran create(): wait for it here, as
  // an in-process launch waits for create() (bounded by start_timeout_ms).
  const deadline until = deadline::after_ns(std::int64_t{cfg_.start_timeout_ms} * 1'000'000);
  for (;;) {
    const std::uint64_t left = until.remaining_ns();
    if (left == 0) {
      kill_host();
      on_host_exit();
      return make_error(errc::timeout, "the host of kernel '" + req_.kernel_id + "' did not start within " +
                                           std::to_string(cfg_.start_timeout_ms) +
                                           " ms ([isolation] start_timeout_ms)");
    }
    pollfd fds[2] = {{link_.fd(), POLLIN, 0}, {pidfd_, POLLIN, 0}};
    const int n = ::poll(fds, 2, static_cast<int>(std::min<std::uint64_t>(left / 1'000'000 + 1, INT_MAX)));
    if (n < 0 && errno != EINTR) return make_error(errc::system_error, "poll: " + std::string(std::strerror(errno)));
    bool gone = (fds[1].revents & POLLIN) != 0;
    for (;;) {
      link_packet p;
      const errc got = link_.receive(p);
      if (got == errc::empty) break;
      if (got != errc::ok) {
        gone = true;
        break;
      }
      const auto& f = p.frame();
      if (f.body_type() == host::Body::Ready) {
        health_ = health::running;
        watch();
        return ok();
      }
      if (f.body_type() == host::Body::Failed) {
        const auto* failed = f.body_as_Failed();
        const std::string why = failed->reason() != nullptr ? failed->reason()->str() : "the host failed";
        kill_host();
        on_host_exit();
        return make_error(
            errc_from_int(failed->code()) == errc::internal ? errc::plugin_error : errc_from_int(failed->code()), why);
      }
      on_packet(p);  // a log line from create(), say
    }
    if (gone) {
      kill_host();
      const std::string how = last_exit_;
      on_host_exit();
      return make_error(errc::plugin_error, "the host of kernel '" + req_.kernel_id + "' ended before it was ready (" +
                                                (last_exit_.empty() ? how : last_exit_) + ")");
    }
  }
}

void process_executor::watch() {
  link_watch_ = std::make_unique<asio::posix::stream_descriptor>(env_.io, link_.fd());
  pid_watch_ = std::make_unique<asio::posix::stream_descriptor>(env_.io, pidfd_);
  const std::weak_ptr<int> alive = alive_;
  pid_watch_->async_wait(asio::posix::stream_descriptor::wait_read, [this, alive](const std::error_code& ec) {
    if (alive.expired() || ec) return;
    on_host_exit();
  });
  on_link_readable();
  check_progress();
}

void process_executor::on_link_readable() {
  if (!link_watch_) return;
  for (int i = 0; i < 64; ++i) {  // bounded work per turn; the rest next turn
    link_packet p;
    const errc got = link_.receive(p);
    if (got == errc::empty) break;
    if (got == errc::protocol_error) {
      env_.host.log(k_, PDC_LOG_ERROR, "its host sent a packet that is not a host-link frame; killing the host");
      kill_host();
      return;
    }
    if (got != errc::ok) return;  // the host is gone: its pidfd says how
    on_packet(p);
  }
  const std::weak_ptr<int> alive = alive_;
  link_watch_->async_wait(asio::posix::stream_descriptor::wait_read, [this, alive](const std::error_code& ec) {
    if (alive.expired() || ec) return;
    on_link_readable();
  });
}

void process_executor::host_ready(std::int32_t /*pid*/) {
  health_ = health::running;
  if (lost_ns_ != 0) {
    recovery_ns_ = now_ns() - lost_ns_;
    lost_ns_ = 0;
  }
  env_.host.log(k_, PDC_LOG_INFO,
                "host restarted (pid " + std::to_string(pid_) + ", restart " + std::to_string(restarts_) + ", " +
                    std::to_string(recovery_ns_ / 1'000'000) + " ms after the crash)");
  // The new host gets what the old one had: outputs, attachments, then the gate.
  send_targets();
  for (const auto& [aid, src] : attachments_) send_attach(*src);
  sync();
}

// ---- packets from the host ------------------------------------------------------------------

void process_executor::on_packet(const link_packet& p) {
  const auto& f = p.frame();
  switch (f.body_type()) {
    case host::Body::Ready:
      if (health_ == health::starting) host_ready(f.body_as_Ready()->pid());
      return;
    case host::Body::Failed: {
      const auto* failed = f.body_as_Failed();
      host_error_ = failed->reason() != nullptr ? failed->reason()->str() : "the host failed";
      env_.host.log(k_, PDC_LOG_ERROR, host_error_);
      return;  // it exits next; its pidfd starts the restart
    }
    case host::Body::Deliver: {
      const auto* d = f.body_as_Deliver();
      if (d->message() == nullptr || d->what() > static_cast<std::uint8_t>(delivery::error)) return;
      const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(d->message()->data()),
                                             d->message()->size());
      envelope env;
      if (!read_envelope(bytes, env)) return;
      const auto what = static_cast<delivery>(d->what());
      if (what != delivery::output) {
        for (auto it = awaiting_.begin(); it != awaiting_.end(); ++it) {
          if (it->first == d->session_id() && it->second == env.correlation_id()) {
            awaiting_.erase(it);
            break;
          }
        }
      }
      (void)env_.host.deliver(d->session_id(), k_, what, env, bytes.subspan(sizeof(envelope)));
      return;
    }
    case host::Body::Route: {
      const auto* r = f.body_as_Route();
      if (r->message() == nullptr || r->to() == nullptr) return;
      const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(r->message()->data()),
                                             r->message()->size());
      envelope env;
      if (!read_envelope(bytes, env)) return;
      (void)env_.host.route(k_, r->to()->string_view(), env, bytes.subspan(sizeof(envelope)));
      return;
    }
    case host::Body::Log: {
      const auto* l = f.body_as_Log();
      if (l->text() != nullptr) env_.host.log(k_, l->level(), l->text()->string_view());
      return;
    }
    case host::Body::Stats: {
      const auto* s = f.body_as_Stats();
      last_.messages_in = s->messages_in();
      last_.processed = s->processed();
      last_.messages_out = s->messages_out();
      last_.dropped = s->dropped();
      last_.dead_letters = s->dead_letters();
      last_.handler_errors = s->handler_errors();
      last_.malformed = s->malformed();
      last_.inbox_taken = s->inbox_taken();
      last_.workers = s->workers();
      read_histogram(s->queue_wait(), last_.queue_wait);
      read_histogram(s->processing(), last_.processing);
      if (s->last_error() != nullptr && s->last_error()->size() != 0 && s->last_error()->str() != host_error_) {
        host_error_ = s->last_error()->str();
        k_.set_error(host_error_);
      }
      const std::uint64_t now = now_ns();
      stats_ns_ = now;
      if (last_.processed != last_processed_ || last_.inbox_taken != 0) {
        if (last_.processed != last_processed_) progress_ns_ = now;
        last_processed_ = last_.processed;
      }
      pump();  // the host took some: the window has room again
      return;
    }
    case host::Body::Terminated:
      return;  // its exit follows; the pidfd finishes the stop
    default:
      env_.host.log(k_, PDC_LOG_WARN, "its host sent an unexpected frame; ignored");
      return;
  }
}

// ---- a host that ended ----------------------------------------------------------------------

void process_executor::on_host_exit() {
  if (pidfd_ < 0) return;
  siginfo_t info{};
  if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_), &info, WEXITED) == 0) {
    last_exit_ = describe_exit(info.si_code, info.si_status);
  } else if (!adopted_child_) {
    last_exit_ = "an end this pdcd cannot see (the host was adopted from the pdcd before)";
    adopted_child_ = true;  // the next host is our own child
  } else {
    last_exit_ = "unknown (" + std::string(std::strerror(errno)) + ")";
  }
  if (pid_watch_) {
    pid_watch_->cancel();
    (void)pid_watch_->release();
    pid_watch_.reset();
  }
  if (link_watch_) {
    link_watch_->cancel();
    (void)link_watch_->release();
    link_watch_.reset();
  }
  ::close(pidfd_);
  pidfd_ = -1;
  const pid_t was = pid_;
  pid_ = 0;
  link_.close();
  for (auto& p : outbox_) {
    for (const int fd : p.fds) ::close(fd);
  }
  outbox_.clear();
  write_waiting_ = false;
  retired_.add(last_);
  last_ = host_stats{};
  const bool ended_by_request = told_terminate_ || health_ == health::stopped;
  if (ended_by_request && stopped_) {
    health_ = health::stopped;
    awaiting_.clear();
    if (auto done = std::exchange(stopped_, nullptr)) done();
    return;
  }
  if (health_ == health::starting && restarts_ == 0 && lost_ns_ == 0) return;  // start() reports it
  host_lost("host (pid " + std::to_string(was) + ") ended by " + last_exit_);
}

void process_executor::host_lost(const std::string& how) {
  lost_ns_ = now_ns();
  env_.host.log(k_, PDC_LOG_ERROR, how + (host_error_.empty() ? "" : " after: " + host_error_));
  k_.set_error(how);
  health_ = health::restarting;
  fail_in_flight();
  // The budget: restarts within the window.
  const std::uint64_t window_ns = std::uint64_t{cfg_.restart_window_ms} * 1'000'000;
  while (!restart_times_.empty() && lost_ns_ - restart_times_.front() > window_ns) restart_times_.pop_front();
  if (restart_times_.size() >= cfg_.max_restarts) {
    become_failed("kernel '" + req_.kernel_id + "' failed: its host ended " +
                  std::to_string(restart_times_.size() + 1) + " times within " +
                  std::to_string(cfg_.restart_window_ms) + " ms (last: " + last_exit_ +
                  "); terminate it and launch it again");
    return;
  }
  schedule_restart();
}

void process_executor::fail_in_flight() {
  // Attachments: whatever the dead host had read is lost. Take over the
  // rings' daemon ends (nobody serves them now), drop what waits, and tell
  // the client with one notice in its reply ring.
  for (const auto& [aid, src] : attachments_) {
    auto& view = src->view;
    if (auto synced = view.resync(); !synced) {
      env_.host.log(k_, PDC_LOG_WARN, "attachment " + std::to_string(aid) + ": " + synced.err().what() + "; closed");
      view.close(static_cast<std::uint32_t>(errc::corrupt_segment));
      continue;
    }
    // The notice carries the time of the discard: a request stamped later
    // reached the new host (libpdc's request() waits on for its answer).
    const std::uint64_t discarded_ns = now_ns();
    (void)view.discard_requests();
    const std::string text = std::string(name_of(errc::kernel_restarted)) + ": the host of kernel '" + req_.kernel_id +
                             "' ended (" + last_exit_ + "); requests sent before this were lost";
    const auto env = make_envelope(0, static_cast<std::uint32_t>(text.size()), discarded_ns, 0,
                                   reply_address::attachment(aid).token(), 0,
                                   k_envelope_flag_reply | k_envelope_flag_error | k_envelope_flag_restarted);
    auto slot = view.replies().try_reserve(sizeof(envelope) + text.size());
    if (slot) {
      std::memcpy(slot.bytes.data(), &env, sizeof env);
      std::memcpy(slot.bytes.data() + sizeof env, text.data(), text.size());
      view.replies().commit();
    }
  }
  // Socket senders still waiting for an answer from the dead host.
  for (const auto& [session, message_id] : awaiting_) {
    k_.fail_sender(reply_address::session(session), message_id, errc::kernel_restarted,
                   "the host of kernel '" + req_.kernel_id + "' ended (" + last_exit_ + ") before answering");
  }
  awaiting_.clear();
}

std::uint32_t process_executor::backoff_ms() const noexcept {
  // The first restart in the window is immediate (a one-off crash costs one
  // start-up); then backoff_initial_ms, doubling up to backoff_max_ms.
  if (restart_times_.empty()) return 0;
  std::uint64_t ms = cfg_.backoff_initial_ms;
  for (std::size_t i = 1; i < restart_times_.size() && ms < cfg_.backoff_max_ms; ++i) ms *= 2;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(ms, cfg_.backoff_max_ms));
}

void process_executor::schedule_restart() {
  const std::uint32_t wait = backoff_ms();
  if (wait == 0) {
    env_.host.log(k_, PDC_LOG_WARN, "restarting its host");
    restart_now();
    return;
  }
  env_.host.log(k_, PDC_LOG_WARN, "restarting its host in " + std::to_string(wait) + " ms");
  restart_timer_.expires_after(std::chrono::milliseconds(wait));
  const std::weak_ptr<int> alive = alive_;
  restart_timer_.async_wait([this, alive](const std::error_code& ec) {
    if (alive.expired() || ec) return;
    restart_now();
  });
}

void process_executor::restart_now() {
  if (health_ != health::restarting) return;
  restart_times_.push_back(now_ns());
  ++restarts_;
  health_ = health::starting;
  if (auto spawned = spawn(); !spawned) {
    health_ = health::restarting;
    env_.host.log(k_, PDC_LOG_ERROR, spawned.err().what());
    if (restart_times_.size() > cfg_.max_restarts) {
      become_failed("kernel '" + req_.kernel_id + "' failed: " + spawned.err().what());
      return;
    }
    schedule_restart();
    return;
  }
  // Ready arrives on the link; a host that never gets there is killed.
  watch();
  const std::weak_ptr<int> alive = alive_;
  const pid_t pid = pid_;
  restart_timer_.expires_after(std::chrono::milliseconds(cfg_.start_timeout_ms));
  restart_timer_.async_wait([this, alive, pid](const std::error_code& ec) {
    if (alive.expired() || ec) return;
    if (health_ == health::starting && pid_ == pid) {
      env_.host.log(k_, PDC_LOG_ERROR, "its new host did not start within the start timeout; killing it");
      kill_host();
    }
  });
}

void process_executor::become_failed(const std::string& why) {
  health_ = health::failed;
  env_.host.log(k_, PDC_LOG_ERROR, why);
  k_.set_error(why);
  // Nothing will serve them: clients hear it at once rather than at their timeouts.
  for (const auto& [aid, src] : attachments_) src->view.close(static_cast<std::uint32_t>(errc::plugin_error));
  fail_waiting(errc::plugin_error, why);
}

void process_executor::fail_waiting(errc code, const std::string& why) {
  for (std::size_t i = 0; i < k_.in().capacity() + 1; ++i) {
    auto m = k_.in().pop();
    if (!m) break;
    k_.fail_sender(m->from, m->env.message_id(), code, why);
  }
  if (k_.in().space_wanted()) k_.in().notify_space();
}

void process_executor::kill_host() noexcept {
  if (pidfd_ >= 0) (void)::syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
}

// ---- the kernel's side ------------------------------------------------------------------------

void process_executor::notify() noexcept {
  if (env_.host.on_control_thread()) {
    sync();
    return;
  }
  const std::weak_ptr<int> alive = alive_;
  env_.host.post([this, alive] {
    if (!alive.expired()) sync();
  });
}

void process_executor::sync() {
  if (health_ == health::failed) {
    fail_waiting(errc::plugin_error, k_.last_error());
    return;
  }
  if (health_ != health::running) return;
  const kernel_state s = k_.state();
  if ((s == kernel_state::active || s == kernel_state::deactivated) && s != told_state_ && !told_terminate_) {
    send_packet(s == kernel_state::active
                    ? frame_of(host::Body::Activate, [](auto& b) { return host::CreateActivate(b); })
                    : frame_of(host::Body::Deactivate, [](auto& b) { return host::CreateDeactivate(b); }));
    told_state_ = s;
  }
  pump();
  // Terminate once everything queued here went over (a drain), or at once (a drop).
  if (k_.stopping() && (!told_terminate_ || (k_.halted() && !told_halt_))) {
    const bool drop = k_.halted();
    if (drop || k_.in().depth() == 0) {
      send_packet(frame_of(host::Body::Terminate, [&](auto& b) {
        return host::CreateTerminate(b, drop, UINT32_MAX, static_cast<std::int32_t>(k_.stop_reason()));
      }));
      told_terminate_ = true;
      told_halt_ = drop;
    }
  }
  if (k_.halted() && !kill_armed_) {
    // A host that does not finish after the halt is in a handler that does not return.
    kill_armed_ = true;
    const std::weak_ptr<int> alive = alive_;
    const pid_t pid = pid_;
    auto timer = std::make_shared<asio::steady_timer>(env_.io, std::chrono::nanoseconds(k_halt_grace_ns));
    timer->async_wait([this, alive, pid, timer](const std::error_code& ec) {
      if (alive.expired() || ec || pid_ != pid) return;
      env_.host.log(k_, PDC_LOG_WARN, "its host did not finish after the halt; killing it");
      kill_host();
    });
  }
}

void process_executor::pump() {
  if (health_ != health::running || !k_.gate_open() || k_.halted() || told_terminate_) return;
  // The host's inbox has the same capacity: never send more than it can hold.
  const std::uint64_t window = k_.in().capacity();
  bool took = false;
  while (forwarded_ - std::min(forwarded_, last_.inbox_taken) < window && outbox_.size() < 1024) {
    auto m = k_.in().pop();
    if (!m) break;
    took = true;
    flatbuffers::FlatBufferBuilder b(sizeof(envelope) + m->payload.size() + 128);
    std::uint8_t* out = nullptr;
    const auto bytes = b.CreateUninitializedVector(sizeof(envelope) + m->payload.size(), &out);
    std::memcpy(out, &m->env, sizeof(envelope));
    if (!m->payload.empty()) std::memcpy(out + sizeof(envelope), m->payload.data(), m->payload.size());
    const std::uint64_t session = m->from.to == reply_address::kind::session ? m->from.id : 0;
    const auto msg = host::CreateMessage(b, bytes, session);
    send_packet(finish(b, host::Body::Message, msg.Union()));
    ++forwarded_;
    if (session != 0 && (m->env.flags() & k_envelope_flag_no_reply) == 0) {
      awaiting_.emplace_back(session, m->env.message_id());
      if (awaiting_.size() > window) awaiting_.pop_front();
    }
  }
  if (took && k_.in().space_wanted()) k_.in().notify_space();
}

void process_executor::send_packet(std::vector<std::uint8_t> bytes, std::vector<int> fds) {
  if (!outbox_.empty() || !link_.open()) {
    outbox_.push_back({std::move(bytes), std::move(fds)});
    if (link_.open()) flush_outbox();
    return;
  }
  const errc sent = link_.send(bytes, fds);
  if (sent == errc::full) {
    outbox_.push_back({std::move(bytes), std::move(fds)});
    flush_outbox();
    return;
  }
  for (const int fd : fds) ::close(fd);  // sent (the host has its own copies) or the host is gone
}

void process_executor::flush_outbox() {
  while (!outbox_.empty()) {
    auto& p = outbox_.front();
    const errc sent = link_.send(p.bytes, p.fds);
    if (sent == errc::full) break;
    for (const int fd : p.fds) ::close(fd);
    outbox_.pop_front();
  }
  if (outbox_.empty() || write_waiting_ || !link_watch_) return;
  write_waiting_ = true;
  const std::weak_ptr<int> alive = alive_;
  link_watch_->async_wait(asio::posix::stream_descriptor::wait_write, [this, alive](const std::error_code& ec) {
    if (alive.expired()) return;
    write_waiting_ = false;
    if (ec) return;
    flush_outbox();
    pump();
  });
}

void process_executor::send_attach(const attachment_source& src) {
  const int seg = ::fcntl(src.view.seg().fd(), F_DUPFD_CLOEXEC, 0);
  const int wake = ::fcntl(src.wake_fd, F_DUPFD_CLOEXEC, 0);
  // The reply wake-up socket is optional: without it the host wakes event-loop clients by futex only.
  const int reply_wake = src.reply_wake_fd >= 0 ? ::fcntl(src.reply_wake_fd, F_DUPFD_CLOEXEC, 0) : -1;
  if (seg < 0 || wake < 0 || (src.reply_wake_fd >= 0 && reply_wake < 0)) {
    if (seg >= 0) ::close(seg);
    if (wake >= 0) ::close(wake);
    if (reply_wake >= 0) ::close(reply_wake);
    env_.host.log(
        k_, PDC_LOG_ERROR,
        "cannot hand attachment " + std::to_string(src.id) + " to its host: " + std::string(std::strerror(errno)));
    return;
  }
  std::vector<int> fds{seg, wake};
  if (reply_wake >= 0) fds.push_back(reply_wake);
  send_packet(frame_of(host::Body::Attach, [&](auto& b) { return host::CreateAttach(b, src.id, src.session_id); }),
              std::move(fds));
}

void process_executor::send_targets() {
  const auto t = k_.outs().snapshot();
  send_packet(frame_of(host::Body::Targets, [&](flatbuffers::FlatBufferBuilder& b) {
    const auto sessions = b.CreateVector(t->sessions);
    const auto kernels = b.CreateVectorOfStrings(t->kernels);
    return host::CreateTargets(b, sessions, kernels);
  }));
}

result<void> process_executor::adopt(std::shared_ptr<attachment_source> src) {
  if (health_ == health::running && !adopting_) send_attach(*src);
  attachments_.emplace(src->id, std::move(src));
  return ok();
}

void process_executor::release(std::uint64_t attachment_id) noexcept {
  attachments_.erase(attachment_id);
  if (health_ == health::running) {
    send_packet(frame_of(host::Body::Detach, [&](auto& b) { return host::CreateDetach(b, attachment_id); }));
  }
}

void process_executor::targets_changed() {
  if (health_ == health::running) send_targets();
}

result<void> process_executor::serviceable() const {
  if (health_ == health::failed) return make_error(errc::plugin_error, k_.last_error());
  return ok();
}

void process_executor::stop(std::function<void()> stopped) {
  stopped_ = std::move(stopped);
  if (health_ != health::running && health_ != health::starting) {
    // No host to stop (it is between restarts, or failed).
    restart_timer_.cancel();
    health_ = health::stopped;
    const std::weak_ptr<int> alive = alive_;
    env_.host.post([this, alive] {
      if (alive.expired()) return;
      if (auto done = std::exchange(stopped_, nullptr)) done();
    });
    return;
  }
  sync();
}

void process_executor::collect(kernel_snapshot& s) const {
  host_stats all = retired_;
  all.add(last_);
  s.workers = last_.workers;
  s.messages_in += all.messages_in;
  s.messages_out += all.messages_out;
  s.processed += all.processed;
  s.dropped += all.dropped;
  s.dead_letters += all.dead_letters;
  s.handler_errors += all.handler_errors;
  s.malformed += all.malformed;
  // Messages forwarded and not yet taken by the host wait too.
  s.queue_depth += forwarded_ - std::min(forwarded_, last_.inbox_taken);
  if (s.latency_metrics) {
    s.queue_wait.merge(all.queue_wait);
    s.processing.merge(all.processing);
  }
  s.host_pid = pid_;
  s.restarts = restarts_;
  s.last_exit = last_exit_;
  s.recovery_ns = recovery_ns_;
  if (s.state != kernel_state::terminating && s.state != kernel_state::terminated) {
    if (health_ == health::restarting || (health_ == health::starting && restarts_ > 0))
      s.state = kernel_state::restarting;
    if (health_ == health::failed) s.state = kernel_state::failed;
  }
}

// ---- progress -----------------------------------------------------------------------------------

bool process_executor::work_waits() const {
  if (forwarded_ > last_.inbox_taken) return true;
  for (const auto& [aid, src] : attachments_) {
    const auto& ctl = src->view.request_control();
    if (ctl.write_pos.load(std::memory_order_relaxed) != ctl.read_pos.load(std::memory_order_relaxed)) return true;
  }
  return false;
}

void process_executor::check_progress() {
  if (cfg_.hang_timeout_ms == 0) return;
  const std::weak_ptr<int> alive = alive_;
  progress_timer_.expires_after(std::chrono::milliseconds(std::max<std::uint32_t>(cfg_.hang_timeout_ms / 4, 10)));
  progress_timer_.async_wait([this, alive](const std::error_code& ec) {
    if (alive.expired() || ec) return;
    if (health_ == health::running && k_.state() == kernel_state::active) {
      const std::uint64_t now = now_ns();
      const std::uint64_t limit = std::uint64_t{cfg_.hang_timeout_ms} * 1'000'000;
      const bool silent = now - stats_ns_ > limit;
      const bool stalled = work_waits() && now - progress_ns_ > limit;
      if (silent || stalled) {
        env_.host.log(k_, PDC_LOG_ERROR,
                      std::string("its host ") +
                          (silent ? "has not reported" : "has made no progress while messages wait") + " for " +
                          std::to_string(cfg_.hang_timeout_ms) + " ms ([isolation] hang_timeout_ms); killing it");
        kill_host();
        return;
      }
      if (!work_waits()) progress_ns_ = now;  // idle is not a hang
    }
    check_progress();
  });
}

result<std::unique_ptr<executor>> make_process_executor(kernel& k, const launch_request& req, const executor_env& env,
                                                        const isolation_config& cfg, const std::string& plugin_path) {
  if (!req.pool.empty()) {
    return make_error(errc::not_supported, "kernel '" + req.kernel_id +
                                               "': a named pool runs inside pdcd; isolation = process needs a "
                                               "private pool (omit --pool)");
  }
  return std::unique_ptr<executor>(std::make_unique<process_executor>(k, req, env, cfg, plugin_path));
}

}  // namespace pdc::daemon
