// A worker: one thread's share of a kernel (tier 1: the event loop; tier 2/3:
// a dedicated thread; pool: one of N). It owns the attachments assigned to
// it, its doorbell, and its latency histograms.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "attachment.hpp"
#include "message_queue.hpp"
#include "pdc/core/histogram.hpp"

namespace pdc::daemon {

class kernel;

struct worker {
  worker(kernel& k, std::size_t worker_index, bool serves_socket_queue);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  kernel& owner;
  const std::size_t index;
  /// Worker 0 serves the socket-path queue (one consumer keeps its order).
  const bool serves_socket;
  /// eventfd that producers write when this worker is parked.
  int doorbell = -1;
  /// 1 while the worker sleeps (or is about to) on its doorbell.
  std::atomic<std::uint32_t> parked{0};

  // ---- owned by the worker's thread ----
  std::vector<std::shared_ptr<attachment_source>> sources;
  std::size_t next_source = 0;
  /// Loop style: the message returned by the last receive (kept alive until the next).
  std::optional<queued_message> held;
  std::vector<std::byte> held_bytes;
  std::uint64_t held_since_ns = 0;
  // The request being handled (reactive style) and whether it got a reply.
  std::uint64_t current_message_id = 0;
  bool replied = false;

  // ---- handed over by the control thread ----
  std::mutex changes_mu;
  std::vector<std::shared_ptr<attachment_source>> incoming;  // guarded by changes_mu
  std::atomic<bool> changed{false};

  // ---- metrics (written by the worker, read by the control thread) ----
  mutable std::mutex metrics_mu;
  histogram queue_wait;  // guarded by metrics_mu
  histogram processing;  // guarded by metrics_mu

  /// Moves newly assigned attachments in and drops detached ones (worker thread).
  void apply_changes();
  /// Hands an attachment to this worker (control thread).
  void add(std::shared_ptr<attachment_source> src);
  /// Wakes the worker if it is parked (any thread).
  void wake() noexcept;
  /// Records one message's latencies.
  void record(std::uint64_t wait_ns, std::uint64_t proc_ns);
};

/// The worker whose handler is running on this thread (null outside handlers).
worker* current_worker() noexcept;
/// Sets the current worker for the calling thread; returns the previous one.
worker* set_current_worker(worker* w) noexcept;

}  // namespace pdc::daemon
