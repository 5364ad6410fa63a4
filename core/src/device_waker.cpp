#include "pdc/core/device_waker.hpp"

#include <time.h>

#include <algorithm>

namespace pdc {

device_waker::device_waker(std::chrono::microseconds interval, std::chrono::microseconds quiet,
                           std::chrono::microseconds hot)
    : interval_(interval), quiet_(quiet), hot_(hot) {
  thread_ = std::thread([this] { run(); });
}

device_waker::~device_waker() {
  stopping_.store(true, std::memory_order_relaxed);
  thread_.join();
}

std::uint64_t device_waker::add(ring_producer* view) {
  std::lock_guard lock(mu_);
  const auto h = next_++;
  // The ring's current write index: only what comes after it wakes anyone.
  rings_.push_back({h, view, view->published_write_pos(), false});
  return h;
}

void device_waker::remove(std::uint64_t handle) {
  // Under the mutex the thread holds for a whole round: once this returns,
  // no round looks at the view.
  std::lock_guard lock(mu_);
  std::erase_if(rings_, [handle](const watched& w) { return w.handle == handle; });
}

device_waker::stats device_waker::snapshot() const noexcept {
  return {rounds_.load(std::memory_order_relaxed), wakes_.load(std::memory_order_relaxed),
          cpu_ns_.load(std::memory_order_relaxed)};
}

void device_waker::run() {
  auto last_activity = std::chrono::steady_clock::now() - hot_;
  while (!stopping_.load(std::memory_order_relaxed)) {
    bool parked = false;
    bool activity = false;
    {
      std::lock_guard lock(mu_);
      for (auto& w : rings_) {
        const bool p = w.view->consumer_parked();
        activity = activity || (p && !w.was_parked);  // a client just parked: its reply may be near
        w.was_parked = p;
        parked = parked || p;
        // New replies since the last look: a client parked on them is woken
        // (notify_consumer wakes only a parked one, and clears its mark).
        const std::uint64_t pos = w.view->published_write_pos();
        if (pos == w.last_write) continue;
        w.last_write = pos;
        activity = true;
        const auto before = w.view->stats().wake_syscalls;
        w.view->notify_consumer();
        if (w.view->stats().wake_syscalls != before) wakes_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    rounds_.fetch_add(1, std::memory_order_relaxed);
    timespec t{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    cpu_ns_.store(static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(t.tv_nsec),
                  std::memory_order_relaxed);
    // Fast while a client is parked and something happened lately; a
    // client parked for long on a silent kernel is looked at every `quiet`.
    const auto now = std::chrono::steady_clock::now();
    if (activity) last_activity = now;
    std::this_thread::sleep_for(parked && now - last_activity < hot_ ? interval_ : quiet_);
  }
}

}  // namespace pdc
