#include "runtime/agent.hpp"

#include <sched.h>

#include <climits>
#include <cstring>

#include "pdc/core/clock.hpp"
#include "runtime/kernel.hpp"

namespace pdc::daemon {

namespace {

errc errc_of_rc(int rc) noexcept {
  return rc == INT_MIN ? errc::internal : errc_from_int(-rc);
}

pdc_message message_of(const envelope& env, std::span<const std::byte> payload, std::uint64_t reply_token) noexcept {
  return pdc_message{payload.data(),          static_cast<std::uint32_t>(payload.size()),
                     env.type_id(),           env.message_id(),
                     env.correlation_id(),    reply_token,
                     env.send_timestamp_ns(), env.flags(),
                     env.priority()};
}

// Whoever sent a ring record, unless it said it wants no answer.
reply_address sender_of(const envelope& env, std::uint64_t attachment_id) noexcept {
  return (env.flags() & k_envelope_flag_no_reply) != 0 ? reply_address::nobody()
                                                       : reply_address::attachment(attachment_id);
}

}  // namespace

agent::agent(kernel& k, std::uint32_t index, doorbell& bell, const idle_strategy& idle)
    : kernel_(&k),
      index_(index),
      bell_(&bell),
      idle_(idle),
      ctx_{&k, this},
      serves_inbox_(index == 0),
      latency_metrics_(k.params().latency_metrics),
      // A handler that may block could hold a batch's replies for long: those commit one by one.
      may_defer_commits_((k.type().flags & PDC_KERNEL_MAY_BLOCK) == 0 && !k.type().is_loop()),
      copies_payloads_((k.type().flags & PDC_KERNEL_VOLATILE_PAYLOAD) == 0),
      // Each agent numbers its outputs in its own range: no shared counter.
      next_output_id_((std::uint64_t{index} << 48) + 1) {}

agent::~agent() {
  // The doorbell outlives its agents (the executor destroys them first).
  for (const auto& [id, s] : sources_) bell_->unwatch(s->wake_fd);
  std::lock_guard lock(changes_mu_);
  for (const auto& s : incoming_) bell_->unwatch(s->wake_fd);
}

// ---- control thread ------------------------------------------------------------

bool agent::adopt(std::shared_ptr<attachment_source> src) {
  // Watched from now on: a commit the client makes before the agent looks
  // at the ring wakes it too.
  if (!bell_->watch(src->wake_fd)) return false;
  {
    std::lock_guard lock(changes_mu_);
    incoming_.push_back(std::move(src));
  }
  // SYNC: agent_changed — seq_cst store: a release for apply_changes()'s
  // acquire (the mutex orders `incoming_` itself), and the store half of the
  // Dekker pair with the agent's last look in has_work() before it sleeps.
  changed_.store(true, std::memory_order_seq_cst);
  wake();
  return true;
}

void agent::release(std::uint64_t /*attachment_id*/) noexcept {
  // The kernel set the source's `detached` flag; apply_changes() sees it.
  // SYNC: agent_changed — as in adopt().
  changed_.store(true, std::memory_order_seq_cst);
  wake();
}

void agent::wake() noexcept {
  bell_->wake();
}

// ---- sources ------------------------------------------------------------------------

void agent::apply_changes() {
  // SYNC: agent_changed — acquire pairs with the seq_cst stores in adopt()/release().
  if (!changed_.exchange(false, std::memory_order_acquire)) return;
  std::vector<std::shared_ptr<attachment_source>> fresh;
  {
    std::lock_guard lock(changes_mu_);
    fresh.swap(incoming_);
  }
  for (auto& s : fresh) {
    order_.push_back(s.get());
    sources_.emplace(s->id, std::move(s));
  }
  for (std::size_t i = 0; i < order_.size();) {
    attachment_source* s = order_[i];
    // Acquire: the flag carries no data, but keeps the model simple for TSan.
    const bool detached = s->detached.load(std::memory_order_acquire);
    if (!detached && !s->broken) {
      ++i;
      continue;
    }
    s->view.close(k_ring_closed);
    bell_->unwatch(s->wake_fd);
    if (current_.source == s) current_.source = nullptr;
    if (!detached) {
      // The client went away (or broke its ring) without a Detach: the kernel forgets it too.
      std::weak_ptr<kernel> owner = kernel_->weak_from_this();
      const std::uint64_t id = s->id;
      kernel_->host().post([owner, id] {
        if (auto k = owner.lock()) k->forget_attachment(id);
      });
    }
    order_.erase(order_.begin() + static_cast<std::ptrdiff_t>(i));
    sources_.erase(s->id);
  }
  if (next_source_ >= order_.size()) next_source_ = 0;
}

attachment_source* agent::find_source(std::uint64_t attachment_id) noexcept {
  const auto it = sources_.find(attachment_id);
  return it == sources_.end() ? nullptr : it->second.get();
}

void agent::note_broken(attachment_source& src, const char* why) {
  src.broken = true;
  // Let go of it at the next apply_changes() (own thread: relaxed).
  changed_.store(true, std::memory_order_relaxed);
  if (why != nullptr) {
    // A corrupt ring: counted with the malformed records, logged once (the attachment goes).
    counters_.malformed.add();
    const std::string text = "attachment " + std::to_string(src.id) + " " + why + "; detaching it";
    kernel_->set_error(text);
    kernel_->host().log(*kernel_, PDC_LOG_ERROR, text);
  }
}

void agent::note_malformed(attachment_source& src) {
  counters_.malformed.add();
  const std::string why =
      "attachment " + std::to_string(src.id) + " sent a record whose envelope does not match its length; refused";
  kernel_->set_error(why);
  if (!src.malformed_logged) {
    src.malformed_logged = true;
    kernel_->host().log(*kernel_, PDC_LOG_WARN, why + " (logged once per attachment; counted in 'malformed')");
  }
}

agent::record agent::next_record(attachment_source& src, envelope& env, std::span<const std::byte>& payload) {
  ring_consumer& ring = src.view.requests();
  const read_slot slot = ring.try_peek();
  if (slot.status == errc::empty) {
    // A client that closed its side (detach, exit) and left nothing behind.
    if (ring.producer_closed() && !ring.has_data()) note_broken(src, nullptr);
    return record::none;
  }
  if (!slot) {
    note_broken(src, "wrote a corrupt record");
    return record::none;
  }
  if (!read_envelope(slot.bytes, env)) {
    ring.release();
    note_malformed(src);
    return record::malformed;
  }
  payload = payload_of(slot.bytes);
  return record::message;
}

// The client may rewrite its ring at any moment: a handler that checked a
// length in the payload and then read by it could be made to read past the
// record. It gets bytes nobody else can change (a copy in a buffer that
// grows to the largest record seen, at most the ring's max_record).
std::span<const std::byte> agent::private_copy(std::span<const std::byte> payload) {
  const std::size_t n = payload.size();
  if (n > payload_copy_.size()) payload_copy_.resize(n);
  std::byte* to = payload_copy_.data();
  const std::byte* from = payload.data();
  // Small payloads, the common case, in two overlapping fixed-size moves
  // the compiler inlines (no call, no size dispatch): it is on every message.
  if (n >= 16 && n <= 32) {
    std::memcpy(to, from, 16);
    std::memcpy(to + n - 16, from + n - 16, 16);
  } else if (n > 32 && n <= 64) {
    std::memcpy(to, from, 32);
    std::memcpy(to + n - 32, from + n - 32, 32);
  } else if (n != 0) {
    std::memcpy(to, from, n);
  }
  return {to, n};
}

// Field by field: an aggregate assignment through a temporary made the
// compiler copy it with overlapping 16-byte moves that defeat store
// forwarding (a stall per message, seen in perf on the one-way stream).
void agent::begin_message(std::uint64_t message_id, std::uint64_t token, const reply_address& from,
                          attachment_source* source) noexcept {
  current_.active = true;
  current_.message_id = message_id;
  current_.token = token;
  current_.from = from;
  current_.source = source;
  current_.answered = false;
}

// ---- the duty cycle -------------------------------------------------------------------

std::uint64_t agent::clock() noexcept {
  if (!clock_valid_) {
    clock_ns_ = now_ns();
    clock_valid_ = true;
  }
  return clock_ns_;
}

std::size_t agent::do_work(std::size_t budget) {
  // Relaxed first look; apply_changes() acquires.
  if (changed_.load(std::memory_order_relaxed)) apply_changes();
  kernel& k = *kernel_;
  if (k.halted()) return 0;
  clock_valid_ = false;
  // drop_oldest asks are served even while the gate is closed: that is when rings fill up.
  const std::size_t sheds = serve_sheds();
  if (!k.gate_open()) return sheds;
  std::size_t n = 0;
  defer_commits_ = may_defer_commits_;
  if (serves_inbox_ && k.in().depth() != 0) n += drain_inbox(budget);
  if (n < budget && !order_.empty()) n += drain_rings(budget - n);
  flush_replies();
  defer_commits_ = false;
  if (n != 0 && latency_metrics_ && clock_valid_) {
    // One more clock read per batch: handler time, as the batch's mean per message.
    const std::uint64_t end = now_ns();
    processing_.record(end > clock_ns_ ? (end - clock_ns_) / n : 0, n);
  }
  return sheds + n;
}

std::size_t agent::serve_sheds() {
  std::size_t n = 0;
  for (attachment_source* s : order_) {
    if (s->broken) continue;
    if (const std::uint64_t asked = s->view.take_shed_requests(); asked != 0) n += shed(*s, asked);
    ring_consumer& ring = s->view.requests();
    if (ring.producer_closed() && !ring.has_data()) note_broken(*s, nullptr);
  }
  return n;
}

std::size_t agent::shed(attachment_source& src, std::uint64_t asked) {
  std::size_t n = 0;
  while (n < asked) {
    envelope env;
    std::span<const std::byte> payload;
    const record r = next_record(src, env, payload);
    if (r == record::none) break;  // nothing (left) to drop
    if (r == record::message) {
      const reply_address from = sender_of(env, src.id);
      src.view.requests().release();
      counters_.dropped.add();
      if (from.expects_reply()) {
        fail_request(from, &src, env.message_id(), errc::dropped,
                     "message dropped by kernel '" + kernel_->id() + "' (drop_oldest: queue full)");
      }
    }
    ++n;
  }
  if (n != 0) src.view.requests().flush_release();
  return n;
}

std::size_t agent::drain_inbox(std::size_t budget) {
  inbox& in = kernel_->in();
  std::size_t n = 0;
  while (n < budget) {
    auto m = in.pop();
    if (!m) break;
    const pdc_message msg = message_of(m->env, m->payload, m->from.token());
    begin_message(msg.message_id, msg.reply_to, m->from, nullptr);
    invoke(msg, m->enqueued_ns);
    current_.active = false;
    if (m->settle_id != 0) kernel_->host().settle(m->settle_id);
    ++n;
  }
  counters_.processed.add(n);  // inbox messages were counted in when accepted
  flush_queue_wait();
  if (n != 0 && in.space_wanted()) {
    std::weak_ptr<kernel> owner = kernel_->weak_from_this();
    kernel_->host().post([owner] {
      if (auto k = owner.lock()) k->in().notify_space();
    });
  }
  return n;
}

std::size_t agent::drain_ring(attachment_source& src, std::size_t limit) {
  std::size_t taken = 0;
  std::size_t handled = 0;
  while (taken < limit) {
    envelope env;
    std::span<const std::byte> payload;
    const record r = next_record(src, env, payload);
    if (r == record::none) break;
    ++taken;
    if (r == record::malformed) continue;
    if (copies_payloads_) payload = private_copy(payload);
    const reply_address from = sender_of(env, src.id);
    const pdc_message msg = message_of(env, payload, from.token());
    begin_message(msg.message_id, msg.reply_to, from, &src);
    invoke(msg, env.send_timestamp_ns());
    current_.active = false;
    src.view.requests().release();
    ++handled;
  }
  // The ring is empty or its batch is done: what the handlers answered goes out now.
  flush_replies();
  if (taken != 0) src.view.requests().flush_release();
  // Once per ring batch: the counters are read by other threads, but only written here.
  counters_.messages_in.add(handled);
  counters_.processed.add(handled);
  return taken;
}

std::size_t agent::drain_rings(std::size_t budget) {
  const std::size_t count = order_.size();
  std::size_t n = 0;
  // Passes round-robin over the rings, at most k_ring_batch records from
  // each per pass, until the budget is spent or a pass found nothing.
  for (;;) {
    std::size_t pass = 0;
    for (std::size_t i = 0; i < count && n < budget; ++i) {
      attachment_source& src = *order_[(next_source_ + i) % count];
      if (src.broken) continue;
      const std::size_t taken = drain_ring(src, std::min(k_ring_batch, budget - n));
      pass += taken;
      n += taken;
    }
    if (count != 0) next_source_ = (next_source_ + 1) % count;
    if (pass == 0 || n >= budget) break;
  }
  flush_queue_wait();
  return n;
}

void agent::invoke(const pdc_message& msg, std::uint64_t sent_ns) {
  if (latency_metrics_) {
    const std::uint64_t now = clock();
    note_queue_wait(now > sent_ns ? now - sent_ns : 0);
  }
  int rc = PDC_E_PLUGIN;
  try {
    rc = kernel_->type().type.on_message(kernel_->plugin_state(), &ctx_, &msg);
  } catch (...) {
    rc = PDC_E_PLUGIN;  // a C++ plugin that let an exception escape
  }
  if (rc < 0) handler_failed(msg, rc);
}

void agent::flush_replies() noexcept {
  for (attachment_source* s : pending_) {
    s->view.replies().commit();
    s->replies_pending = false;
  }
  pending_.clear();
  pending_replies_ = 0;
}

void agent::note_queue_wait(std::uint64_t wait_ns) noexcept {
  // Messages of one client batch read in one agent batch share their wait:
  // record a run of equal values once.
  if (wait_run_ != 0 && wait_ns == wait_value_) {
    ++wait_run_;
    return;
  }
  flush_queue_wait();
  wait_value_ = wait_ns;
  wait_run_ = 1;
}

void agent::flush_queue_wait() noexcept {
  if (wait_run_ == 0) return;
  queue_wait_.record(wait_value_, wait_run_);
  wait_run_ = 0;
}

void agent::handler_failed(const pdc_message& msg, int rc) {
  counters_.handler_errors.add();
  std::string why = "handler of kernel '" + kernel_->id() + "' failed (" + std::string(to_string(errc_of_rc(rc))) + ")";
  const std::string detail = kernel_->last_error();
  if (!detail.empty() && detail.rfind("handler of kernel", 0) != 0) why += ": " + detail;
  kernel_->set_error(why);
  // A sender that waits for an answer gets one, so it never hangs.
  if (!current_.answered && current_.from.expects_reply()) {
    fail_request(current_.from, current_.source, msg.message_id, errc::plugin_error, why);
  }
}

// ---- idle protocol -----------------------------------------------------------------------

bool agent::has_work() {
  // SYNC: agent_changed — seq_cst: the last look after the bell's mark_parked (Dekker with adopt/release).
  if (changed_.load(std::memory_order_seq_cst)) return true;
  kernel& k = *kernel_;
  if (k.halted()) return false;
  const bool open = k.gate_open();
  if (open && serves_inbox_ && k.in().has_messages()) return true;
  for (attachment_source* s : order_) {
    if (s->broken) continue;
    ring_consumer& ring = s->view.requests();
    if (s->view.shed_pending()) return true;
    const bool data = ring.has_data();
    if (open && data) return true;
    if (!data && ring.producer_closed()) return true;  // to let go of it
  }
  return false;
}

bool agent::prepare_park() {
  // The runner marked the doorbell parked: the control thread now rings it.
  // Mark every ring parked so a client's commit (or shed ask, or close)
  // rings it too, then look once more at everything.
  for (attachment_source* s : order_) s->view.requests().mark_parked();
  if (!has_work()) return true;
  unpark();
  return false;
}

void agent::unpark() noexcept {
  for (attachment_source* s : order_) s->view.requests().unpark();
}

bool agent::finished() {
  kernel& k = *kernel_;
  if (k.halted()) return true;
  return k.stopping() && !has_work();
}

bool agent::should_terminate() {
  return finished();
}

// ---- output path ------------------------------------------------------------------------

envelope agent::output_envelope(std::uint32_t len, std::uint32_t type_id, std::uint64_t correlation_id,
                                std::uint64_t reply_to, std::uint16_t flags) noexcept {
  return make_envelope(next_output_id_++, len, clock(), correlation_id, reply_to, type_id, flags);
}

errc agent::deliver_reply(const reply_address& to, attachment_source* source, const envelope& env,
                          std::span<const std::byte> payload) {
  switch (to.to) {
    case reply_address::kind::none:
      return errc::invalid_argument;
    case reply_address::kind::session:
      return kernel_->host().deliver(to.id, *kernel_, delivery::reply, env, payload);
    case reply_address::kind::attachment: {
      attachment_source* s = source != nullptr && source->id == to.id ? source : find_source(to.id);
      // An attachment of another agent, or one that is gone: its client cannot be answered from here.
      if (s == nullptr || s->broken || s->detached.load(std::memory_order_relaxed)) return errc::peer_gone;
      auto slot = s->view.replies().try_reserve(sizeof env + payload.size());
      if (!slot) return slot.status;  // full: the client is not reading
      std::memcpy(slot.bytes.data(), &env, sizeof env);
      if (!payload.empty()) std::memcpy(slot.bytes.data() + sizeof env, payload.data(), payload.size());
      if (!defer_commits_) {
        s->view.replies().commit();
        return errc::ok;
      }
      // Published with the batch (flush_replies): one commit, one cache-line
      // transfer to the client, for several replies.
      if (!s->replies_pending) {
        s->replies_pending = true;
        pending_.push_back(s);
      }
      if (++pending_replies_ >= k_reply_batch) flush_replies();
      return errc::ok;
    }
  }
  return errc::internal;
}

int agent::reply(const pdc_message* request, std::span<const std::byte> data, std::uint32_t type_id) {
  if (request == nullptr) return PDC_E_INVALID_ARGUMENT;
  if (data.size() > kernel_->params().max_message_bytes) return PDC_E_MESSAGE_TOO_LARGE;
  // The message being handled needs no decoding (and no lookup of its ring).
  const bool is_current =
      current_.active && request->message_id == current_.message_id && request->reply_to == current_.token;
  const reply_address to = is_current ? current_.from : reply_address::decode(request->reply_to);
  if (is_current) current_.answered = true;
  if (!to.expects_reply()) return emit(data, type_id);  // nobody asked: it is an output
  const auto len = static_cast<std::uint32_t>(data.size());
  const envelope env = output_envelope(len, type_id, request->message_id, to.id, k_envelope_flag_reply);
  const errc rc = deliver_reply(to, is_current ? current_.source : nullptr, env, data);
  if (to.to == reply_address::kind::session) {
    // Its outcome is counted on the control thread (kernel::delivered), as on
    // every tier; a hand-over refused here (too much in flight) is counted now.
    if (rc == errc::ok) return PDC_OK;
    counters_.dropped.add();
    return -static_cast<int>(rc);
  }
  switch (rc) {
    case errc::ok:
      counters_.messages_out.add();
      return PDC_OK;
    case errc::peer_gone:
      return dead_letter(env, data);
    default:
      counters_.dropped.add();
      return -static_cast<int>(rc);
  }
}

int agent::dead_letter(const envelope& env, std::span<const std::byte> payload) {
  counters_.dead_letters.add();
  if (kernel_->outs().any()) {
    for (const std::uint64_t session : kernel_->outs().snapshot()->sessions) {
      (void)kernel_->host().deliver(session, *kernel_, delivery::output, env, payload);
    }
  }
  return PDC_OK;  // the handler did its job; the runtime kept the letter
}

void agent::fail_request(const reply_address& to, attachment_source* source, std::uint64_t message_id, errc code,
                         const std::string& why) {
  const std::string text = std::string(name_of(code)) + ": " + why;
  const auto bytes = std::as_bytes(std::span(text));
  const envelope env = output_envelope(static_cast<std::uint32_t>(text.size()), 0, message_id, to.id,
                                       k_envelope_flag_reply | k_envelope_flag_error);
  const errc rc = deliver_reply(to, source, env, bytes);
  if (to.to == reply_address::kind::attachment && rc != errc::ok && rc != errc::peer_gone) counters_.dropped.add();
}

int agent::publish_output(const envelope& env, std::span<const std::byte> payload) {
  const auto targets = kernel_->outs().snapshot();
  for (const auto& next : targets->kernels) {
    if (kernel_->host().route(*kernel_, next, env, payload) == errc::ok) {
      counters_.messages_out.add();
    } else {
      counters_.dropped.add();
    }
  }
  for (const std::uint64_t session : targets->sessions) {
    (void)kernel_->host().deliver(session, *kernel_, delivery::output, env, payload);
  }
  return PDC_OK;
}

int agent::emit(std::span<const std::byte> data, std::uint32_t type_id) {
  if (data.size() > kernel_->params().max_message_bytes) return PDC_E_MESSAGE_TOO_LARGE;
  if (!kernel_->outs().any()) return PDC_OK;  // nobody listens
  return publish_output(output_envelope(static_cast<std::uint32_t>(data.size()), type_id, 0, 0, 0), data);
}

int agent::send_to(const char* target, std::span<const std::byte> data, std::uint32_t type_id) {
  if (target == nullptr) return PDC_E_INVALID_ARGUMENT;
  if (data.size() > kernel_->params().max_message_bytes) return PDC_E_MESSAGE_TOO_LARGE;
  const envelope env = output_envelope(static_cast<std::uint32_t>(data.size()), type_id, 0, 0, 0);
  const errc rc = kernel_->host().route(*kernel_, target, env, data);
  if (rc == errc::ok) counters_.messages_out.add();
  return -static_cast<int>(rc);
}

// ---- loop style --------------------------------------------------------------------------

void agent::run_loop() {
  int rc = PDC_E_PLUGIN;
  try {
    rc = kernel_->type().type.run(kernel_->plugin_state(), &ctx_);
  } catch (...) {
    rc = PDC_E_PLUGIN;
  }
  finish_held();
  current_.active = false;
  if (rc < 0 && !kernel_->stopping()) {
    counters_.handler_errors.add();
    kernel_->set_error("run() of kernel '" + kernel_->id() + "' returned " + std::string(to_string(errc_of_rc(rc))));
    kernel_->host().log(*kernel_, PDC_LOG_ERROR,
                        "run() returned early with an error; this worker processes nothing more");
  }
}

void agent::finish_held() noexcept {
  if (held_since_ns_ == 0) return;
  counters_.processed.add();
  if (latency_metrics_) {
    const std::uint64_t now = now_ns();
    processing_.record(now > held_since_ns_ ? now - held_since_ns_ : 0);
  }
  held_since_ns_ = 0;
  held_inbox_.reset();
}

bool agent::take_for_receive(pdc_message& out) {
  kernel& k = *kernel_;
  if (serves_inbox_ && k.in().depth() != 0) {
    if (auto m = k.in().pop()) {
      held_inbox_ = std::move(m);
      if (k.in().space_wanted()) {
        std::weak_ptr<kernel> owner = k.weak_from_this();
        k.host().post([owner] {
          if (auto kk = owner.lock()) kk->in().notify_space();
        });
      }
      const queued_message& h = *held_inbox_;
      out = message_of(h.env, h.payload, h.from.token());
      begin_message(out.message_id, out.reply_to, h.from, nullptr);
      if (latency_metrics_) queue_wait_.record(clock() > h.enqueued_ns ? clock() - h.enqueued_ns : 0);
      return true;
    }
  }
  const std::size_t count = order_.size();
  for (std::size_t i = 0; i < count; ++i) {
    attachment_source& src = *order_[(next_source_ + i) % count];
    if (src.broken) continue;
    for (;;) {
      envelope env;
      std::span<const std::byte> payload;
      const record r = next_record(src, env, payload);
      if (r == record::none) break;
      if (r == record::malformed) {
        src.view.requests().flush_release();
        continue;
      }
      // Copied out: the record's space goes back to the client now.
      held_bytes_.assign(payload.begin(), payload.end());
      src.view.requests().release();
      src.view.requests().flush_release();
      counters_.messages_in.add();
      const reply_address from = sender_of(env, src.id);
      out = message_of(env, held_bytes_, from.token());
      begin_message(out.message_id, out.reply_to, from, &src);
      next_source_ = (next_source_ + i + 1) % count;
      if (latency_metrics_) {
        const std::uint64_t now = clock();
        queue_wait_.record(now > env.send_timestamp_ns() ? now - env.send_timestamp_ns() : 0);
      }
      return true;
    }
  }
  return false;
}

int agent::receive(pdc_message* out, std::int64_t timeout_ns) {
  if (out == nullptr) return PDC_E_INVALID_ARGUMENT;
  finish_held();
  current_.active = false;
  const deadline until = deadline::after_ns(timeout_ns);
  idler idle(idle_);
  for (;;) {
    if (changed_.load(std::memory_order_relaxed)) apply_changes();
    kernel& k = *kernel_;
    if (k.halted()) return PDC_E_TERMINATED;
    clock_valid_ = false;
    const bool shed_some = serve_sheds() != 0;
    if (k.gate_open() && take_for_receive(*out)) {
      held_since_ns_ = clock();
      return PDC_OK;
    }
    if (k.stopping() && !has_work()) return PDC_E_TERMINATED;
    if (until.expired()) return PDC_E_TIMEOUT;
    if (shed_some) {
      idle.reset();
      continue;
    }
    switch (idle.next()) {
      case idle_step::poll:
        cpu_relax();
        break;
      case idle_step::yield:
        sched_yield();
        break;
      case idle_step::park:
        bell_->mark_parked();
        if (prepare_park()) {
          bell_->wait(std::min(until.remaining_ns(), idle_.max_park_ns));
          unpark();
        }
        bell_->clear_parked();
        break;
    }
  }
}

// ---- metrics -----------------------------------------------------------------------------

void agent::collect_latency(histogram& queue_wait, histogram& processing) const {
  queue_wait_.snapshot_into(queue_wait);
  processing_.snapshot_into(processing);
}

}  // namespace pdc::daemon
