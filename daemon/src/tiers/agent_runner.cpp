#include "tiers/agent_runner.hpp"

#include <pthread.h>
#include <sched.h>

#include <system_error>

#include "runtime/agent.hpp"
#include "runtime/kernel.hpp"

namespace pdc::daemon {

agent_runner::agent_runner(kernel_host& host, std::string name, const idle_strategy& idle, int cpu)
    : host_(host), name_(std::move(name)), idle_(idle), cpu_(cpu) {}

agent_runner::~agent_runner() {
  join();
}

void agent_runner::join() {
  close();
  if (thread_.joinable()) thread_.join();
}

result<void> agent_runner::start() {
  if (!bell_.valid()) return make_error(errc::system_error, "cannot create an eventfd for thread " + name_);
  try {
    thread_ = std::thread([this] { run(); });
  } catch (const std::system_error& e) {
    return make_error(errc::system_error, "cannot start thread " + name_ + ": " + e.what());
  }
  pthread_setname_np(thread_.native_handle(), name_.substr(0, 15).c_str());
  if (cpu_ >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<unsigned>(cpu_), &set);
    if (pthread_setaffinity_np(thread_.native_handle(), sizeof set, &set) != 0) {
      close();
      thread_.join();
      return make_error(errc::invalid_argument, "cannot pin thread " + name_ + " to CPU " + std::to_string(cpu_));
    }
  }
  return ok();
}

void agent_runner::add(agent& a, std::function<void()> retired) {
  ++load_;
  // Runs on the control thread: the load goes down before the caller hears.
  auto on_retired = [this, retired = std::move(retired)]() mutable {
    --load_;
    if (retired) retired();
  };
  {
    std::lock_guard lock(changes_mu_);
    incoming_.push_back(entry{&a, std::move(on_retired)});
  }
  // SYNC: runner_changed — seq_cst store: a release for take_changes()'s
  // acquire, and the store half of the Dekker pair with park()'s last look.
  changed_.store(true, std::memory_order_seq_cst);
  bell_.wake();
}

void agent_runner::close() noexcept {
  // SYNC: runner_closing — seq_cst store; the thread's seq_cst load in park().
  closing_.store(true, std::memory_order_seq_cst);
  if (bell_.valid()) bell_.ring();
}

void agent_runner::take_changes() {
  // SYNC: runner_changed — acquire pairs with add()'s seq_cst store.
  if (!changed_.exchange(false, std::memory_order_acquire)) return;
  std::lock_guard lock(changes_mu_);
  for (auto& e : incoming_) agents_.push_back(std::move(e));
  incoming_.clear();
}

void agent_runner::run() {
  idler idle(idle_);
  for (;;) {
    if (changed_.load(std::memory_order_relaxed)) take_changes();
    if (agents_.empty()) {
      if (closing_.load(std::memory_order_acquire)) return;
      park();
      continue;
    }
    std::size_t work = 0;
    for (auto& e : agents_) {
      if (e.a->owner().type().is_loop()) {
        run_loop_style(e);
        continue;
      }
      work += e.a->do_work(k_budget);
    }
    retire_finished();
    if (work != 0) {
      idle.reset();
      continue;
    }
    switch (idle.next()) {
      case idle_step::poll:
        cpu_relax();
        break;
      case idle_step::yield:
        sched_yield();
        break;
      case idle_step::park:
        park();
        idle.reset();
        break;
    }
  }
}

void agent_runner::run_loop_style(entry& e) {
  // run() holds this thread until the kernel stops (or it returns early:
  // then the runner waits for the stop, so the control thread's terminate
  // finds a quiet agent).
  e.a->run_loop();
  while (!e.a->owner().stopping()) {
    bell_.mark_parked();
    if (!e.a->owner().stopping()) bell_.wait(idle_.max_park_ns);
    bell_.clear_parked();
  }
}

void agent_runner::retire_finished() {
  for (std::size_t i = 0; i < agents_.size();) {
    agent& a = *agents_[i].a;
    if (!a.finished() && !(a.owner().type().is_loop() && a.owner().stopping())) {
      ++i;
      continue;
    }
    // From here on the runner never touches the agent again.
    host_.post(std::move(agents_[i].retired));
    agents_.erase(agents_.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

void agent_runner::park() {
  bell_.mark_parked();
  // SYNC: runner_changed / runner_closing — seq_cst loads after the bell's
  // seq_cst mark (Dekker with add() and close()).
  bool sleep = !changed_.load(std::memory_order_seq_cst) && !closing_.load(std::memory_order_seq_cst);
  std::size_t prepared = 0;
  while (sleep && prepared < agents_.size()) {
    if (agents_[prepared].a->prepare_park()) {
      ++prepared;
    } else {
      sleep = false;  // that agent found work (and undid its own marks)
    }
  }
  if (sleep) bell_.wait(idle_.max_park_ns);
  for (std::size_t i = 0; i < prepared; ++i) agents_[i].a->unpark();
  bell_.clear_parked();
}

}  // namespace pdc::daemon
