#include "pdc/core/attachment.hpp"

#include <array>
#include <new>

namespace pdc {

namespace {

constexpr std::uint32_t k_ring_count = 2;

attachment_control* control_of(const segment& seg) noexcept {
  return reinterpret_cast<attachment_control*>(seg.aux().data());
}

result<void> check_layout(const segment& seg) {
  if (seg.ring_count() != k_ring_count) {
    return make_error(errc::corrupt_segment,
                      "an attachment segment has 2 rings; this one has " + std::to_string(seg.ring_count()));
  }
  if (seg.aux().size() < sizeof(attachment_control)) {
    return make_error(errc::corrupt_segment, "the attachment segment has no control line");
  }
  return ok();
}

}  // namespace

// ---- daemon view ----------------------------------------------------------------

attachment_daemon_view::attachment_daemon_view(segment seg, attachment_control* ctl) noexcept
    : seg_(std::move(seg)),
      ctl_(ctl),
      requests_(seg_.consumer(k_attachment_request_ring)),
      replies_(seg_.producer(k_attachment_reply_ring)),
      // Relaxed: the segment is fresh (or adopted before any concurrent use).
      sheds_seen_(ctl->shed_requests.load(std::memory_order_relaxed)) {}

result<attachment_daemon_view> attachment_daemon_view::create(const std::string& name, const attachment_geometry& g,
                                                              std::uint64_t attachment_id) {
  const std::array<ring_spec, k_ring_count> specs{ring_spec{g.request_ring_bytes, g.max_record_bytes},
                                                  ring_spec{g.reply_ring_bytes, g.max_record_bytes}};
  auto seg = segment::create(name, specs, attachment_id, sizeof(attachment_control));
  if (!seg) return std::move(seg).err();
  // A fresh memfd is zero-filled: the counters start at 0.
  auto* ctl = new (seg->aux().data()) attachment_control{};
  return attachment_daemon_view(std::move(seg).value(), ctl);
}

result<void> attachment_daemon_view::check_indices(const segment& seg) {
  // The indices were in shared memory a client could write: the views start
  // from them, so they must be aligned and at most one capacity apart.
  for (const std::uint32_t r : {k_attachment_request_ring, k_attachment_reply_ring}) {
    const ring_control* c = seg.control(r);
    // SYNC: adopt_indices — acquire pairs with the release/seq_cst index
    // stores of whoever served the rings before (a host process, the client).
    const std::uint64_t w = c->write_pos.load(std::memory_order_acquire);
    const std::uint64_t rd = c->read_pos.load(std::memory_order_acquire);
    if (((w | rd) & (k_record_align - 1)) != 0 || w - rd > seg.ring(r).capacity_bytes) {
      return make_error(errc::corrupt_segment, "attachment segment has ring indices that cannot be right (write " +
                                                   std::to_string(w) + ", read " + std::to_string(rd) + ")");
    }
  }
  return ok();
}

result<attachment_daemon_view> attachment_daemon_view::adopt(segment seg) {
  if (auto ok_layout = check_layout(seg); !ok_layout) return std::move(ok_layout).err();
  if (auto ok_indices = check_indices(seg); !ok_indices) return std::move(ok_indices).err();
  auto* ctl = control_of(seg);
  return attachment_daemon_view(std::move(seg), ctl);
}

result<void> attachment_daemon_view::resync() {
  if (auto ok_indices = check_indices(seg_); !ok_indices) return ok_indices;
  requests_ = seg_.consumer(k_attachment_request_ring);
  replies_ = seg_.producer(k_attachment_reply_ring);
  // Relaxed: nobody else serves the attachment now.
  sheds_seen_ = ctl_->shed_requests.load(std::memory_order_relaxed);
  return ok();
}

std::size_t attachment_daemon_view::discard_requests() noexcept {
  // Each record takes at least one aligned header: a ring's worth bounds the
  // loop whatever the client writes meanwhile.
  const std::uint64_t most = requests_.capacity_bytes() / k_record_align;
  std::size_t n = 0;
  while (n < most) {
    const auto slot = requests_.try_peek();
    if (!slot) break;  // empty, closed or corrupt: nothing more to take
    requests_.release();
    ++n;
  }
  requests_.flush_release();
  return n;
}

std::uint64_t attachment_daemon_view::take_shed_requests() noexcept {
  // SYNC: shed_requests — acquire pairs with request_shed()'s seq_cst add.
  const std::uint64_t now = ctl_->shed_requests.load(std::memory_order_acquire);
  const std::uint64_t asked = now - sheds_seen_;
  sheds_seen_ = now;
  // A count that moved back (only a hostile client does that) wraps to a huge
  // difference; it, and any jump beyond what the ring could hold, asks for nothing.
  return asked > requests_.capacity_bytes() ? 0 : asked;
}

bool attachment_daemon_view::shed_pending() const noexcept {
  // SYNC: shed_requests — seq_cst: the consumer's last look before parking
  // (Dekker pair with request_shed's add and notify_consumer).
  return ctl_->shed_requests.load(std::memory_order_seq_cst) != sheds_seen_;
}

std::uint64_t attachment_daemon_view::client_rejected() const noexcept {
  return ctl_->rejected.load(std::memory_order_relaxed);
}

std::uint64_t attachment_daemon_view::client_dropped() const noexcept {
  return ctl_->dropped.load(std::memory_order_relaxed);
}

void attachment_daemon_view::close(std::uint32_t reason) noexcept {
  replies_.close(reason);
  requests_.close(reason);
}

// ---- client view ------------------------------------------------------------------

attachment_client_view::attachment_client_view(segment seg, attachment_control* ctl) noexcept
    : seg_(std::move(seg)),
      ctl_(ctl),
      requests_(seg_.producer(k_attachment_request_ring)),
      replies_(seg_.consumer(k_attachment_reply_ring)) {}

result<attachment_client_view> attachment_client_view::open(int fd) {
  auto seg = segment::open(fd);
  if (!seg) return std::move(seg).err();
  if (auto ok_layout = check_layout(*seg); !ok_layout) return std::move(ok_layout).err();
  auto* ctl = control_of(*seg);
  return attachment_client_view(std::move(seg).value(), ctl);
}

void attachment_client_view::count_rejected() noexcept {
  // Relaxed: a statistic; single writer (this client).
  ctl_->rejected.fetch_add(1, std::memory_order_relaxed);
}

void attachment_client_view::count_dropped() noexcept {
  ctl_->dropped.fetch_add(1, std::memory_order_relaxed);
}

void attachment_client_view::request_shed() noexcept {
  // SYNC: shed_requests — seq_cst add: a release for the daemon's acquire in
  // take_shed_requests(), and ordered before the consumer_parked load in
  // notify_consumer() (Dekker pair with the kernel's park, as in commit()).
  ctl_->shed_requests.fetch_add(1, std::memory_order_seq_cst);
  requests_.notify_consumer();
}

void attachment_client_view::close(std::uint32_t reason) noexcept {
  requests_.close(reason);
  replies_.close(reason);
}

}  // namespace pdc
