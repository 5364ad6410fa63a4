// The executor interface: where and how a kernel's loop runs (its tier).
// Every tier runs the same kernel object; see docs/tiers.md.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pdc/core/clock.hpp"

namespace pdc::daemon {

struct worker;

class executor {
 public:
  virtual ~executor() = default;
  /// Starts processing (threads, loop registrations). Called once at launch.
  virtual void start() = 0;
  /// Work was queued, the gate moved or sources changed: make sure it is seen.
  virtual void notify() = 0;
  /// Waits (until `until`) for every worker to finish what is queued while
  /// the kernel is TERMINATING, then stops all processing. Control thread only.
  virtual void drain_and_stop(deadline until) = 0;
  /// Number of workers and access to them (attachments are assigned to one).
  [[nodiscard]] virtual std::size_t worker_count() const noexcept = 0;
  virtual worker& worker_at(std::size_t i) noexcept = 0;
};

}  // namespace pdc::daemon
