// Wait strategies for ring sides, and the futex/eventfd primitives they park on.
#pragma once

#include <atomic>
#include <cstdint>

#include "pdc/core/clock.hpp"
#include "pdc/core/errc.hpp"

namespace pdc {

/// How a side waits for its peer. Spinning costs a core but reacts in
/// ~100 ns; parking costs ~50 us of wake-up on a VM but frees the core.
struct wait_strategy {
  enum class kind : std::uint8_t {
    spin,        ///< Busy-poll until ready or deadline (dedicated core).
    spin_yield,  ///< Busy-poll `spin_iterations`, then sched_yield between polls.
    spin_park,   ///< Busy-poll `spin_iterations`, then sleep on a futex until woken.
  };
  kind mode = kind::spin_park;
  std::uint32_t spin_iterations = 2000;     ///< Polls before yielding/parking (~1 poll per 10-50 ns).
  std::uint64_t max_park_ns = 100'000'000;  ///< Longest single sleep; re-checks after it.

  static constexpr wait_strategy spin() noexcept { return {kind::spin, 0, 0}; }
  static constexpr wait_strategy spin_yield(std::uint32_t spins = 2000) noexcept {
    return {kind::spin_yield, spins, 0};
  }
  static constexpr wait_strategy spin_park(std::uint32_t spins = 2000) noexcept {
    return {kind::spin_park, spins, 100'000'000};
  }
};

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
}  // namespace detail

}  // namespace pdc
