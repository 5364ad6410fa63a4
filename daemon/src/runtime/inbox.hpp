// A kernel's inbox: the bounded queue of messages that arrive over the
// socket (Send) or from other kernels (send_to, connections), with the
// kernel's backpressure policy. Any thread offers; the kernel's first agent
// consumes (one consumer keeps the order). Attachments do not pass here:
// their rings are their queues.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "pdc/core/kinds.hpp"
#include "runtime/message_queue.hpp"

namespace pdc::daemon {

/// Outcome of offering a message to an inbox.
enum class offer_result : std::uint8_t {
  accepted,        ///< Queued.
  wait,            ///< block policy and full: the caller may wait for space (wait_for_space).
  rejected,        ///< reject policy and full.
  dropped_newest,  ///< drop_newest policy and full: this message was dropped.
  closed,          ///< The kernel is terminating: no more messages.
};

class inbox {
 public:
  inbox(std::size_t capacity, backpressure_policy policy) : queue_(capacity), policy_(policy) {}

  /// Offers `m` by the policy (any thread). Moves from `m` only when
  /// accepted. Under drop_oldest a full inbox evicts its oldest message of
  /// the lowest priority into `evicted` (the caller tells that sender).
  offer_result offer(queued_message& m, std::optional<queued_message>& evicted);
  /// Takes the next message (consumer).
  std::optional<queued_message> pop();
  /// True when something waits (seq_cst: the consumer's last look before parking).
  [[nodiscard]] bool has_messages() const noexcept {
    // SYNC: inbox_count — seq_cst load; pairs with the seq_cst store in
    // offer() (Dekker with the consumer's park, as the rings' write_pos).
    return count_.load(std::memory_order_seq_cst) != 0;
  }
  /// Messages waiting now.
  [[nodiscard]] std::uint64_t depth() const noexcept { return count_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::size_t capacity() const noexcept { return queue_.capacity(); }
  [[nodiscard]] backpressure_policy policy() const noexcept { return policy_; }

  /// Refuses every later offer (offer_result::closed); what is queued stays to be drained.
  void close();
  /// Removes and returns everything still queued.
  std::vector<queued_message> take_all();

  /// A blocked sender waits: `fn` runs once on the control thread when space frees up (control thread).
  void wait_for_space(std::function<void()> fn);
  /// True when a sender waits for space (the consumer then asks the control thread to notify).
  [[nodiscard]] bool space_wanted() const noexcept { return space_wanted_.load(std::memory_order_relaxed); }
  /// Runs the space waiters (control thread).
  void notify_space();

  /// Offers accepted, rejected by the policy, and dropped by it (drop_newest,
  /// drop_oldest), since launch. Any thread.
  [[nodiscard]] std::uint64_t accepted() const noexcept { return accepted_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t rejected() const noexcept { return rejected_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  /// Counts a blocked sender that gave up waiting as a rejection.
  void count_block_timeout() noexcept { rejected_.fetch_add(1, std::memory_order_relaxed); }

 private:
  mutable std::mutex mu_;
  message_queue queue_;  // guarded by mu_
  bool closed_ = false;  // guarded by mu_
  const backpressure_policy policy_;
  std::atomic<std::uint64_t> count_{0};
  std::atomic<bool> space_wanted_{false};
  std::vector<std::function<void()>> space_waiters_;  // control thread only
  // Written under mu_ or from any offering thread: atomic (RMW on a rare path).
  std::atomic<std::uint64_t> accepted_{0}, rejected_{0}, dropped_{0};
};

}  // namespace pdc::daemon
