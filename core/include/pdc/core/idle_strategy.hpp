// Idle strategies: how a side that found no work spends its time (Aeron's
// idle strategies). One type serves the rings' waits, the daemon's workers
// and its event loop, so "spin, then yield or park" is decided in one place.
#pragma once

#include <cstdint>

namespace pdc {

/// How a waiter idles: it polls for `spin_ns`, then yields or parks.
/// Spinning costs a core but reacts in ~100 ns; a parked waiter costs
/// ~50 us of wake-up on a VM but frees the core.
struct idle_strategy {
  enum class kind : std::uint8_t {
    spin,        ///< Poll until work or a deadline; never yield or park (a dedicated core).
    spin_yield,  ///< Poll `spin_ns`, then sched_yield between polls.
    spin_park,   ///< Poll `spin_ns`, then sleep until woken (futex or eventfd).
    adaptive,    ///< spin_park whose spin time adapts within [min_spin_ns, spin_ns]: it
                 ///< doubles when spinning caught work and halves when it did not.
  };
  kind mode = kind::spin_park;
  std::uint64_t spin_ns = 5'000;            ///< Polling time before yielding or parking (adaptive: the ceiling).
  std::uint64_t min_spin_ns = 0;            ///< adaptive: the floor of the spin time.
  std::uint64_t max_park_ns = 100'000'000;  ///< Longest single sleep; the waiter looks again after it.

  static constexpr idle_strategy spin() noexcept { return {kind::spin, 0, 0, 0}; }
  static constexpr idle_strategy spin_yield(std::uint64_t spin_ns) noexcept {
    return {kind::spin_yield, spin_ns, 0, 0};
  }
  static constexpr idle_strategy spin_park(std::uint64_t spin_ns) noexcept {
    return {kind::spin_park, spin_ns, 0, 100'000'000};
  }
  static constexpr idle_strategy adaptive(std::uint64_t min_spin_ns, std::uint64_t max_spin_ns) noexcept {
    return {kind::adaptive, max_spin_ns, min_spin_ns, 100'000'000};
  }
};

/// What an idle waiter does next.
enum class idle_step : std::uint8_t {
  poll,   ///< Look for work again (after a CPU pause).
  yield,  ///< Give the CPU away (sched_yield), then look again.
  park,   ///< Sleep until woken (or max_park_ns), then look again.
};

/// One waiter's progress through an idle period of its strategy. Not
/// thread-safe: one per waiting thread. It reads the clock once per 64 polls.
class idler {
 public:
  explicit idler(const idle_strategy& s) noexcept;

  /// Work was found: the next idle period starts from the beginning. With
  /// `adaptive`, work found while still spinning makes the spin longer.
  void reset() noexcept;
  /// The next step of the current idle period.
  idle_step next() noexcept;
  /// The spin time the next period will use (adaptive: its current value).
  [[nodiscard]] std::uint64_t spin_ns() const noexcept { return spin_ns_; }
  [[nodiscard]] const idle_strategy& strategy() const noexcept { return strategy_; }
  /// Changes the strategy; the next period uses it.
  void set_strategy(const idle_strategy& s) noexcept;

 private:
  idle_strategy strategy_;
  std::uint64_t spin_ns_;
  std::uint64_t until_ns_ = 0;  // end of this period's spin; 0 = period not started
  std::uint32_t polls_ = 0;
  bool spun_out_ = false;  // this period has passed its spin phase
};

}  // namespace pdc
