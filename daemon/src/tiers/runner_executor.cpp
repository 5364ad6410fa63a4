#include "tiers/runner_executor.hpp"

#include "runtime/kernel.hpp"

namespace pdc::daemon {

std::unique_ptr<runner_executor> runner_executor::dedicated(kernel& k, kernel_host& host, std::size_t agents,
                                                            const idle_strategy& idle, int cpu) {
  std::unique_ptr<runner_executor> e(new runner_executor(host));
  for (std::size_t i = 0; i < agents; ++i) {
    const std::string name = "pdc:" + k.id().substr(0, 8) + (agents > 1 ? "/" + std::to_string(i) : "");
    e->own_.push_back(std::make_unique<agent_runner>(host, name, idle, i == 0 ? cpu : -1));
    e->runners_.push_back(e->own_.back().get());
    e->agents_.push_back(std::make_unique<agent>(k, static_cast<std::uint32_t>(i), e->runners_.back()->bell(), idle));
  }
  return e;
}

std::unique_ptr<runner_executor> runner_executor::shared(kernel& k, kernel_host& host,
                                                         const std::vector<agent_runner*>& runners) {
  std::unique_ptr<runner_executor> e(new runner_executor(host));
  for (std::size_t i = 0; i < runners.size(); ++i) {
    e->runners_.push_back(runners[i]);
    e->agents_.push_back(
        std::make_unique<agent>(k, static_cast<std::uint32_t>(i), runners[i]->bell(), runners[i]->idle()));
  }
  return e;
}

runner_executor::~runner_executor() {
  // Dedicated runners join their threads here; the kernel halted them first.
  for (auto& r : own_) r->close();
  for (auto& r : own_) r->join();
  // The agents go before the runners: they leave their runner's doorbell.
  agents_.clear();
  own_.clear();
}

result<void> runner_executor::start() {
  for (auto& r : own_) {
    if (auto started = r->start(); !started) return started;
  }
  const std::weak_ptr<int> alive = alive_;
  for (std::size_t i = 0; i < agents_.size(); ++i) {
    runners_[i]->add(*agents_[i], [this, alive] {
      if (alive.lock()) on_retired();
    });
  }
  started_ = true;
  return ok();
}

void runner_executor::notify() noexcept {
  for (auto* r : runners_) r->wake();
}

void runner_executor::stop(std::function<void()> stopped) {
  stopped_ = std::move(stopped);
  if (!started_ || retired_ == agents_.size()) {
    host_.post(std::move(stopped_));
    return;
  }
  notify();
}

void runner_executor::on_retired() {
  if (++retired_ < agents_.size()) return;
  for (auto& r : own_) r->close();  // their threads exit: no agent left
  if (stopped_) {
    // A posted callback: a fresh stack on the control thread. `done` may
    // destroy the kernel and with it this executor: touch nothing after it.
    auto done = std::move(stopped_);
    done();
  }
}

}  // namespace pdc::daemon
