// An agent runner: a thread that runs agents (Aeron's AgentRunner). Each turn
// it calls do_work on every agent it holds; when none found work it idles by
// one idle_strategy and, at the park step, sleeps on its doorbell after
// every agent's idle protocol said yes. A dedicated runner (threaded, spin,
// a private pool) holds one agent; a named pool's runners hold agents of
// several kernels. A loop-style agent holds its runner for its run().
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pdc/core/idle_strategy.hpp"
#include "pdc/core/result.hpp"
#include "runtime/doorbell.hpp"

namespace pdc::daemon {

class agent;
class kernel_host;

class agent_runner {
 public:
  /// Messages an agent handles per turn before the next agent's turn.
  static constexpr std::size_t k_budget = 256;

  /// `name` names the thread (15 characters shown); `cpu` >= 0 pins it.
  agent_runner(kernel_host& host, std::string name, const idle_strategy& idle, int cpu);
  /// Closes the runner and joins its thread (its agents must have retired).
  ~agent_runner();
  agent_runner(const agent_runner&) = delete;
  agent_runner& operator=(const agent_runner&) = delete;

  [[nodiscard]] doorbell& bell() noexcept { return bell_; }
  [[nodiscard]] const idle_strategy& idle() const noexcept { return idle_; }
  /// Agents given to it and not yet retired (control thread).
  [[nodiscard]] std::size_t load() const noexcept { return load_; }

  /// Starts the thread; an error (no thread, no eventfd) fails only the caller's operation.
  result<void> start();
  /// Adds an agent; `retired` runs on the control thread once the agent has
  /// finished (kernel halted, or stopping and drained) and the runner no
  /// longer touches it. Control thread.
  void add(agent& a, std::function<void()> retired);
  /// Wakes the runner if it sleeps (any thread).
  void wake() noexcept { bell_.wake(); }
  /// Asks the thread to exit once it holds no agent (control thread).
  void close() noexcept;
  /// close(), then waits for the thread to exit.
  void join();

 private:
  struct entry {
    agent* a;
    std::function<void()> retired;
  };

  void run();
  void take_changes();
  void run_loop_style(entry& e);
  void retire_finished();
  void park();

  kernel_host& host_;
  std::string name_;
  idle_strategy idle_;
  int cpu_;
  doorbell bell_;
  std::thread thread_;
  std::size_t load_ = 0;  // control thread

  std::vector<entry> agents_;  // runner thread

  std::mutex changes_mu_;
  std::vector<entry> incoming_;  // guarded by changes_mu_
  std::atomic<bool> changed_{false};
  std::atomic<bool> closing_{false};
};

}  // namespace pdc::daemon
