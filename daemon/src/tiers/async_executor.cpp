#include "tiers/async_executor.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <asio/post.hpp>

#include "kernel.hpp"

namespace pdc::daemon {

namespace {
// Batches running on this thread right now: a handler that routes to another
// kernel must not recurse into it (that one is posted instead).
thread_local int t_running = 0;
constexpr std::uint64_t k_max_spin_ns = 20'000;
}  // namespace

async_executor::async_executor(asio::io_context& io, const std::shared_ptr<kernel>& k)
    : io_(io), kernel_(k), worker_(*k, 0, true), bell_(io) {}

async_executor::~async_executor() {
  stopped_ = true;
  asio::error_code ignored;
  bell_.cancel(ignored);
  bell_.close(ignored);
}

void async_executor::start() {
  const int fd = ::fcntl(worker_.doorbell, F_DUPFD_CLOEXEC, 0);
  asio::error_code ec;
  if (fd >= 0) bell_.assign(fd, ec);
  settle();
}

void async_executor::notify() {
  if (scheduled_ || stopped_) return;
  if (t_running == 0) {
    // The loop is between handlers: run the batch now rather than pay a trip
    // through the loop's queue (a large part of a tier-1 round trip).
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
  const auto n = k->poll(worker_, k_batch);
  --t_running;
  scheduled_ = false;
  if (stopped_) return;
  if (n != 0 && !k->idle(worker_)) {
    post_batch();  // more waiting: yield to the loop, then go on
    return;
  }
  settle();
}

// Nothing to do right now: spin briefly (adaptive), then park on the doorbell.
void async_executor::settle() {
  auto k = kernel_.lock();
  if (!k || stopped_) return;
  if (!worker_.sources.empty() && k->gate_open()) {
    const auto until = now_ns() + spin_ns_;
    while (now_ns() < until) {
      if (!k->idle(worker_)) {
        spin_ns_ = std::min(spin_ns_ * 2, k_max_spin_ns);
        post_batch();
        return;
      }
      cpu_relax();
    }
    spin_ns_ = std::max<std::uint64_t>(spin_ns_ / 2, 500);
  }
  if (!k->prepare_park(worker_)) {
    post_batch();
    return;
  }
  arm_doorbell();
}

void async_executor::arm_doorbell() {
  if (armed_ || stopped_ || !bell_.is_open()) return;
  armed_ = true;
  bell_.async_wait(asio::posix::stream_descriptor::wait_read, [this, k = kernel_](const asio::error_code& ec) {
    auto alive = k.lock();
    if (!alive) return;
    armed_ = false;
    if (ec || stopped_) return;
    std::uint64_t count = 0;
    (void)!::read(worker_.doorbell, &count, sizeof count);
    alive->unpark(worker_);
    if (!scheduled_) run_batch();
  });
}

void async_executor::drain_and_stop(deadline until) {
  auto k = kernel_.lock();
  if (k) {
    ++t_running;
    while (!until.expired() && !k->idle(worker_)) {
      if (k->poll(worker_, k_batch) == 0 && k->idle(worker_)) break;
    }
    --t_running;
    k->unpark(worker_);
  }
  stopped_ = true;
  asio::error_code ignored;
  bell_.cancel(ignored);
}

}  // namespace pdc::daemon
