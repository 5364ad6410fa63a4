// Slow paths of the ring views: waiting, parking, waking and closing.
// The fast paths are inline in spsc_ring.hpp; docs/ring.md has the protocol.
#include <sched.h>

#include <algorithm>

#include "pdc/core/spsc_ring.hpp"

namespace pdc {

namespace {
// Polls between deadline checks while spinning (a clock read costs ~20 ns).
constexpr std::uint32_t k_clock_every = 64;
}  // namespace

// ---- producer ---------------------------------------------------------------

bool ring_producer::fits(std::uint64_t need) noexcept {
  const std::uint64_t off = write_local_ & mask_;
  const std::uint64_t to_end = mask_ + 1 - off;
  const std::uint64_t total = need <= to_end ? need : need + to_end;
  // SYNC: read_pos — acquire, as in try_reserve.
  read_cache_ = ctl_->read_pos.load(std::memory_order_seq_cst);
  return write_local_ + total - read_cache_ <= mask_ + 1;
}

errc ring_producer::wait_for_space(std::size_t len, const idle_strategy& strategy, deadline until) noexcept {
  if (len > max_record_) return errc::message_too_large;
  const std::uint64_t need = record_footprint(len);
  idler idle(strategy);
  for (std::uint32_t i = 0;; ++i) {
    if (fits(need)) return errc::ok;
    if (consumer_closed()) return errc::peer_gone;
    const idle_step step = idle.next();
    if ((step != idle_step::poll || i % k_clock_every == 0) && until.expired()) return errc::timeout;
    if (step == idle_step::poll) {
      cpu_relax();
      continue;
    }
    if (step == idle_step::yield) {
      sched_yield();
      continue;
    }
    // SYNC: producer_parked — seq_cst exchange, the producer's half of the
    // Dekker pair with flush_release(): either the consumer sees 1 and wakes
    // us, or our re-check in fits() (seq_cst load) sees its new read_pos.
    ctl_->producer_parked.exchange(1, std::memory_order_seq_cst);
    if (fits(need) || consumer_closed()) {
      ctl_->producer_parked.store(0, std::memory_order_relaxed);
      continue;
    }
    detail::futex_wait(&ctl_->producer_parked, 1, std::min(until.remaining_ns(), strategy.max_park_ns));
    ++stats_.park_syscalls;
    ctl_->producer_parked.store(0, std::memory_order_relaxed);
  }
}

void ring_producer::wake_consumer() noexcept {
  // Only one waker clears the flag, so one parked consumer costs one syscall.
  // The value is the consumer's (untrusted when it is a client): anything but
  // k_parked_socket is a futex wake, and a socket wake goes only to the
  // socket this producer was given.
  const std::uint32_t mark = ctl_->consumer_parked.exchange(0, std::memory_order_seq_cst);
  if (mark == 0) return;
  if (mark == k_parked_socket && park_socket_ >= 0) {
    detail::socket_signal(park_socket_);
  } else if (wake_fd_ >= 0) {
    detail::eventfd_signal(wake_fd_);
  } else {
    detail::futex_wake_all(&ctl_->consumer_parked);
  }
  ++stats_.wake_syscalls;
}

void ring_producer::close(std::uint32_t reason) noexcept {
  // SYNC: producer_closed — release pairs with the consumer's acquire in
  // producer_closed(): every record committed before close is visible then.
  ctl_->producer_closed.store(reason == 0 ? 1 : reason, std::memory_order_seq_cst);
  // Wake whichever way the consumer waits: a close is rare, two wakes are cheap.
  if (park_socket_ >= 0) {
    detail::socket_signal(park_socket_);
    ++stats_.wake_syscalls;
  }
  ctl_->consumer_parked.store(k_parked_futex, std::memory_order_relaxed);  // force the wake path
  wake_consumer();
}

// ---- consumer ---------------------------------------------------------------

errc ring_consumer::wait_for_data(const idle_strategy& strategy, deadline until) noexcept {
  idler idle(strategy);
  for (std::uint32_t i = 0;; ++i) {
    if (has_data()) return errc::ok;
    if (producer_closed()) return has_data() ? errc::ok : errc::peer_gone;
    const idle_step step = idle.next();
    if ((step != idle_step::poll || i % k_clock_every == 0) && until.expired()) return errc::timeout;
    if (step == idle_step::poll) {
      cpu_relax();
      continue;
    }
    if (step == idle_step::yield) {
      sched_yield();
      continue;
    }
    if (!prepare_park()) continue;
    detail::futex_wait(&ctl_->consumer_parked, 1, std::min(until.remaining_ns(), strategy.max_park_ns));
    ++stats_.park_syscalls;
    unpark();
  }
}

bool ring_consumer::prepare_park(std::uint32_t mark) noexcept {
  // SYNC: consumer_parked — seq_cst exchange, the consumer's half of the
  // Dekker pair with commit(): either the producer's later load sees the
  // mark and wakes us, or our seq_cst load of write_pos below sees its record.
  ctl_->consumer_parked.exchange(mark, std::memory_order_seq_cst);
  write_cache_ = ctl_->write_pos.load(std::memory_order_seq_cst);
  if (read_local_ != write_cache_ || producer_closed()) {
    unpark();
    return false;
  }
  return true;
}

void ring_consumer::unpark() noexcept {
  ctl_->consumer_parked.store(0, std::memory_order_relaxed);
}

void ring_consumer::wake_producer() noexcept {
  if (ctl_->producer_parked.exchange(0, std::memory_order_seq_cst) == 0) return;
  if (wake_fd_ >= 0) {
    detail::eventfd_signal(wake_fd_);
  } else {
    detail::futex_wake_all(&ctl_->producer_parked);
  }
  ++stats_.wake_syscalls;
}

void ring_consumer::close(std::uint32_t reason) noexcept {
  // SYNC: consumer_closed — release pairs with the producer's acquire in consumer_closed().
  ctl_->consumer_closed.store(reason == 0 ? 1 : reason, std::memory_order_seq_cst);
  ctl_->producer_parked.store(1, std::memory_order_relaxed);  // force the wake path
  wake_producer();
}

}  // namespace pdc
