#include "kernel.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "pdc/core/clock.hpp"

namespace pdc::daemon {

namespace {
constexpr std::uint64_t k_default_ring_bytes = 1 << 20;
constexpr std::uint64_t k_max_ring_bytes = 64ULL << 20;
// Records taken from one ring before moving to the next (fairness).
constexpr std::size_t k_ring_batch = 32;
}  // namespace

std::uint64_t next_attachment_id() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

kernel::kernel(launch_request params, kernel_type_ref type, kernel_host& host)
    : params_(std::move(params)), type_(std::move(type)), host_(host), queue_(params_.capacity) {}

kernel::~kernel() {
  stopping_.store(true, std::memory_order_release);
  if (exec_) exec_->drain_and_stop(deadline::after_ns(0));
  exec_.reset();
  if (created_ && type_->type.destroy != nullptr) type_->type.destroy(plugin_state_);
}

std::uint64_t kernel::uptime_ns() const noexcept {
  return started_ns_ == 0 ? 0 : now_ns() - started_ns_;
}

bool kernel::gate_open() const noexcept {
  const auto s = state();
  return s == kernel_state::active || s == kernel_state::terminating;
}

kernel_metrics kernel::metrics() const {
  kernel_metrics m;
  m.messages_in = messages_in_.load(std::memory_order_relaxed);
  m.messages_out = messages_out_.load(std::memory_order_relaxed);
  m.processed = processed_.load(std::memory_order_relaxed);
  m.dropped = dropped_.load(std::memory_order_relaxed);
  m.rejected = rejected_.load(std::memory_order_relaxed);
  m.handler_errors = handler_errors_.load(std::memory_order_relaxed);
  // Refusals on full request rings are counted by the clients, in the rings.
  m.rejected += retired_rejected_;
  m.dropped += retired_dropped_;
  for (const auto& [aid, a] : attachments_) {
    const auto* ctl = a->seg.control(0);
    m.rejected += ctl->producer_rejected.load(std::memory_order_relaxed);
    m.dropped += ctl->producer_dropped.load(std::memory_order_relaxed);
  }
  {
    std::lock_guard lock(error_mu_);
    m.last_error = last_error_;
  }
  if (exec_) {
    for (std::size_t i = 0; i < exec_->worker_count(); ++i) {
      auto& w = exec_->worker_at(i);
      std::lock_guard lock(w.metrics_mu);
      m.queue_wait.merge(w.queue_wait);
      m.processing.merge(w.processing);
    }
  }
  return m;
}

std::uint64_t kernel::queue_depth() const noexcept {
  std::uint64_t depth = queued_.load(std::memory_order_relaxed);
  for (const auto& [id, a] : attachments_) {
    // Bytes, not records: an estimate in 64-byte messages would lie; count
    // any unread bytes as at least one message.
    // Shared indices only: the consumer view belongs to the worker thread.
    const auto* ctl = a->seg.control(0);
    if (ctl->write_pos.load(std::memory_order_relaxed) != ctl->read_pos.load(std::memory_order_relaxed)) ++depth;
  }
  return depth;
}

std::size_t kernel::subscriber_count() const {
  std::lock_guard lock(subscribers_mu_);
  return subscribers_.size();
}

std::string kernel::last_error() const {
  std::lock_guard lock(error_mu_);
  return last_error_;
}

void kernel::set_error(std::string text) {
  std::lock_guard lock(error_mu_);
  last_error_ = std::move(text);
}

// ---- lifecycle (control thread) ---------------------------------------------

result<void> kernel::launch(std::unique_ptr<executor> exec) {
  auto next = transition(id(), state(), kernel_op::launch);
  if (!next) return std::move(next).err();
  if (type_->type.create != nullptr) {
    set_error({});
    int rc = PDC_E_PLUGIN;
    try {
      rc = type_->type.create(ctx(), params_.config.c_str(), &plugin_state_);
    } catch (...) {
      rc = PDC_E_PLUGIN;  // a C++ plugin that let an exception escape
    }
    if (rc != PDC_OK) {
      std::string why = "create() of kernel type '" + type_->name + "' failed for kernel '" + id() + "' (" +
                        std::string(to_string(errc_from_int(-rc))) + ")";
      const auto detail = last_error();
      if (!detail.empty()) why += ": " + detail;
      return make_error(errc::plugin_error, why);
    }
  }
  created_ = true;
  started_ns_ = now_ns();
  state_.store(*next, std::memory_order_seq_cst);
  exec_ = std::move(exec);
  exec_->start();
  return ok();
}

result<void> kernel::activate() {
  auto next = transition(id(), state(), kernel_op::activate);
  if (!next) return std::move(next).err();
  // SYNC: kernel_state — seq_cst store, then notify() loads each worker's
  // `parked` (Dekker pair with the worker's park): a parked worker is woken.
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

result<void> kernel::terminate(bool drop, std::uint64_t timeout_ns) {
  auto next = transition(id(), state(), kernel_op::terminate);
  if (!next) return std::move(next).err();
  state_.store(*next, std::memory_order_seq_cst);  // TERMINATING: offer() refuses from here on
  const auto until = deadline::after_ns(drop ? 0 : static_cast<std::int64_t>(timeout_ns));
  if (drop) halt();
  stopping_.store(true, std::memory_order_seq_cst);
  exec_->notify();
  exec_->drain_and_stop(until);  // workers are stopped after this
  halt();
  std::uint64_t left = 0;
  while (auto m = pop_socket()) {
    fail_waiting_sender(m->env, errc::terminated, "kernel '" + id() + "' terminated before processing the message");
    ++left;
  }
  for (auto& [aid, a] : attachments_) {
    retire(*a);
    // Messages still in rings are not answered one by one: closing the rings
    // with reason `terminated` tells each client at once.
    a->replies.close(static_cast<std::uint32_t>(errc::terminated));
    a->requests.close(static_cast<std::uint32_t>(errc::terminated));
  }
  attachments_.clear();
  dropped_.fetch_add(left, std::memory_order_relaxed);
  if (left != 0) host_.log(id(), PDC_LOG_WARN, std::to_string(left) + " queued messages dropped at terminate");
  if (created_ && type_->type.destroy != nullptr) type_->type.destroy(plugin_state_);
  created_ = false;
  plugin_state_ = nullptr;
  state_.store(kernel_state::terminated, std::memory_order_seq_cst);
  notify_space();  // blocked senders learn the kernel is gone
  return ok();
}

// ---- socket path (control thread produces, worker 0 consumes) ----------------

offer_result kernel::offer(queued_message& m) {
  const auto s = state();
  if (s == kernel_state::terminating || s == kernel_state::terminated) return offer_result::terminated;
  {
    std::lock_guard lock(queue_mu_);
    if (queue_.full()) {
      switch (params_.policy) {
        case backpressure::block:
          space_wanted_.store(true, std::memory_order_relaxed);
          return offer_result::wait;
        case backpressure::reject:
          rejected_.fetch_add(1, std::memory_order_relaxed);
          return offer_result::rejected;
        case backpressure::drop_newest:
          dropped_.fetch_add(1, std::memory_order_relaxed);
          return offer_result::dropped_newest;
        case backpressure::drop_oldest:
          if (auto old = queue_.pop_oldest_lowest()) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            fail_waiting_sender(old->env, errc::dropped,
                                "message dropped by kernel '" + id() + "' (drop_oldest: queue full)");
          }
          break;
      }
    }
    m.enqueued_ns = now_ns();
    queue_.push(std::move(m));
    // SYNC: socket_queued — seq_cst increment, then notify() loads `parked`
    // (Dekker pair with the worker's park); the mutex orders the message.
    queued_.store(queue_.size(), std::memory_order_seq_cst);
  }
  messages_in_.fetch_add(1, std::memory_order_relaxed);
  if (gate_open()) exec_->notify();
  return offer_result::accepted;
}

std::optional<queued_message> kernel::pop_socket() {
  std::lock_guard lock(queue_mu_);
  auto m = queue_.pop();
  queued_.store(queue_.size(), std::memory_order_seq_cst);
  return m;
}

void kernel::wait_for_space(std::function<void()> fn) {
  space_waiters_.push_back(std::move(fn));
}

void kernel::notify_space() {
  if (space_waiters_.empty()) return;
  space_wanted_.store(false, std::memory_order_relaxed);
  auto waiters = std::move(space_waiters_);
  space_waiters_.clear();
  for (auto& w : waiters) w();
}

// ---- attachments (control thread) ---------------------------------------------

result<attach_grant> kernel::attach(std::uint64_t session_id, std::uint64_t request_ring_bytes,
                                    std::uint64_t reply_ring_bytes) {
  const auto s = state();
  if (s != kernel_state::launched && s != kernel_state::active && s != kernel_state::deactivated) {
    return make_error(errc::illegal_state,
                      "cannot attach to kernel '" + id() + "': it is " + std::string(to_string(s)));
  }
  // Each ring must hold at least a few largest messages (envelope included).
  const std::uint64_t min_bytes = std::bit_ceil(4 * record_footprint(params_.max_message_bytes + sizeof(envelope)));
  auto size_of = [&](std::uint64_t want) {
    const std::uint64_t v = want == 0 ? k_default_ring_bytes : std::bit_ceil(want);
    return std::clamp(std::max(v, min_bytes), std::uint64_t{64 * 1024}, std::max(k_max_ring_bytes, min_bytes));
  };
  const std::uint32_t max_record = params_.max_message_bytes + static_cast<std::uint32_t>(sizeof(envelope));
  const std::array<ring_spec, 2> specs{ring_spec{size_of(request_ring_bytes), max_record},
                                       ring_spec{size_of(reply_ring_bytes), max_record}};
  const auto aid = next_attachment_id();
  auto seg = segment::create("pdc-" + id() + "-" + std::to_string(aid), specs, aid);
  if (!seg) return std::move(seg).err();
  auto src = std::make_shared<attachment_source>(aid, session_id, std::move(seg).value());
  attach_grant g;
  g.attachment_id = aid;
  g.segment_bytes = src->seg.size_bytes();
  g.segment_fd = ::fcntl(src->seg.fd(), F_DUPFD_CLOEXEC, 0);
  auto& w = exec_->worker_at(aid % exec_->worker_count());
  g.doorbell_fd = ::fcntl(w.doorbell, F_DUPFD_CLOEXEC, 0);
  if (g.segment_fd < 0 || g.doorbell_fd < 0) {
    if (g.segment_fd >= 0) ::close(g.segment_fd);
    if (g.doorbell_fd >= 0) ::close(g.doorbell_fd);
    return make_error(errc::system_error, "cannot duplicate attachment fds");
  }
  attachments_.emplace(aid, src);
  w.add(std::move(src));
  return g;
}

void kernel::retire(const attachment_source& src) {
  const auto* ctl = src.seg.control(0);
  retired_rejected_ += ctl->producer_rejected.load(std::memory_order_relaxed);
  retired_dropped_ += ctl->producer_dropped.load(std::memory_order_relaxed);
}

void kernel::detach(std::uint64_t attachment_id) {
  auto it = attachments_.find(attachment_id);
  if (it == attachments_.end()) return;
  retire(*it->second);
  it->second->detached.store(true, std::memory_order_release);
  auto& w = exec_->worker_at(attachment_id % exec_->worker_count());
  attachments_.erase(it);
  // SYNC: sources_changed — as in worker::add().
  w.changed.store(true, std::memory_order_seq_cst);
  w.wake();
}

void kernel::link(const std::string& target) {
  std::lock_guard lock(subscribers_mu_);
  links_.insert(target);
}

void kernel::unlink(const std::string& target) {
  std::lock_guard lock(subscribers_mu_);
  links_.erase(target);
}

std::vector<std::string> kernel::links() const {
  std::lock_guard lock(subscribers_mu_);
  return {links_.begin(), links_.end()};
}

void kernel::subscribe(std::uint64_t session_id) {
  std::lock_guard lock(subscribers_mu_);
  subscribers_.insert(session_id);
}

void kernel::unsubscribe(std::uint64_t session_id) {
  std::lock_guard lock(subscribers_mu_);
  subscribers_.erase(session_id);
}

// ---- processing (workers) ------------------------------------------------------

std::size_t kernel::shed(worker& w, attachment_source& src) {
  const auto wanted = src.requests.shed_requested();
  std::size_t n = 0;
  while (src.shed_done < wanted) {
    ++src.shed_done;
    auto slot = src.requests.try_peek();
    if (!slot) break;  // already drained meanwhile: nothing to drop
    envelope env;
    if (read_envelope(slot.bytes, env)) {
      const std::string text = "dropped: message dropped by kernel '" + id() + "' (drop_oldest: queue full)";
      const auto reply = make_output_envelope(static_cast<std::uint32_t>(text.size()), 0, env.message_id(),
                                              k_attachment_tag | src.id, k_envelope_flag_reply | k_envelope_flag_error);
      send_to_attachment(&w, src.id, reply, std::as_bytes(std::span(text)));
    }
    src.requests.release();
    dropped_.fetch_add(1, std::memory_order_relaxed);
    ++n;
  }
  if (n != 0) src.requests.flush_release();
  return n;
}

std::size_t kernel::poll(worker& w, std::size_t budget) {
  w.apply_changes();
  if (halted()) return 0;
  // drop_oldest requests are served even while the gate is closed: that is
  // when rings fill up.
  for (auto& s : w.sources) {
    if (!s->broken && s->requests.shed_requested() != s->shed_done) shed(w, *s);
  }
  if (!gate_open()) return 0;
  std::size_t n = 0;
  if (w.serves_socket) {
    while (n < budget && queued_.load(std::memory_order_acquire) != 0 && handle_socket_message(w)) ++n;
    if (n != 0 && space_wanted_.load(std::memory_order_relaxed)) {
      host_.post([self = weak_from_this()] {
        if (auto k = self.lock()) k->notify_space();
      });
    }
  }
  const std::size_t count = w.sources.size();
  for (std::size_t i = 0; i < count && n < budget; ++i) {
    auto& src = *w.sources[(w.next_source + i) % count];
    if (src.broken) continue;
    std::size_t taken = 0;
    while (taken < k_ring_batch && n < budget && handle_ring_record(w, src)) {
      ++taken;
      ++n;
    }
    if (taken != 0) src.requests.flush_release();
  }
  if (count != 0) w.next_source = (w.next_source + 1) % count;
  if (std::any_of(w.sources.begin(), w.sources.end(), [](const auto& s) { return s->broken; })) {
    w.changed.store(true, std::memory_order_relaxed);  // drop it at the next apply_changes()
  }
  return n;
}

bool kernel::idle(worker& w) {
  if (halted()) return true;
  if (w.changed.load(std::memory_order_seq_cst)) return false;
  const bool open = gate_open();
  if (open && w.serves_socket && queued_.load(std::memory_order_seq_cst) != 0) return false;
  // One pass over the rings: drop_oldest requests count even with the gate closed.
  for (auto& s : w.sources) {
    if (s->broken) continue;
    if (s->requests.shed_requested() != s->shed_done) return false;
    if (open && s->requests.has_data()) return false;
  }
  return true;
}

bool kernel::prepare_park(worker& w) {
  // SYNC: worker_parked — seq_cst store, then the seq_cst loads in idle() and
  // in each ring's prepare_park (Dekker pairs with worker::wake() and with
  // the clients' commits).
  w.parked.store(1, std::memory_order_seq_cst);
  bool ok_to_sleep = !stopping();
  std::size_t marked = 0;
  for (; marked < w.sources.size() && ok_to_sleep; ++marked) {
    if (!w.sources[marked]->requests.prepare_park()) ok_to_sleep = false;
  }
  if (ok_to_sleep && !idle(w)) ok_to_sleep = false;
  if (!ok_to_sleep) {
    for (std::size_t i = 0; i < marked; ++i) w.sources[i]->requests.unpark();
    w.parked.store(0, std::memory_order_relaxed);
  }
  return ok_to_sleep;
}

void kernel::unpark(worker& w) {
  for (auto& s : w.sources) s->requests.unpark();
  w.parked.store(0, std::memory_order_relaxed);
}

void kernel::idle_wait(worker& w, std::uint64_t max_wait_ns) {
  // Poll for a while before parking: by default ~50 us on the spin tier
  // (then park, so an idle kernel does not starve a small machine), ~5 us
  // otherwise; `idle_spin_us` at launch overrides it.
  const std::uint64_t spin_ns = params_.idle_spin_us != 0 ? std::uint64_t{params_.idle_spin_us} * 1000
                                                          : (params_.tier_kind == tier::spin ? 50'000 : 5'000);
  const std::uint64_t until = now_ns() + spin_ns;
  for (std::uint32_t i = 0;; ++i) {
    if (!idle(w) || stopping()) return;
    if (i % 64 == 0 && now_ns() >= until) break;
    cpu_relax();
  }
  if (!prepare_park(w)) return;
  pollfd p{w.doorbell, POLLIN, 0};
  const auto ms = static_cast<int>(std::min<std::uint64_t>(max_wait_ns / 1'000'000 + 1, 100));
  ::poll(&p, 1, ms);
  std::uint64_t drained = 0;
  (void)!::read(w.doorbell, &drained, sizeof drained);
  unpark(w);
}

bool kernel::handle_socket_message(worker& w) {
  auto m = pop_socket();
  if (!m) return false;
  pdc_message msg{};
  msg.payload = m->payload.data();
  msg.payload_len = static_cast<std::uint32_t>(m->payload.size());
  msg.type_id = m->env.type_id();
  msg.message_id = m->env.message_id();
  msg.correlation_id = m->env.correlation_id();
  msg.reply_to = m->env.reply_to();
  msg.send_timestamp_ns = m->env.send_timestamp_ns();
  msg.flags = m->env.flags();
  msg.priority = m->env.priority();
  run_handler(w, msg, m->enqueued_ns);
  return true;
}

bool kernel::handle_ring_record(worker& w, attachment_source& src) {
  auto slot = src.requests.try_peek();
  if (slot.status == errc::empty) {
    // A client that closed its side (detach, exit) and left nothing behind.
    if (src.requests.producer_closed() && !src.requests.has_data()) src.broken = true;
    return false;
  }
  if (slot.status != errc::ok) {
    src.broken = true;
    host_.log(id(), PDC_LOG_ERROR, "attachment " + std::to_string(src.id) + " wrote a corrupt record; detaching it");
    return false;
  }
  envelope env;
  if (!read_envelope(slot.bytes, env)) {
    // A malformed message: refuse it (counted), keep the ring.
    src.requests.release();
    handler_errors_.fetch_add(1, std::memory_order_relaxed);
    set_error("attachment " + std::to_string(src.id) + " sent a record whose envelope length is wrong");
    return true;
  }
  messages_in_.fetch_add(1, std::memory_order_relaxed);
  const auto payload = payload_of(slot.bytes);
  pdc_message msg{};
  msg.payload = payload.data();
  msg.payload_len = static_cast<std::uint32_t>(payload.size());
  msg.type_id = env.type_id();
  msg.message_id = env.message_id();
  msg.correlation_id = env.correlation_id();
  msg.reply_to = k_attachment_tag | src.id;  // the daemon, not the client, says where replies go
  msg.send_timestamp_ns = env.send_timestamp_ns();
  msg.flags = env.flags();
  msg.priority = env.priority();
  run_handler(w, msg, env.send_timestamp_ns());
  src.requests.release();
  return true;
}

void kernel::run_handler(worker& w, const pdc_message& msg, std::uint64_t queued_at_ns) {
  const auto start = now_ns();
  worker* prev = set_current_worker(&w);
  w.current_message_id = msg.message_id;
  w.replied = false;
  int rc = PDC_E_PLUGIN;
  try {
    rc = type_->type.on_message(plugin_state_, ctx(), &msg);
  } catch (...) {
    rc = PDC_E_PLUGIN;
  }
  const bool replied = w.replied;
  w.current_message_id = 0;
  set_current_worker(prev);
  processed_.fetch_add(1, std::memory_order_relaxed);
  const auto end = now_ns();
  w.record(start >= queued_at_ns ? start - queued_at_ns : 0, end - start);
  if (rc < 0) {
    handler_errors_.fetch_add(1, std::memory_order_relaxed);
    std::string why = "handler of kernel '" + id() + "' failed (" + std::string(to_string(errc_from_int(-rc))) + ")";
    const auto detail = last_error();
    if (!detail.empty() && detail.rfind("handler of kernel", 0) != 0) why += ": " + detail;
    set_error(why);
    if (!replied) {
      fail_waiting_sender(make_envelope(msg.message_id, 0, 0, 0, msg.reply_to), errc::plugin_error, why);
    }
  }
}

void kernel::fail_waiting_sender(const envelope& request, errc code, const std::string& why) {
  if (request.reply_to() == 0) return;
  const std::string text = std::string(name_of(code)) + ": " + why;
  const auto env = make_output_envelope(static_cast<std::uint32_t>(text.size()), 0, request.message_id(),
                                        request.reply_to(), k_envelope_flag_reply | k_envelope_flag_error);
  const auto bytes = std::as_bytes(std::span(text));
  if ((request.reply_to() & k_attachment_tag) != 0) {
    send_to_attachment(current_worker(), request.reply_to() & ~k_attachment_tag, env, bytes);
  } else {
    host_.deliver(request.reply_to(), id(), env, bytes);
  }
}

errc kernel::send_to_attachment(worker* w, std::uint64_t attachment_id, const envelope& env,
                                std::span<const std::byte> payload) {
  if (w == nullptr) return errc::peer_gone;
  for (auto& s : w->sources) {
    if (s->id != attachment_id) continue;
    auto slot = s->replies.try_reserve(sizeof env + payload.size());
    if (!slot) return slot.status;  // full: the client is not reading
    std::memcpy(slot.bytes.data(), &env, sizeof env);
    if (!payload.empty()) std::memcpy(slot.bytes.data() + sizeof env, payload.data(), payload.size());
    s->replies.commit();
    return errc::ok;
  }
  return errc::peer_gone;
}

envelope kernel::make_output_envelope(std::uint32_t len, std::uint32_t type_id, std::uint64_t correlation_id,
                                      std::uint64_t reply_to, std::uint16_t flags) {
  return make_envelope(next_message_id_.fetch_add(1, std::memory_order_relaxed), len, now_ns(), correlation_id,
                       reply_to, type_id, flags);
}

// ---- loop style ------------------------------------------------------------------

void kernel::run_loop_style(worker& w) {
  worker* prev = set_current_worker(&w);
  int rc = PDC_E_PLUGIN;
  try {
    rc = type_->type.run(plugin_state_, ctx());
  } catch (...) {
    rc = PDC_E_PLUGIN;
  }
  set_current_worker(prev);
  if (rc < 0 && !stopping()) {
    handler_errors_.fetch_add(1, std::memory_order_relaxed);
    set_error("run() of kernel '" + id() + "' returned " + std::string(to_string(errc_from_int(-rc))));
    host_.log(id(), PDC_LOG_ERROR, "run() returned early with an error; the kernel processes nothing more");
  }
}

int kernel::receive(worker& w, pdc_message* out, std::int64_t timeout_ns) {
  if (out == nullptr) return PDC_E_INVALID_ARGUMENT;
  // The previous message is done: account for it.
  if (w.held_since_ns != 0) {
    w.record(0, now_ns() - w.held_since_ns);
    processed_.fetch_add(1, std::memory_order_relaxed);
    w.held_since_ns = 0;
  }
  w.held.reset();
  const auto until = deadline::after_ns(timeout_ns);
  for (;;) {
    if (halted()) return PDC_E_TERMINATED;
    w.apply_changes();
    if (gate_open()) {
      if (w.serves_socket && queued_.load(std::memory_order_acquire) != 0) {
        if (auto m = pop_socket()) {
          w.held = std::move(m);
          if (space_wanted_.load(std::memory_order_relaxed)) {
            host_.post([self = weak_from_this()] {
              if (auto k = self.lock()) k->notify_space();
            });
          }
          const auto& h = *w.held;
          *out = pdc_message{h.payload.data(),          static_cast<std::uint32_t>(h.payload.size()),
                             h.env.type_id(),           h.env.message_id(),
                             h.env.correlation_id(),    h.env.reply_to(),
                             h.env.send_timestamp_ns(), h.env.flags(),
                             h.env.priority()};
          w.held_since_ns = now_ns();
          w.record(w.held_since_ns - h.enqueued_ns, 0);
          return PDC_OK;
        }
      }
      for (auto& sp : w.sources) {
        auto& src = *sp;
        if (src.broken) continue;
        auto slot = src.requests.try_peek();
        if (slot.status == errc::empty) continue;
        envelope env;
        if (slot.status != errc::ok || !read_envelope(slot.bytes, env)) {
          if (slot.status != errc::ok)
            src.broken = true;
          else
            src.requests.release();
          continue;
        }
        messages_in_.fetch_add(1, std::memory_order_relaxed);
        w.held_bytes.assign(slot.bytes.begin(), slot.bytes.end());
        src.requests.release();
        src.requests.flush_release();
        const auto payload = std::span<const std::byte>(w.held_bytes).subspan(sizeof(envelope));
        *out = pdc_message{payload.data(),          static_cast<std::uint32_t>(payload.size()),
                           env.type_id(),           env.message_id(),
                           env.correlation_id(),    k_attachment_tag | src.id,
                           env.send_timestamp_ns(), env.flags(),
                           env.priority()};
        w.held_since_ns = now_ns();
        w.record(w.held_since_ns >= env.send_timestamp_ns() ? w.held_since_ns - env.send_timestamp_ns() : 0, 0);
        return PDC_OK;
      }
    }
    if (stopping() && idle(w)) return PDC_E_TERMINATED;
    if (until.expired()) return PDC_E_TIMEOUT;
    idle_wait(w, until.remaining_ns());
  }
}

// ---- host API ------------------------------------------------------------------------

int kernel::host_reply(const pdc_message* request, const void* data, std::uint32_t len, std::uint32_t type_id) {
  if (request == nullptr || (data == nullptr && len != 0)) return PDC_E_INVALID_ARGUMENT;
  if (len > params_.max_message_bytes) return PDC_E_MESSAGE_TOO_LARGE;
  worker* w = current_worker();
  if (w != nullptr && request->message_id == w->current_message_id) w->replied = true;
  if (request->reply_to == 0) return host_emit(data, len, type_id);  // nobody asked: it is an output
  const auto env = make_output_envelope(len, type_id, request->message_id, request->reply_to, k_envelope_flag_reply);
  const std::span<const std::byte> bytes{static_cast<const std::byte*>(data), len};
  const errc rc = (request->reply_to & k_attachment_tag) != 0
                      ? send_to_attachment(w, request->reply_to & ~k_attachment_tag, env, bytes)
                      : host_.deliver(request->reply_to, id(), env, bytes);
  if (rc != errc::ok) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return -static_cast<int>(rc);
  }
  messages_out_.fetch_add(1, std::memory_order_relaxed);
  return PDC_OK;
}

int kernel::host_emit(const void* data, std::uint32_t len, std::uint32_t type_id) {
  if (data == nullptr && len != 0) return PDC_E_INVALID_ARGUMENT;
  if (len > params_.max_message_bytes) return PDC_E_MESSAGE_TOO_LARGE;
  const auto env = make_output_envelope(len, type_id, 0, 0, 0);
  std::vector<std::uint64_t> targets;
  std::vector<std::string> linked;
  {
    std::lock_guard lock(subscribers_mu_);
    targets.assign(subscribers_.begin(), subscribers_.end());
    linked.assign(links_.begin(), links_.end());
  }
  for (const auto& k : linked) {
    if (host_.route(id(), k, env, {static_cast<const std::byte*>(data), len}) == errc::ok) {
      messages_out_.fetch_add(1, std::memory_order_relaxed);
    } else {
      dropped_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  for (const auto session : targets) {
    if (host_.deliver(session, id(), env, {static_cast<const std::byte*>(data), len}) == errc::ok) {
      messages_out_.fetch_add(1, std::memory_order_relaxed);
    } else {
      dropped_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return PDC_OK;
}

int kernel::host_send_to(const char* target, const void* data, std::uint32_t len, std::uint32_t type_id) {
  if (target == nullptr || (data == nullptr && len != 0)) return PDC_E_INVALID_ARGUMENT;
  const auto env = make_output_envelope(len, type_id, 0, 0, 0);
  const errc rc = host_.route(id(), target, env, {static_cast<const std::byte*>(data), len});
  if (rc == errc::ok) messages_out_.fetch_add(1, std::memory_order_relaxed);
  return -static_cast<int>(rc);
}

void kernel::host_log(int level, const char* text) {
  if (text == nullptr) return;
  if (level >= PDC_LOG_ERROR) set_error(text);
  host_.log(id(), level, text);
}

// ---- the C table ------------------------------------------------------------

namespace {

int api_reply(pdc_kernel_ctx* ctx, const pdc_message* request, const void* data, std::uint32_t len,
              std::uint32_t type_id) {
  return ctx == nullptr ? PDC_E_INVALID_ARGUMENT : kernel::from_ctx(ctx)->host_reply(request, data, len, type_id);
}
int api_emit(pdc_kernel_ctx* ctx, const void* data, std::uint32_t len, std::uint32_t type_id) {
  return ctx == nullptr ? PDC_E_INVALID_ARGUMENT : kernel::from_ctx(ctx)->host_emit(data, len, type_id);
}
int api_send_to(pdc_kernel_ctx* ctx, const char* target, const void* data, std::uint32_t len, std::uint32_t type_id) {
  return ctx == nullptr ? PDC_E_INVALID_ARGUMENT : kernel::from_ctx(ctx)->host_send_to(target, data, len, type_id);
}
void api_log(pdc_kernel_ctx* ctx, int level, const char* message) {
  if (ctx != nullptr) kernel::from_ctx(ctx)->host_log(level, message);
}
std::uint64_t api_now_ns() {
  return now_ns();
}
const char* api_kernel_id(pdc_kernel_ctx* ctx) {
  return ctx == nullptr ? "" : kernel::from_ctx(ctx)->id().c_str();
}
int api_receive(pdc_kernel_ctx* ctx, pdc_message* out, std::int64_t timeout_ns) {
  worker* w = current_worker();
  if (ctx == nullptr || w == nullptr || &w->owner != kernel::from_ctx(ctx)) return PDC_E_NOT_SUPPORTED;
  return kernel::from_ctx(ctx)->receive(*w, out, timeout_ns);
}
int api_should_terminate(pdc_kernel_ctx* ctx) {
  if (ctx == nullptr) return 1;
  auto* k = kernel::from_ctx(ctx);
  if (!k->stopping()) return 0;
  // Terminating: leave once this worker's queue is drained (draining is the default).
  worker* w = current_worker();
  return w == nullptr || &w->owner != k || k->idle(*w) ? 1 : 0;
}
int api_is_active(pdc_kernel_ctx* ctx) {
  return ctx != nullptr && kernel::from_ctx(ctx)->state() == kernel_state::active ? 1 : 0;
}

const pdc_host_api k_host_api{
    sizeof(pdc_host_api),
    PDC_PLUGIN_ABI_MINOR,
    api_reply,
    api_emit,
    api_send_to,
    api_log,
    api_now_ns,
    api_kernel_id,
    api_receive,
    api_should_terminate,
    api_is_active,
};

}  // namespace

const pdc_host_api* host_api_table() noexcept {
  return &k_host_api;
}

}  // namespace pdc::daemon
