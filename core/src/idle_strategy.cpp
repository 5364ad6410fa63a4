#include "pdc/core/idle_strategy.hpp"

#include <algorithm>

#include "pdc/core/clock.hpp"

namespace pdc {

namespace {
// Polls between clock reads while spinning (a clock read costs ~20 ns).
constexpr std::uint32_t k_clock_every = 64;
}  // namespace

idler::idler(const idle_strategy& s) noexcept : strategy_(s), spin_ns_(s.spin_ns) {}

void idler::set_strategy(const idle_strategy& s) noexcept {
  strategy_ = s;
  spin_ns_ = s.spin_ns;
  reset();
}

void idler::reset() noexcept {
  if (strategy_.mode == idle_strategy::kind::adaptive && until_ns_ != 0 && !spun_out_) {
    // Spinning caught the work: a longer spin would have caught more.
    spin_ns_ = std::min(std::max<std::uint64_t>(spin_ns_ * 2, 1), strategy_.spin_ns);
  }
  until_ns_ = 0;
  polls_ = 0;
  spun_out_ = false;
}

idle_step idler::next() noexcept {
  if (spun_out_) {
    return strategy_.mode == idle_strategy::kind::spin_yield ? idle_step::yield : idle_step::park;
  }
  if (until_ns_ == 0) {
    if (strategy_.mode == idle_strategy::kind::spin) {
      until_ns_ = UINT64_MAX;  // never spins out
    } else {
      until_ns_ = now_ns() + spin_ns_;
    }
    polls_ = 0;
    if (spin_ns_ != 0 || strategy_.mode == idle_strategy::kind::spin) return idle_step::poll;
  } else if (++polls_ % k_clock_every != 0 || now_ns() < until_ns_) {
    return idle_step::poll;
  }
  spun_out_ = true;
  if (strategy_.mode == idle_strategy::kind::adaptive) {
    spin_ns_ = std::max(spin_ns_ / 2, strategy_.min_spin_ns);
  }
  return strategy_.mode == idle_strategy::kind::spin_yield ? idle_step::yield : idle_step::park;
}

}  // namespace pdc
