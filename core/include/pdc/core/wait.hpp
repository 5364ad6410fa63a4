// The primitives waiters park on (futex, eventfd) and the CPU pause of spin
// loops. How long to spin before parking is an idle_strategy (idle_strategy.hpp).
#pragma once

#include <atomic>
#include <cstdint>

#include "pdc/core/clock.hpp"
#include "pdc/core/errc.hpp"

namespace pdc {

/// CPU hint inside spin loops (PAUSE on x86).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

namespace detail {
/// futex(FUTEX_WAIT) on a shared (non-private) word: sleeps while *word ==
/// expected, up to timeout_ns (UINT64_MAX: no limit). Spurious returns allowed.
void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, std::uint64_t timeout_ns) noexcept;
/// futex(FUTEX_WAKE) of every waiter on a shared word.
void futex_wake_all(std::atomic<std::uint32_t>* word) noexcept;
/// Adds 1 to an eventfd (wakes an event loop polling it).
void eventfd_signal(int fd) noexcept;
/// Sends one byte on a stream socket without ever blocking (MSG_DONTWAIT,
/// MSG_NOSIGNAL): a full buffer already wakes the peer, a gone one is ignored.
void socket_signal(int fd) noexcept;
}  // namespace detail

}  // namespace pdc
