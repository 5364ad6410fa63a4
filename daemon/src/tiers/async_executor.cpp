#include "tiers/async_executor.hpp"

#include <asio/post.hpp>

#include "kernel.hpp"

namespace pdc::daemon {

namespace {
// Batches running on this thread right now: a handler that routes to another
// kernel must not recurse into it (that one is posted instead).
thread_local int t_running = 0;
}  // namespace

void async_executor::notify() {
  if (scheduled_ || stopped_) return;
  if (t_running == 0) {
    // The loop is idle between handlers: run the batch now rather than pay a
    // trip through the loop's queue (most of a tier-1 round trip's latency).
    ++t_running;
    scheduled_ = true;
    run_batch();
    --t_running;
    return;
  }
  post_batch();
}

void async_executor::post_batch() {
  scheduled_ = true;
  // The kernel owns this executor: while the kernel is alive, so is `this`.
  asio::post(io_, [this, k = kernel_]() {
    if (auto alive = k.lock()) run_batch();
  });
}

void async_executor::run_batch() {
  if (stopped_) {
    scheduled_ = false;
    return;
  }
  auto k = kernel_.lock();
  if (!k) return;
  ++t_running;
  k->process(k_batch);
  --t_running;
  scheduled_ = false;
  if (k->runnable() && !stopped_) post_batch();  // more waiting: yield to the loop, then go on
}

}  // namespace pdc::daemon
