// pdc::attachment: the client's side of a shared-memory data path to a kernel
// (docs/client.md, "Attachments"). The ring algorithm, its memory orders and
// the parking protocol are in docs/ring.md; this file only drives the two
// ring views and turns their outcomes into pdc errors.
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "attachment_open.hpp"
#include "pdc/core/attachment.hpp"
#include "pdc/core/clock.hpp"
#include "pdc/core/spsc_ring.hpp"
#include "reply_error.hpp"
#include "session.hpp"

namespace pdc {

namespace {
// How often a waiting attachment checks that pdcd still holds the session: a
// daemon that dies closes no ring, only its socket tells.
constexpr std::uint64_t k_hangup_check_ns = 25'000'000;
// Ring close reason meaning plain "closed"; other reasons are errc values.
constexpr std::uint32_t k_reason_closed = k_ring_closed;

deadline earlier(deadline a, deadline b) noexcept {
  return a.at_ns() <= b.at_ns() ? a : b;
}

std::string ms_text(std::int64_t timeout_ns) {
  return std::to_string(timeout_ns / 1'000'000) + " ms";
}

error detached_error() {
  return make_error(errc::illegal_state, "pdc::attachment used after detach() or a move, or never attached");
}

// The same strategy without its spin phase: after the first slice of a long
// wait has spun, later slices go straight to parking.
idle_strategy without_spin(idle_strategy w) noexcept {
  if (w.mode != idle_strategy::kind::spin) w.spin_ns = 0;
  return w;
}

// Hands the reply-ring space released during a call back to the kernel when
// the call returns, however it returns.
class release_on_exit {
 public:
  explicit release_on_exit(ring_consumer& c) noexcept : c_(c) {}
  ~release_on_exit() { c_.flush_release(); }
  release_on_exit(const release_on_exit&) = delete;
  release_on_exit& operator=(const release_on_exit&) = delete;

 private:
  ring_consumer& c_;
};
}  // namespace

struct attachment::state {
  state(detail::attach_parts&& p, attachment_client_view&& v, std::uint32_t max_bytes)
      : view(std::move(v)),
        requests(view.requests()),
        replies(view.replies()),
        doorbell(std::move(p.doorbell_fd)),
        wake_socket(std::move(p.wake_socket)),
        hangup_probe(std::move(p.hangup_probe)),
        link(std::move(p.link)),
        id(p.attachment_id),
        kernel_id(std::move(p.kernel_id)),
        max_message_bytes(max_bytes),
        full_policy(p.options.full_policy),
        full_timeout_ns(p.options.full_timeout_ns),
        kernel_policy(p.kernel_policy),
        kernel_block_ns(std::int64_t{p.block_timeout_ms} * 1'000'000),
        wait(p.options.wait),
        reply_limit(std::max<std::size_t>(p.options.reply_limit, 1)),
        reattach(std::move(p.reattach)) {
    // commit() writes the kernel's doorbell only when the kernel has parked.
    requests.set_wake_fd(doorbell.get());
  }
  ~state() { close_rings(); }
  state(const state&) = delete;
  state& operator=(const state&) = delete;
  state(state&&) = delete;
  state& operator=(state&&) = delete;

  void flush() noexcept {
    if (unflushed == 0) return;
    requests.commit();
    unflushed = 0;
  }

  // Publishes what is reserved, then tells the kernel side we are gone.
  void close_rings() noexcept {
    if (rings_closed) return;
    rings_closed = true;
    flush();
    view.close(k_reason_closed);
  }

  error fail(error e) {
    if (!broken) broken = std::move(e);
    return *broken;
  }

  // The error for a ring the daemon closed with `reason`.
  [[nodiscard]] error closed_error(std::uint32_t reason) const {
    if (reason == static_cast<std::uint32_t>(errc::terminated)) {
      return make_error(errc::terminated, "kernel '" + kernel_id + "' terminated");
    }
    if (reason == static_cast<std::uint32_t>(errc::daemon_stopping)) {
      return make_error(errc::daemon_stopping, "pdcd is stopping: the attachment to kernel '" + kernel_id + "' ended");
    }
    const errc code = errc_from_int(static_cast<std::int32_t>(reason));
    if (reason == k_reason_closed || code == errc::internal) {
      return make_error(errc::peer_gone, "pdcd closed the attachment to kernel '" + kernel_id + "'");
    }
    return make_error(code,
                      "pdcd closed the attachment to kernel '" + kernel_id + "': " + std::string(to_string(code)));
  }

  error corrupt_error() {
    return fail(make_error(errc::corrupt_segment,
                           "the reply ring of the attachment to kernel '" + kernel_id + "' holds a malformed record"));
  }

  // Whether a message may still be sent: the kernel must not have closed either ring.
  result<void> check_send_open() {
    if (broken) return *broken;
    if (const auto reason = requests.consumer_close_reason(); reason != 0) return closed_error(reason);
    if (const auto reason = replies.producer_close_reason(); reason != 0) return closed_error(reason);
    return ok();
  }

  // Polls the duplicate of the session's socket (at most once per
  // k_hangup_check_ns): a hang-up means pdcd is gone or ended the session.
  result<void> check_hangup() {
    if (broken) return *broken;
    const std::uint64_t now = now_ns();
    if (now < next_hangup_check_ns) return ok();
    next_hangup_check_ns = now + k_hangup_check_ns;
    pollfd p{hangup_probe.get(), POLLRDHUP, 0};
    int rc = 0;
    do {
      rc = ::poll(&p, 1, 0);
    } while (rc < 0 && errno == EINTR);
    if (rc > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)) != 0) {
      // A stopping pdcd closes the rings (daemon_stopping) before the session.
      if (const auto reason = replies.producer_close_reason(); reason != 0) return fail(closed_error(reason));
      if (const auto reason = requests.consumer_close_reason(); reason != 0) return fail(closed_error(reason));
      return fail(make_error(errc::peer_gone, "pdcd closed the session of the attachment to kernel '" + kernel_id +
                                                  "' (daemon gone or client closed)"));
    }
    return ok();
  }

  // The next record of the reply ring (peeked, not released), waiting until `dl`.
  result<std::span<const std::byte>> next_record(deadline dl) {
    disarm();
    idle_strategy strategy = wait;
    for (;;) {
      if (broken) return *broken;
      auto slot = replies.try_peek();
      if (slot) return slot.bytes;
      if (slot.status != errc::empty) return corrupt_error();
      if (const auto reason = replies.producer_close_reason(); reason != 0) {
        // Records committed before the close are visible once it is: look again.
        slot = replies.try_peek();
        if (slot) return slot.bytes;
        if (slot.status != errc::empty) return corrupt_error();
        return closed_error(reason);
      }
      if (dl.expired()) return make_error(errc::timeout);
      replies.flush_release();  // the kernel may be waiting for the room we consumed
      const errc waited = replies.wait_for_data(strategy, earlier(dl, deadline::after_ns(k_hangup_check_ns)));
      strategy = without_spin(wait);
      if (waited == errc::timeout) {
        if (auto alive = check_hangup(); !alive) return std::move(alive).err();
      }
    }
  }

  // Clears the mark arm() left: a consumer that reads again is not waiting.
  void disarm() noexcept {
    if (!armed) return;
    armed = false;
    replies.unpark();
  }

  // Reads what the producer sent on the wake-up socket. False once its
  // other end is closed by everyone who held it (pdcd and any kernel host).
  bool drain_wake_socket() noexcept {
    std::array<char, 64> sink{};
    for (;;) {
      const ssize_t n = ::recv(wake_socket.get(), sink.data(), sink.size(), MSG_DONTWAIT);
      if (n > 0) continue;
      if (n == 0) return false;
      if (errno == EINTR) continue;
      return true;  // EAGAIN: drained
    }
  }

  result<envelope> parse(std::span<const std::byte> record) {
    envelope env;
    if (!read_envelope(record, env)) return corrupt_error();
    return env;
  }

  [[nodiscard]] received_message to_message(const envelope& env, std::span<const std::byte> record) const {
    received_message m;
    m.kernel_id = kernel_id;
    m.env = env;
    const auto payload = payload_of(record);
    m.payload.assign(payload.begin(), payload.end());
    return m;
  }

  void set_aside_message(received_message m) {
    if (set_aside.size() >= reply_limit) {
      set_aside.pop_front();
      ++dropped;
    }
    set_aside.push_back(std::move(m));
  }

  // Moves what the reply ring holds into the set-aside buffer, up to its limit
  // and without dropping: a kernel stuck on a full reply ring cannot drain
  // the request ring a send is waiting on.
  void set_aside_replies() {
    // A record peek() left in the ring is the caller's until release(): it
    // and what follows it stay where they are.
    if (peeked == peek_state::ring) return;
    release_on_exit release(replies);
    while (set_aside.size() < reply_limit) {
      const auto slot = replies.try_peek();
      if (!slot) return;
      auto env = parse(slot.bytes);
      if (!env) return;
      set_aside.push_back(to_message(*env, slot.bytes));
      replies.release();
    }
  }

  // Waits for room for a record of `record_bytes` in the request ring.
  result<void> wait_for_room(std::size_t record_bytes) { return wait_for_room(record_bytes, full_timeout_ns); }

  // What a full request ring does under ring_full_policy::kernel.
  result<void> apply_kernel_policy(std::size_t record_bytes) {
    // The text is built only for a refusal: a stream that fills the ring comes here often.
    const auto where = [&] { return "kernel '" + kernel_id + "' request ring is full"; };
    switch (kernel_policy) {
      case backpressure_policy::reject:
        view.count_rejected();
        return make_error(errc::rejected, where() + " (policy reject); message refused");
      case backpressure_policy::drop_newest:
        view.count_dropped();
        return make_error(errc::dropped, where() + " (policy drop_newest); message dropped");
      case backpressure_policy::drop_oldest:
        // Only the kernel may remove records: ask it to drop its oldest.
        view.request_shed();
        break;
      case backpressure_policy::block:
        break;
    }
    auto room = wait_for_room(record_bytes, kernel_block_ns);
    if (!room && room.code() == errc::timeout) view.count_rejected();
    return room;
  }

  result<void> wait_for_room(std::size_t record_bytes, std::int64_t timeout_ns) {
    const deadline dl = deadline::after_ns(timeout_ns);
    idle_strategy strategy = wait;
    for (;;) {
      set_aside_replies();
      const auto slice = earlier(dl, deadline::after_ns(k_hangup_check_ns));
      const errc waited = requests.wait_for_space(record_bytes, strategy, slice);
      strategy = without_spin(wait);
      if (waited == errc::ok) return ok();
      if (waited == errc::peer_gone) return closed_error(requests.consumer_close_reason());
      if (waited != errc::timeout) return make_error(waited, "waiting for room in the request ring failed");
      if (auto open = check_send_open(); !open) return open;
      if (auto alive = check_hangup(); !alive) return alive;
      if (dl.expired()) {
        return make_error(errc::timeout, "the request ring to kernel '" + kernel_id + "' stayed full for " +
                                             ms_text(timeout_ns) + "; nothing was sent");
      }
    }
  }

  attachment_client_view view;  // the segment and both rings
  ring_producer& requests;      // client -> kernel (in `view`)
  ring_consumer& replies;       // kernel -> client (in `view`)
  detail::unique_fd doorbell;
  detail::unique_fd wake_socket;  // readable when the reply ring's producer woke us (after arm())
  bool armed = false;             // arm() left the consumer marked k_parked_socket
  detail::unique_fd hangup_probe;
  std::weak_ptr<detail::session> link;
  std::uint64_t id;
  std::string kernel_id;
  std::uint32_t max_message_bytes;
  ring_full_policy full_policy;
  std::int64_t full_timeout_ns;
  backpressure_policy kernel_policy;
  std::int64_t kernel_block_ns;
  idle_strategy wait;
  std::size_t reply_limit;
  std::function<result<attachment>(deadline)> reattach;  // empty unless attach_options::reattach

  // Whether pdcd itself went away or is stopping (not the kernel): what
  // reattach recovers from. A terminate or a corrupt ring stays an error.
  [[nodiscard]] bool lost_pdcd() const noexcept {
    const auto gone = [](errc c) { return c == errc::peer_gone || c == errc::daemon_stopping; };
    if (broken) return gone(broken->code);
    for (const std::uint32_t reason : {requests.consumer_close_reason(), replies.producer_close_reason()}) {
      if (reason == 0) continue;
      return reason == k_reason_closed || reason == static_cast<std::uint32_t>(errc::daemon_stopping);
    }
    return false;
  }

  // Whether peek() left a message in place (the set-aside front, or the
  // reply ring's next record) that release() has not consumed yet.
  enum class peek_state : std::uint8_t { none, set_aside, ring };
  peek_state peeked = peek_state::none;
  [[nodiscard]] result<void> check_not_peeked() const {
    if (peeked == peek_state::none) return ok();
    return make_error(errc::illegal_state, "a peeked message is not released yet (attachment::release)");
  }

  std::uint64_t last_message_id = 0;
  std::size_t unflushed = 0;   // reserved by begin_send, not yet committed
  std::uint64_t batch_ns = 0;  // send timestamp of the messages reserved since the last commit
  std::deque<received_message> set_aside;
  std::uint64_t dropped = 0;
  std::optional<error> broken;  // sticky: daemon gone or a corrupt ring
  std::uint64_t next_hangup_check_ns = 0;
  bool rings_closed = false;
};

// ---- construction ------------------------------------------------------------------

result<attachment> detail::open_attachment(attach_parts&& parts) {
  const std::string who = "attachment to kernel '" + parts.kernel_id + "'";
  if (!parts.doorbell_fd.valid() || !parts.hangup_probe.valid()) {
    return make_error(errc::invalid_argument, who + ": missing doorbell or socket descriptor");
  }
  auto view = attachment_client_view::open(parts.segment_fd.release());
  if (!view) {
    auto e = std::move(view).err();
    e.message = who + ": " + e.what();
    return e;
  }
  if (parts.segment_bytes != 0 && parts.segment_bytes != view->seg().size_bytes()) {
    return make_error(errc::protocol_error, who + ": the segment is " + std::to_string(view->seg().size_bytes()) +
                                                " bytes, pdcd announced " + std::to_string(parts.segment_bytes));
  }
  const std::uint32_t record_limit = view->max_record_bytes();
  if (record_limit < sizeof(envelope)) {
    return make_error(errc::corrupt_segment, who + ": the request ring cannot hold an envelope");
  }
  const auto ring_limit = static_cast<std::uint32_t>(record_limit - sizeof(envelope));
  const std::uint32_t limit = parts.max_message_bytes == 0 ? ring_limit : std::min(parts.max_message_bytes, ring_limit);
  return attachment(std::make_unique<attachment::state>(std::move(parts), std::move(view).value(), limit));
}

attachment::attachment() noexcept = default;
attachment::attachment(std::unique_ptr<state> s) noexcept : state_(std::move(s)) {}
attachment::attachment(attachment&& other) noexcept = default;
attachment& attachment::operator=(attachment&& other) noexcept = default;
attachment::~attachment() = default;

// ---- properties ----------------------------------------------------------------------

bool attachment::attached() const noexcept {
  return state_ != nullptr;
}

std::uint64_t attachment::id() const noexcept {
  return state_ ? state_->id : 0;
}

const std::string& attachment::kernel_id() const noexcept {
  static const std::string none;
  return state_ ? state_->kernel_id : none;
}

std::uint32_t attachment::max_message_bytes() const noexcept {
  return state_ ? state_->max_message_bytes : 0;
}

void attachment::set_wait_strategy(const idle_strategy& strategy) noexcept {
  if (state_) state_->wait = strategy;
}

void attachment::set_full_policy(ring_full_policy policy, std::int64_t timeout_ns) noexcept {
  if (!state_) return;
  state_->full_policy = policy;
  state_->full_timeout_ns = timeout_ns;
}

std::size_t attachment::buffered_messages() const noexcept {
  return state_ ? state_->set_aside.size() : 0;
}

std::uint64_t attachment::dropped_messages() const noexcept {
  return state_ ? state_->dropped : 0;
}

// ---- reattaching ------------------------------------------------------------------------

result<void> attachment::revive(std::int64_t timeout_ns) {
  if (!state_ || !state_->reattach || !state_->lost_pdcd()) return ok();
  auto fresh = state_->reattach(deadline::after_ns(timeout_ns));
  if (!fresh) return std::move(fresh).err();
  state_ = std::move(fresh->state_);  // the old rings close with the old state
  return ok();
}

// ---- sending ---------------------------------------------------------------------------

result<send_slot> attachment::begin_send(std::size_t payload_bytes, const send_options& opts) {
  if (!state_) return detached_error();
  if (auto up = revive(state_->full_timeout_ns); !up) return std::move(up).err();
  auto& s = *state_;
  if (auto open = s.check_send_open(); !open) return std::move(open).err();
  if (payload_bytes > s.max_message_bytes) {
    return make_error(errc::message_too_large, "payload of " + std::to_string(payload_bytes) +
                                                   " bytes exceeds the attachment's limit of " +
                                                   std::to_string(s.max_message_bytes) + " bytes; nothing was sent");
  }
  const std::size_t record_bytes = sizeof(envelope) + payload_bytes;
  write_slot slot = s.requests.try_reserve(record_bytes);
  if (slot.status == errc::full) {
    s.flush();  // what is reserved must reach the kernel before anyone waits on it
    if (s.full_policy == ring_full_policy::fail) {
      return make_error(errc::full, "the request ring to kernel '" + s.kernel_id + "' is full; nothing was sent");
    }
    auto room =
        s.full_policy == ring_full_policy::kernel ? s.apply_kernel_policy(record_bytes) : s.wait_for_room(record_bytes);
    if (!room) return std::move(room).err();
    slot = s.requests.try_reserve(record_bytes);
  }
  if (!slot) return make_error(slot.status, "cannot reserve room in the request ring");

  const std::uint64_t message_id = ++s.last_message_id;
  // One clock read per batch: messages published by one commit share a timestamp.
  if (s.unflushed == 0) s.batch_ns = now_ns();
  const envelope env = make_envelope(message_id, static_cast<std::uint32_t>(payload_bytes), s.batch_ns, 0, s.id,
                                     opts.type_id, opts.no_reply ? k_envelope_flag_no_reply : 0, opts.priority);
  std::memcpy(slot.bytes.data(), &env, sizeof env);
  ++s.unflushed;
  return send_slot{message_id, slot.bytes.subspan(sizeof env)};
}

void attachment::flush() noexcept {
  if (state_) state_->flush();
}

result<std::uint64_t> attachment::send(std::span<const std::byte> payload, const send_options& opts) {
  auto slot = begin_send(payload.size(), opts);
  if (!slot) return std::move(slot).err();
  if (!payload.empty()) std::memcpy(slot->payload.data(), payload.data(), payload.size());
  state_->flush();
  return slot->message_id;
}

// ---- receiving --------------------------------------------------------------------------

result<received_message> attachment::receive(std::int64_t timeout_ns) {
  if (!state_) return detached_error();
  if (auto up = revive(timeout_ns); !up) return std::move(up).err();
  auto& s = *state_;
  if (auto free = s.check_not_peeked(); !free) return std::move(free).err();
  s.flush();  // a reserved request must not wait for its own reply
  if (!s.set_aside.empty()) {
    auto m = std::move(s.set_aside.front());
    s.set_aside.pop_front();
    return m;
  }
  release_on_exit release(s.replies);
  auto record = s.next_record(deadline::after_ns(timeout_ns));
  if (!record) {
    if (record.code() == errc::timeout) return make_error(errc::timeout, "no message within " + ms_text(timeout_ns));
    return std::move(record).err();
  }
  auto env = s.parse(*record);
  if (!env) return std::move(env).err();
  auto m = s.to_message(*env, *record);
  s.replies.release();
  return m;
}

result<std::size_t> attachment::poll_with(message_fn fn, void* context, std::size_t max_messages,
                                          std::int64_t timeout_ns) {
  if (!state_) return detached_error();
  if (fn == nullptr) return make_error(errc::invalid_argument, "poll needs a callback");
  if (auto up = revive(timeout_ns); !up) return std::move(up).err();
  auto& s = *state_;
  if (auto free = s.check_not_peeked(); !free) return std::move(free).err();
  s.flush();
  std::size_t n = 0;
  for (; n < max_messages && !s.set_aside.empty(); ++n) {
    const auto& m = s.set_aside.front();
    fn(context, m.env, m.payload);
    s.set_aside.pop_front();
  }
  if (n == max_messages) return n;
  release_on_exit release(s.replies);
  auto first = s.next_record(deadline::after_ns(n == 0 ? timeout_ns : 0));
  if (!first) {
    if (first.code() == errc::timeout || n > 0) return n;  // a closed ring stays closed: the next call reports it
    return std::move(first).err();
  }
  for (; n < max_messages; ++n) {
    const auto slot = s.replies.try_peek();
    if (slot.status == errc::empty) break;
    if (!slot) {
      auto e = s.corrupt_error();
      if (n > 0) return n;
      return e;
    }
    auto env = s.parse(slot.bytes);
    if (!env) {
      if (n > 0) return n;
      return std::move(env).err();
    }
    fn(context, *env, payload_of(slot.bytes));
    s.replies.release();
  }
  return n;
}

result<peeked_message> attachment::peek(std::int64_t timeout_ns) {
  if (!state_) return detached_error();
  if (auto free = state_->check_not_peeked(); !free) return std::move(free).err();
  if (auto up = revive(timeout_ns); !up) return std::move(up).err();
  auto& s = *state_;
  s.flush();  // a reserved request must not wait for its own reply
  if (!s.set_aside.empty()) {
    s.peeked = state::peek_state::set_aside;
    const auto& m = s.set_aside.front();
    return peeked_message{m.env, m.payload};
  }
  auto record = s.next_record(deadline::after_ns(timeout_ns));
  if (!record) {
    if (record.code() == errc::timeout) return make_error(errc::timeout, "no message within " + ms_text(timeout_ns));
    return std::move(record).err();
  }
  auto env = s.parse(*record);
  if (!env) return std::move(env).err();
  // The record stays in the ring, unreleased: the kernel cannot reuse its
  // space until release().
  s.peeked = state::peek_state::ring;
  return peeked_message{*env, payload_of(*record)};
}

void attachment::release() noexcept {
  if (!state_) return;
  auto& s = *state_;
  switch (s.peeked) {
    case state::peek_state::none:
      return;
    case state::peek_state::set_aside:
      s.set_aside.pop_front();
      break;
    case state::peek_state::ring:
      s.replies.release();
      s.replies.flush_release();
      break;
  }
  s.peeked = state::peek_state::none;
}

// ---- waiting in an event loop -----------------------------------------------------------

int attachment::wait_fd() const noexcept {
  return state_ && state_->wake_socket.valid() ? state_->wake_socket.get() : -1;
}

result<bool> attachment::arm() {
  if (!state_) return detached_error();
  auto& s = *state_;
  if (auto free = s.check_not_peeked(); !free) return std::move(free).err();
  if (!s.wake_socket.valid()) {
    return make_error(errc::not_supported,
                      "the attachment to kernel '" + s.kernel_id + "' has no wait descriptor (pdcd sent none)");
  }
  s.flush();  // a reserved request must not wait for its own reply
  if (!s.set_aside.empty() || s.broken) return false;
  if (s.lost_pdcd() && s.reattach) return false;  // receive() reattaches
  // The wake-up socket and the session's socket both tell of a pdcd gone.
  const bool open = s.drain_wake_socket();
  if (auto alive = s.check_hangup(); !alive) return false;
  if (!open) {
    if (s.replies.has_data() || s.replies.producer_close_reason() != 0) return false;
    s.fail(make_error(errc::peer_gone, "pdcd closed the wake-up socket of the attachment to kernel '" + s.kernel_id +
                                           "' (daemon gone)"));
    return false;
  }
  // SYNC: consumer_parked — prepare_park's seq_cst exchange of k_parked_socket
  // and its seq_cst look at write_pos form the consumer's half of the Dekker
  // pair with the producer's commit(): either that commit sees the mark and
  // sends a byte on the wake-up socket, or the look here sees its record.
  if (!s.replies.prepare_park(k_parked_socket)) return false;
  s.armed = true;
  return true;
}

result<received_message> attachment::request(std::span<const std::byte> payload, std::int64_t timeout_ns,
                                             const send_options& opts) {
  if (!state_) return detached_error();
  if (auto free = state_->check_not_peeked(); !free) return std::move(free).err();
  if (auto up = revive(timeout_ns); !up) return std::move(up).err();
  const std::uint64_t sent_ns = now_ns();  // the request's own stamp is this or later
  auto sent = send(payload, opts);
  if (!sent) return std::move(sent).err();
  auto& s = *state_;
  release_on_exit release(s.replies);
  const deadline dl = deadline::after_ns(timeout_ns);
  for (;;) {
    auto record = s.next_record(dl);
    if (!record) {
      if (record.code() == errc::timeout) {
        return make_error(errc::timeout, "no reply from kernel '" + s.kernel_id + "' within " + ms_text(timeout_ns));
      }
      return std::move(record).err();
    }
    auto env = s.parse(*record);
    if (!env) return std::move(env).err();
    const bool answers = (env->flags() & k_envelope_flag_reply) != 0 && env->correlation_id() == *sent;
    // A restart notice: the host that had the request died, and it will never
    // be answered, unless it was sent after the dead host's requests were
    // dropped (the notice's stamp): then the new host answers it.
    const bool restarted = (env->flags() & k_envelope_flag_restarted) != 0;
    auto m = s.to_message(*env, *record);
    s.replies.release();
    if (restarted) {
      if (env->send_timestamp_ns() <= sent_ns) continue;
      return detail::error_of_reply(m.payload, s.kernel_id);
    }
    if (!answers) {
      s.set_aside_message(std::move(m));
      continue;
    }
    if (m.is_error()) return detail::error_of_reply(m.payload, s.kernel_id);
    return m;
  }
}

// ---- detaching -----------------------------------------------------------------------------

result<void> attachment::detach() {
  if (!state_) return detached_error();
  const std::unique_ptr<state> s = std::move(state_);  // empty from here on, whatever happens
  s->close_rings();
  const auto link = s->link.lock();
  if (!link || !link->healthy()) return ok();  // no session left: the daemon has let go already
  return detail::send_detach(*link, s->id);
}

}  // namespace pdc
