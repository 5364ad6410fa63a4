#include "tiers/thread_executor.hpp"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "kernel.hpp"

namespace pdc::daemon {

thread_executor::thread_executor(kernel& k, std::size_t workers, int cpu) : kernel_(k), cpu_(cpu) {
  for (std::size_t i = 0; i < std::max<std::size_t>(workers, 1); ++i) {
    workers_.push_back(std::make_unique<worker>(k, i, i == 0));
  }
}

thread_executor::~thread_executor() {
  stop_.store(true, std::memory_order_seq_cst);
  join_all();
}

void thread_executor::start() {
  for (auto& w : workers_) {
    threads_.emplace_back([this, wp = w.get()] { run(*wp); });
  }
  if (cpu_ >= 0 && !threads_.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<unsigned>(cpu_), &set);
    if (pthread_setaffinity_np(threads_[0].native_handle(), sizeof set, &set) != 0) {
      kernel_.host_log(PDC_LOG_WARN, ("cannot pin to CPU " + std::to_string(cpu_)).c_str());
    }
  }
  const std::string name = "pdc:" + kernel_.id().substr(0, 10);
  for (auto& t : threads_) pthread_setname_np(t.native_handle(), name.c_str());
}

void thread_executor::notify() {
  for (auto& w : workers_) w->wake();
}

void thread_executor::run(worker& w) {
  if (kernel_.type().is_loop()) {
    kernel_.run_loop_style(w);
  } else {
    set_current_worker(&w);
    for (;;) {
      if (stop_.load(std::memory_order_acquire)) break;
      const auto n = kernel_.poll(w, 256);
      if (n != 0) continue;
      if (kernel_.stopping() && kernel_.idle(w)) break;
      if (stop_.load(std::memory_order_acquire)) break;
      kernel_.idle_wait(w, 100'000'000);
    }
    set_current_worker(nullptr);
  }
  drained_.fetch_add(1, std::memory_order_acq_rel);
  // Stay until told to stop, so the control thread joins a quiet thread.
  while (!stop_.load(std::memory_order_acquire)) {
    pollfd p{w.doorbell, POLLIN, 0};
    w.parked.store(1, std::memory_order_seq_cst);
    if (!stop_.load(std::memory_order_seq_cst)) ::poll(&p, 1, 100);
    w.parked.store(0, std::memory_order_relaxed);
    std::uint64_t count = 0;
    (void)!::read(w.doorbell, &count, sizeof count);
  }
}

void thread_executor::drain_and_stop(deadline until) {
  // Workers leave their loop once the kernel is stopping and their sources
  // are empty; wait for that (up to `until`), then stop them regardless.
  while (drained_.load(std::memory_order_acquire) < threads_.size() && !until.expired()) {
    notify();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  kernel_.halt();
  stop_.store(true, std::memory_order_seq_cst);
  join_all();
}

void thread_executor::join_all() {
  for (auto& w : workers_) pdc::detail::eventfd_signal(w->doorbell);
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace pdc::daemon
