// The priority queue inside a kernel's inbox (socket path): FIFO within a
// priority, higher priority first. Not thread-safe: the inbox guards it.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "pdc/proto/envelope.hpp"
#include "runtime/reply_address.hpp"

namespace pdc::daemon {

/// One queued message: envelope + payload bytes, who awaits its answer, and when it was queued.
struct queued_message {
  envelope env;
  std::vector<std::byte> payload;
  reply_address from;
  std::uint64_t enqueued_ns = 0;
  /// Not 0: tell the host (kernel_host::settle) once its handler ran; an
  /// at-least-once message from another node is acknowledged then.
  std::uint64_t settle_id = 0;
};

class message_queue {
 public:
  explicit message_queue(std::size_t capacity) : capacity_(capacity) {}

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] bool full() const noexcept { return size_ >= capacity_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  /// Adds `m`; the caller checks full() first (capacity is enforced by the
  /// inbox's backpressure policy, not here). Returns false if full.
  bool push(queued_message m);
  /// Removes the next message: highest priority, oldest first.
  std::optional<queued_message> pop();
  /// Removes the oldest message among the lowest priority present (what
  /// drop_oldest evicts: never a higher-priority message).
  std::optional<queued_message> pop_oldest_lowest();

 private:
  queued_message take_front(unsigned priority);

  std::size_t capacity_;
  std::size_t size_ = 0;
  // One FIFO lane per priority; `occupied_` marks non-empty lanes so pop is
  // a scan of 4 words, not 256 deques.
  // Lanes are allocated on first use: most kernels see one or two priorities.
  std::array<std::unique_ptr<std::deque<queued_message>>, 256> lanes_;
  std::array<std::uint64_t, 4> occupied_{};
};

}  // namespace pdc::daemon
