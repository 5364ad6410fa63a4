// The executor of the thread tiers: each agent of the kernel is served by an
// agent_runner, either one of its own (threaded, spin, a private pool) or one
// of a named pool's, shared with other kernels. What differs between the
// tiers (how many agents, which runners, the idle strategy, pinning) is
// decided by their factories in thread_executor.cpp, spin_executor.cpp and
// pool_executor.cpp.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tiers/agent_runner.hpp"
#include "tiers/executor.hpp"

namespace pdc::daemon {

class kernel;
class kernel_host;

class runner_executor final : public executor {
 public:
  /// One private runner per agent: `agents` runners named after the kernel,
  /// idling by `idle`; `cpu` >= 0 pins the first one.
  static std::unique_ptr<runner_executor> dedicated(kernel& k, kernel_host& host, std::size_t agents,
                                                    const idle_strategy& idle, int cpu);
  /// Agents on runners someone else owns (a named pool's), one runner each.
  static std::unique_ptr<runner_executor> shared(kernel& k, kernel_host& host,
                                                 const std::vector<agent_runner*>& runners);
  ~runner_executor() override;

  result<void> start() override;
  void notify() noexcept override;
  void stop(std::function<void()> stopped) override;

 private:
  runner_executor(kernel_host& host) : host_(host) {}
  void on_retired();

  kernel_host& host_;
  std::vector<std::unique_ptr<agent_runner>> own_;  // dedicated runners (empty when shared)
  std::vector<agent_runner*> runners_;              // agent i runs on runners_[i]
  std::size_t retired_ = 0;
  bool started_ = false;
  std::function<void()> stopped_;
  // Retirement callbacks check it, so none outlives the executor.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace pdc::daemon
