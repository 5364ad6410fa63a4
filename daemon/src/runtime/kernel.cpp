#include "runtime/kernel.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cstring>
#include <utility>

#include "pdc/core/clock.hpp"

namespace pdc::daemon {

namespace {
constexpr std::uint64_t k_default_ring_bytes = 1 << 20;
constexpr std::uint64_t k_max_ring_bytes = 64ULL << 20;
// Message ids of the kernel's own error replies (agents number theirs below this range).
constexpr std::uint64_t k_control_output_ids = 0xffULL << 48;

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}
}  // namespace

std::uint64_t next_attachment_id() noexcept {
  // From the monotonic clock in microseconds: a pdcd that adopts the hosts of
  // the one before never hands out an id that one did.
  static std::atomic<std::uint64_t> next{now_ns() / 1000 + 1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

kernel::kernel(launch_request params, kernel_type_ref type, kernel_host& host, access_list access)
    : params_(std::move(params)),
      type_(std::move(type)),
      host_(host),
      control_ctx_{this, nullptr},
      inbox_(params_.capacity, params_.policy),
      access_(std::move(access)) {
  outputs_.on_change([this] {
    if (exec_) exec_->targets_changed();
  });
}

kernel::~kernel() {
  // A kernel is destroyed after its terminate finished, after a failed
  // launch, or when the daemon exits: in the last case stop what still runs.
  if (exec_) {
    stopping_.store(true, std::memory_order_seq_cst);
    halt();
    if (exec_->state_still_in_use()) created_ = false;  // leave it to the process's exit
    exec_.reset();                                      // joins its threads: they see the halt between messages
  }
  if (created_ && type_->type.destroy != nullptr) type_->type.destroy(plugin_state_);
}

std::uint64_t kernel::uptime_ns() const noexcept {
  return started_ns_ == 0 ? 0 : now_ns() - started_ns_;
}

bool kernel::take_log_line(std::uint64_t now, std::uint64_t& suppressed) const {
  std::lock_guard lock(log_mu_);
  if (now - log_window_ns_ >= 1'000'000'000) {
    log_window_ns_ = now;
    log_lines_ = 0;
  }
  if (log_lines_ >= k_log_lines_per_second) {
    ++log_suppressed_;
    return false;
  }
  ++log_lines_;
  suppressed = std::exchange(log_suppressed_, 0);
  return true;
}

void kernel::set_error(std::string text) {
  // Kept short: it travels in every status and list page.
  constexpr std::size_t k_max_error_bytes = 1024;
  if (text.size() > k_max_error_bytes) {
    text.resize(k_max_error_bytes - 3);
    text += "...";
  }
  std::lock_guard lock(error_mu_);
  last_error_ = std::move(text);
}

std::string kernel::last_error() const {
  std::lock_guard lock(error_mu_);
  return last_error_;
}

void kernel::halt() noexcept {
  // SYNC: kernel_halted — seq_cst store, then notify() loads each doorbell's
  // `parked` (Dekker with the agents' park, as every state change).
  halted_.store(true, std::memory_order_seq_cst);
  if (exec_) exec_->notify();
}

// ---- lifecycle (control thread) ---------------------------------------------------------

result<void> kernel::launch(std::unique_ptr<executor> exec) {
  auto next = transition(id(), state(), kernel_op::launch);
  if (!next) return std::move(next).err();
  if (exec->runs_plugin() && type_->type.create != nullptr) {
    set_error({});
    int rc = PDC_E_PLUGIN;
    try {
      rc = type_->type.create(&control_ctx_, params_.config.c_str(), &plugin_state_);
    } catch (...) {
      rc = PDC_E_PLUGIN;  // a C++ plugin that let an exception escape
    }
    if (rc != PDC_OK) {
      const errc code = rc == INT_MIN || rc > 0 ? errc::plugin_error : errc_from_int(-rc);
      std::string why = "create() of kernel type '" + type_->name + "' failed for kernel '" + id() + "' (" +
                        std::string(to_string(code)) + ")";
      const auto detail = last_error();
      if (!detail.empty()) why += ": " + detail;
      return make_error(errc::plugin_error, why);
    }
  }
  created_ = exec->runs_plugin();
  exec_ = std::move(exec);
  if (auto started = exec_->start(); !started) {
    exec_.reset();
    if (created_ && type_->type.destroy != nullptr) type_->type.destroy(plugin_state_);
    created_ = false;
    plugin_state_ = nullptr;
    return started;
  }
  started_ns_ = now_ns();
  state_.store(*next, std::memory_order_seq_cst);
  return ok();
}

result<void> kernel::activate() {
  auto next = transition(id(), state(), kernel_op::activate);
  if (!next) return std::move(next).err();
  // SYNC: kernel_state — seq_cst store, then notify() loads each doorbell's
  // `parked` (Dekker pair with the agents' park): a parked agent is woken.
  state_.store(*next, std::memory_order_seq_cst);
  exec_->notify();
  return ok();
}

result<void> kernel::deactivate() {
  auto next = transition(id(), state(), kernel_op::deactivate);
  if (!next) return std::move(next).err();
  state_.store(*next, std::memory_order_seq_cst);
  exec_->notify();
  return ok();
}

void kernel::terminate(bool drop, std::uint64_t timeout_ns, std::function<void(result<void>)> done) {
  auto next = transition(id(), state(), kernel_op::terminate);
  if (!next) {
    done(std::move(next).err());
    return;
  }
  terminate_done_ = std::move(done);
  // Terminating: the gate stays open so the agents drain what is queued,
  // and the inbox refuses anything new.
  state_.store(*next, std::memory_order_seq_cst);
  inbox_.close();
  // SYNC: kernel_stopping — seq_cst store, then the notify() below (as kernel_state).
  stopping_.store(true, std::memory_order_seq_cst);
  if (drop) {
    halt();
    watch_for_stuck();
  } else {
    drain_until(timeout_ns);
  }
  const std::weak_ptr<kernel> self = weak_from_this();
  exec_->stop([self] {
    if (auto k = self.lock()) k->finish_terminate();
  });
  exec_->notify();
}

void kernel::drain_until(std::uint64_t timeout_ns) {
  host_.post_after(timeout_ns, [self = weak_from_this()] {
    auto k = self.lock();
    if (k && k->state() == kernel_state::terminating && !k->halted()) {
      k->host_.log(*k, PDC_LOG_WARN, "drain time is over; dropping what is left");
      k->halt();
      k->watch_for_stuck();
    }
  });
}

void kernel::watch_for_stuck() {
  // Halted agents finish at their next look; one that does not within the
  // grace is inside a handler that does not return.
  host_.post_after(k_stuck_grace_ns, [self = weak_from_this()] {
    auto k = self.lock();
    if (!k || k->state() != kernel_state::terminating || k->stuck_.load(std::memory_order_relaxed)) return;
    k->stuck_.store(true, std::memory_order_relaxed);  // a flag for snapshots, no data behind it
    k->host_.log(*k, PDC_LOG_ERROR,
                 "a handler has not returned " + std::to_string(k_stuck_grace_ns / 1'000'000) +
                     " ms after the kernel was halted: the kernel is stuck, and stays terminating until it returns");
    if (auto notice = std::exchange(k->on_stuck_, nullptr)) notice();
  });
}

void kernel::finish_terminate() {
  halted_.store(true, std::memory_order_seq_cst);
  // Socket senders wait for an answer to each message: give them one.
  auto left = inbox_.take_all();
  const errc why = stop_reason();
  for (const auto& m : left) {
    fail_sender(m.from, m.env.message_id(), why,
                why == errc::daemon_stopping ? "pdcd stopped before kernel '" + id() + "' processed the message"
                                             : "kernel '" + id() + "' terminated before processing the message");
  }
  unanswered_at_terminate_ += left.size();
  if (!left.empty())
    host_.log(*this, PDC_LOG_WARN, std::to_string(left.size()) + " queued messages dropped at terminate");
  // Messages still in rings are not answered one by one: closing the rings
  // with reason `terminated` (or `daemon_stopping`) tells each client at once.
  for (auto& [aid, a] : attachments_) {
    fold_client_counts(*a);
    a->view.close(static_cast<std::uint32_t>(why));
  }
  attachments_.clear();
  if (created_ && type_->type.destroy != nullptr) {
    if (exec_ && exec_->state_still_in_use()) {
      host_.log(*this, PDC_LOG_ERROR, "destroy() skipped: the kernel's device loop may still use its state");
    } else {
      type_->type.destroy(plugin_state_);
    }
  }
  created_ = false;
  plugin_state_ = nullptr;
  state_.store(kernel_state::terminated, std::memory_order_seq_cst);
  inbox_.notify_space();  // blocked senders learn that the kernel is gone
  if (auto done = std::move(terminate_done_)) done(ok());
}

// ---- attachments (control thread) --------------------------------------------------------

result<attach_grant> kernel::attach(std::uint64_t session_id, std::uint64_t request_ring_bytes,
                                    std::uint64_t reply_ring_bytes) {
  const auto s = state();
  if (s != kernel_state::launched && s != kernel_state::active && s != kernel_state::deactivated) {
    return make_error(errc::illegal_state,
                      "cannot attach to kernel '" + id() + "': it is " + std::string(to_string(s)));
  }
  if (auto serviceable = exec_->serviceable(); !serviceable) return std::move(serviceable).err();
  // Each ring must hold at least a few of the largest messages (envelope included).
  const std::uint32_t max_record = params_.max_message_bytes + static_cast<std::uint32_t>(sizeof(envelope));
  const std::uint64_t min_bytes = std::bit_ceil(4 * record_footprint(max_record));
  auto size_of = [&](std::uint64_t want) {
    const std::uint64_t v = want == 0 ? k_default_ring_bytes : std::bit_ceil(want);
    return std::clamp(std::max(v, min_bytes), std::uint64_t{64 * 1024}, std::max(k_max_ring_bytes, min_bytes));
  };
  const attachment_geometry geometry{size_of(request_ring_bytes), size_of(reply_ring_bytes), max_record};
  const auto aid = next_attachment_id();
  auto view = attachment_daemon_view::create("pdc-" + id() + "-" + std::to_string(aid), geometry, aid);
  if (!view) return std::move(view).err();
  // The attachment's own wake-up descriptor: no other client shares it.
  const int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    return make_error(errc::system_error,
                      "cannot attach to kernel '" + id() + "': eventfd: " + std::string(std::strerror(errno)));
  }
  // The reply ring's wake-up socket pair (docs/ring.md, "Waiting in an event
  // loop"): [0] stays with the daemon, [1] goes to the client.
  int pair[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
    const int e = errno;
    ::close(wake);
    return make_error(errc::system_error,
                      "cannot attach to kernel '" + id() + "': socketpair: " + std::string(std::strerror(e)));
  }
  ::shutdown(pair[0], SHUT_RD);
  auto src = std::make_shared<attachment_source>(aid, session_id, std::move(view).value(), wake, pair[0]);
  attach_grant g;
  g.attachment_id = aid;
  g.segment_bytes = src->view.seg().size_bytes();
  g.segment_fd = ::fcntl(src->view.seg().fd(), F_DUPFD_CLOEXEC, 0);
  g.doorbell_fd = ::fcntl(wake, F_DUPFD_CLOEXEC, 0);
  g.reply_wake_fd = pair[1];
  const auto close_grant = [&g] {
    for (const int fd : {g.segment_fd, g.doorbell_fd, g.reply_wake_fd}) {
      if (fd >= 0) ::close(fd);
    }
  };
  if (g.segment_fd < 0 || g.doorbell_fd < 0) {
    const int e = errno;
    close_grant();
    return make_error(errc::system_error, "cannot attach to kernel '" + id() + "': cannot duplicate its descriptors (" +
                                              std::strerror(e) + ")");
  }
  if (auto adopted = exec_->adopt(src); !adopted) {
    close_grant();
    return make_error(adopted.err().code, "cannot attach to kernel '" + id() + "': " + adopted.err().what());
  }
  attachments_.emplace(aid, std::move(src));
  return g;
}

result<void> kernel::adopt_attachment(std::shared_ptr<attachment_source> src) {
  const auto s = state();
  if (s != kernel_state::launched && s != kernel_state::active && s != kernel_state::deactivated) {
    return make_error(errc::illegal_state, "kernel '" + id() + "' is " + std::string(to_string(s)));
  }
  const auto aid = src->id;
  if (auto adopted = exec_->adopt(src); !adopted) {
    return make_error(adopted.err().code, "kernel '" + id() + "': " + adopted.err().what());
  }
  attachments_.emplace(aid, std::move(src));
  return ok();
}

void kernel::fold_client_counts(const attachment_source& src) noexcept {
  retired_client_rejected_ = saturating_add(retired_client_rejected_, src.view.client_rejected());
  retired_client_dropped_ = saturating_add(retired_client_dropped_, src.view.client_dropped());
}

void kernel::detach(std::uint64_t attachment_id) {
  auto it = attachments_.find(attachment_id);
  if (it == attachments_.end()) return;
  fold_client_counts(*it->second);
  // Release: the agent acquires it in apply_changes().
  it->second->detached.store(true, std::memory_order_release);
  attachments_.erase(it);
  if (exec_) exec_->release(attachment_id);
}

void kernel::forget_attachment(std::uint64_t attachment_id) {
  auto it = attachments_.find(attachment_id);
  if (it == attachments_.end()) return;
  fold_client_counts(*it->second);
  attachments_.erase(it);
}

// ---- socket path (any thread) -------------------------------------------------------------

offer_result kernel::offer(queued_message& m) {
  std::optional<queued_message> evicted;
  const auto r = inbox_.offer(m, evicted);
  if (evicted) {
    fail_sender(evicted->from, evicted->env.message_id(), errc::dropped,
                "message dropped by kernel '" + id() + "' (drop_oldest: queue full)");
  }
  // The first agent serves the inbox.
  if (r == offer_result::accepted && gate_open() && exec_) exec_->notify();
  return r;
}

void kernel::fail_sender(const reply_address& to, std::uint64_t message_id, errc code, const std::string& why) {
  // Inbox messages come from sessions or kernels; kernels wait for no answer.
  if (to.to != reply_address::kind::session) return;
  static std::atomic<std::uint64_t> next_id{k_control_output_ids};
  const std::string text = std::string(name_of(code)) + ": " + why;
  const auto env =
      make_envelope(next_id.fetch_add(1, std::memory_order_relaxed), static_cast<std::uint32_t>(text.size()), now_ns(),
                    message_id, to.id, 0, k_envelope_flag_reply | k_envelope_flag_error);
  (void)host_.deliver(to.id, *this, delivery::error, env, std::as_bytes(std::span(text)));
}

void kernel::delivered(delivery what, errc outcome, const envelope& env, std::span<const std::byte> payload) {
  if (what == delivery::error) return;  // error replies are reported, not counted as outputs
  if (outcome == errc::ok) {
    session_out_.add();
    return;
  }
  if (outcome != errc::peer_gone || what == delivery::output) {
    session_dropped_.add();
    return;
  }
  // A reply whose sender is gone: a dead letter, kept for the subscribers.
  session_dead_letters_.add();
  for (const std::uint64_t session : outputs_.snapshot()->sessions) {
    (void)host_.deliver(session, *this, delivery::output, env, payload);
  }
}

// ---- metrics -------------------------------------------------------------------------------

kernel_snapshot kernel::snapshot() const {
  kernel_snapshot s;
  s.kernel_id = id();
  s.kernel_type = type_->name;
  s.plugin = type_->plugin != nullptr ? type_->plugin->name() : std::string();
  s.tier = params_.tier;
  s.state = state();
  s.stuck = stuck_.load(std::memory_order_relaxed);
  s.policy = params_.policy;
  s.capacity = params_.capacity;
  s.max_message_bytes = params_.max_message_bytes;
  s.pool = params_.pool;
  s.latency_metrics = params_.latency_metrics;
  s.uptime_ns = uptime_ns();
  s.messages_in = inbox_.accepted();
  s.messages_out = session_out_.get();
  s.dropped = inbox_.dropped() + session_dropped_.get() + unanswered_at_terminate_;
  s.rejected = inbox_.rejected();
  s.dead_letters = session_dead_letters_.get();
  // Refusals on full request rings are counted by the clients, in their segments.
  std::uint64_t client_rejected = retired_client_rejected_;
  std::uint64_t client_dropped = retired_client_dropped_;
  s.queue_depth = inbox_.depth();
  for (const auto& [aid, a] : attachments_) {
    client_rejected = saturating_add(client_rejected, a->view.client_rejected());
    client_dropped = saturating_add(client_dropped, a->view.client_dropped());
    // Shared indices only (the views belong to the agent's thread). Bytes, not
    // records: count unread bytes as at least one message.
    const auto& ctl = a->view.request_control();
    if (ctl.write_pos.load(std::memory_order_relaxed) != ctl.read_pos.load(std::memory_order_relaxed)) {
      ++s.queue_depth;
    }
  }
  s.rejected = saturating_add(s.rejected, client_rejected);
  s.dropped = saturating_add(s.dropped, client_dropped);
  s.isolation = params_.isolation;
  s.confinement = params_.confinement;
  s.exported = params_.exported;
  s.at_least_once = params_.at_least_once;
  if (exec_) exec_->collect(s);
  s.owner_uid = params_.owner_uid;
  s.access = access_.texts();
  s.denied = denied_.get();
  const auto targets = outputs_.snapshot();
  s.subscribers = static_cast<std::uint32_t>(targets->sessions.size());
  s.connections = targets->kernels;
  s.last_error = last_error();
  return s;
}

}  // namespace pdc::daemon
