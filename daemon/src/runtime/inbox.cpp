#include "runtime/inbox.hpp"

#include "pdc/core/clock.hpp"

namespace pdc::daemon {

offer_result inbox::offer(queued_message& m, std::optional<queued_message>& evicted) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return offer_result::closed;
    if (queue_.full()) {
      switch (policy_) {
        case backpressure_policy::block:
          space_wanted_.store(true, std::memory_order_relaxed);
          return offer_result::wait;
        case backpressure_policy::reject:
          rejected_.fetch_add(1, std::memory_order_relaxed);
          return offer_result::rejected;
        case backpressure_policy::drop_newest:
          dropped_.fetch_add(1, std::memory_order_relaxed);
          return offer_result::dropped_newest;
        case backpressure_policy::drop_oldest:
          evicted = queue_.pop_oldest_lowest();
          if (evicted) dropped_.fetch_add(1, std::memory_order_relaxed);
          break;
      }
    }
    m.enqueued_ns = now_ns();
    queue_.push(std::move(m));
    // SYNC: inbox_count — seq_cst store (see has_messages); the mutex orders the message itself.
    count_.store(queue_.size(), std::memory_order_seq_cst);
  }
  accepted_.fetch_add(1, std::memory_order_relaxed);
  return offer_result::accepted;
}

std::optional<queued_message> inbox::pop() {
  std::lock_guard lock(mu_);
  auto m = queue_.pop();
  count_.store(queue_.size(), std::memory_order_seq_cst);
  return m;
}

void inbox::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
}

std::vector<queued_message> inbox::take_all() {
  std::vector<queued_message> left;
  std::lock_guard lock(mu_);
  while (auto m = queue_.pop()) left.push_back(std::move(*m));
  count_.store(0, std::memory_order_seq_cst);
  return left;
}

void inbox::wait_for_space(std::function<void()> fn) {
  space_waiters_.push_back(std::move(fn));
}

void inbox::notify_space() {
  if (space_waiters_.empty()) return;
  space_wanted_.store(false, std::memory_order_relaxed);
  auto waiters = std::move(space_waiters_);
  space_waiters_.clear();
  for (auto& w : waiters) w();
}

}  // namespace pdc::daemon
