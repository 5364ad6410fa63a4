// The baseline: the simplest correct SPSC ring of fixed 64-byte slots, with
// no index caching, no batching and no wake-ups. pdc's ring is compared with it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace pdc::bench {

struct bare_ring {
  static constexpr std::uint64_t k_slots = 4096;
  static constexpr std::size_t k_slot_bytes = 64;
  alignas(128) std::atomic<std::uint64_t> head{0};  // next slot to write (producer-owned)
  alignas(128) std::atomic<std::uint64_t> tail{0};  // next slot to read (consumer-owned)
  alignas(128) std::byte slots[k_slots][k_slot_bytes];

  bool try_push(const void* msg) noexcept {
    const auto h = head.load(std::memory_order_relaxed);
    // SYNC: bare_tail — acquire pairs with the consumer's release of tail.
    if (h - tail.load(std::memory_order_acquire) == k_slots) return false;
    std::memcpy(slots[h % k_slots], msg, k_slot_bytes);
    // SYNC: bare_head — release publishes the slot to the consumer.
    head.store(h + 1, std::memory_order_release);
    return true;
  }

  bool try_pop(void* out) noexcept {
    const auto t = tail.load(std::memory_order_relaxed);
    // SYNC: bare_head — acquire pairs with the producer's release of head.
    if (t == head.load(std::memory_order_acquire)) return false;
    std::memcpy(out, slots[t % k_slots], k_slot_bytes);
    // SYNC: bare_tail — release hands the slot back to the producer.
    tail.store(t + 1, std::memory_order_release);
    return true;
  }
};

}  // namespace pdc::bench
