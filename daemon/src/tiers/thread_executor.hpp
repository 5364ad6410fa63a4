// Tiers 2 and 3: kernels on dedicated threads.
//  - threaded: one thread; handlers may block; spins ~5 us, then parks on
//    its doorbell.
//  - pool: N threads serving one kernel; each attachment belongs to one
//    worker (so per-session order holds) and worker 0 serves the socket
//    queue. Handlers then run concurrently and must be thread-safe.
//  - spin: one busy-polling thread, optionally pinned to a CPU; spins ~50 us
//    idle before parking, so a small machine is not starved.
// Loop-style kernels (run) run on every worker of these tiers.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "tiers/executor.hpp"
#include "worker.hpp"

namespace pdc::daemon {

class kernel;

class thread_executor final : public executor {
 public:
  /// `workers` >= 1; `cpu` >= 0 pins worker 0 (spin tier).
  thread_executor(kernel& k, std::size_t workers, int cpu);
  ~thread_executor() override;
  void start() override;
  void notify() override;
  void drain_and_stop(deadline until) override;
  [[nodiscard]] std::size_t worker_count() const noexcept override { return workers_.size(); }
  worker& worker_at(std::size_t i) noexcept override { return *workers_[i]; }

 private:
  void run(worker& w);
  void join_all();

  kernel& kernel_;
  int cpu_;
  std::vector<std::unique_ptr<worker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> drained_{0};
};

}  // namespace pdc::daemon
