// An executor: where and how a kernel's agents run (its tier). Every tier
// runs the same kernel and the same agents; only the executor differs
// (docs/tiers.md). The tier table (tier_table.hpp) makes them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "pdc/core/result.hpp"
#include "runtime/agent.hpp"
#include "telemetry/metrics.hpp"

namespace pdc::daemon {

class executor {
 public:
  virtual ~executor() = default;
  executor() = default;
  executor(const executor&) = delete;
  executor& operator=(const executor&) = delete;

  /// Starts serving (threads, loop registrations). Control thread, once, at
  /// launch; a failure (no thread could be made, say) fails the launch alone.
  virtual result<void> start() = 0;
  /// Work was queued, the gate moved or the kernel is stopping: every agent
  /// that sleeps is woken. Any thread.
  virtual void notify() noexcept = 0;
  /// The kernel is stopping: once every agent has finished (drained its
  /// sources, or the kernel halted) and no thread touches it any more,
  /// `stopped` runs on the control thread. Never blocks. Control thread.
  virtual void stop(std::function<void()> stopped) = 0;

  /// True when the kernel's plugin runs in this process: the kernel calls
  /// its create() and destroy(). False for a process-isolated kernel, whose
  /// host process does (docs/isolation.md).
  [[nodiscard]] virtual bool runs_plugin() const noexcept { return true; }
  /// Hands an attachment to the agent that serves it; an error (nothing
  /// changed) when it cannot take one more. Control thread.
  [[nodiscard]] virtual result<void> adopt(std::shared_ptr<attachment_source> src);
  /// Detach: the attachment's agent lets go of it. Control thread.
  virtual void release(std::uint64_t attachment_id) noexcept { agent_for(attachment_id).release(attachment_id); }
  /// Adds what the agents counted (and their histograms) to `s`; may set the
  /// state a snapshot shows (restarting, failed). Control thread.
  virtual void collect(kernel_snapshot& s) const;
  /// The kernel's subscribers or connections changed. Control thread.
  virtual void targets_changed() {}
  /// True when something may still use the plugin's state after the
  /// executor stopped (a GPU loop that never ended): destroy() is then
  /// skipped, and the state is left to the process's exit.
  [[nodiscard]] virtual bool state_still_in_use() const noexcept { return false; }
  /// Refuses new work while the kernel cannot take it (a failed host), with why.
  [[nodiscard]] virtual result<void> serviceable() const { return ok(); }

  /// The kernel's agents (fixed at construction; none for a process-isolated kernel).
  [[nodiscard]] std::span<const std::unique_ptr<agent>> agents() const noexcept { return agents_; }
  /// The agent that serves a new attachment (spread by id).
  [[nodiscard]] agent& agent_for(std::uint64_t attachment_id) const noexcept {
    return *agents_[attachment_id % agents_.size()];
  }

 protected:
  std::vector<std::unique_ptr<agent>> agents_;
};

}  // namespace pdc::daemon
