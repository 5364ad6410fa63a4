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

  /// The kernel's agents (fixed at construction; at least one).
  [[nodiscard]] std::span<const std::unique_ptr<agent>> agents() const noexcept { return agents_; }
  /// The agent that serves a new attachment (spread by id).
  [[nodiscard]] agent& agent_for(std::uint64_t attachment_id) const noexcept {
    return *agents_[attachment_id % agents_.size()];
  }

 protected:
  std::vector<std::unique_ptr<agent>> agents_;
};

}  // namespace pdc::daemon
