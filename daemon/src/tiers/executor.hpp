// The executor interface: where and how a kernel's loop runs (its tier).
// Every tier runs the same kernel object; see docs/tiers.md.
#pragma once

namespace pdc::daemon {

class executor {
 public:
  virtual ~executor() = default;
  /// Work was queued or the gate opened: make sure it gets processed.
  virtual void notify() = 0;
  /// The kernel stops: no further processing after this returns.
  virtual void stop() = 0;
};

}  // namespace pdc::daemon
