// Lock-free single-producer / single-consumer ring of variable-length records
// that lives in shared memory. The algorithm, its memory orders and its
// benign races are described in docs/ring.md.
//
// Shared state is a plain struct (ring_control) in the segment; each side
// works through a process-local view (ring_producer, ring_consumer) that
// caches the other side's index, so the shared index line is read only when
// the cache says full (producer) or empty (consumer).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "pdc/core/clock.hpp"
#include "pdc/core/errc.hpp"
#include "pdc/core/idle_strategy.hpp"
#include "pdc/core/wait.hpp"

namespace pdc {

/// 128 bytes: one cache line plus the adjacent line the spatial prefetcher pulls in.
inline constexpr std::size_t k_ring_line = 128;
/// Records are padded to this alignment.
inline constexpr std::size_t k_record_align = 8;
/// The close reason that means plain "closed" (other reasons are pdc::errc values).
inline constexpr std::uint32_t k_ring_closed = 1;

/// Shared control block of one ring. Each index has a single writer and sits
/// on its own 128-byte line so the two sides never false-share.
struct ring_control {
  /// Bytes ever published by the producer (monotonic; offset = pos & mask).
  alignas(k_ring_line) std::atomic<std::uint64_t> write_pos;
  /// Bytes ever released by the consumer.
  alignas(k_ring_line) std::atomic<std::uint64_t> read_pos;
  /// Futex word: k_parked_futex while the consumer is parked (or about to),
  /// k_parked_socket while it waits in an event loop on its wake-up socket,
  /// else 0.
  alignas(k_ring_line) std::atomic<std::uint32_t> consumer_parked;
  /// Set once (non-zero: a reason) by the producer side when it will publish no more.
  std::atomic<std::uint32_t> producer_closed;
  /// Futex word: 1 while the producer waits for space, else 0.
  alignas(k_ring_line) std::atomic<std::uint32_t> producer_parked;
  /// Set once (non-zero: a reason) by the consumer side when it will read no more.
  std::atomic<std::uint32_t> consumer_closed;
};
/// consumer_parked values: parked on the futex word itself, or waiting in an
/// event loop for a byte on the socket given to ring_producer::set_park_socket.
inline constexpr std::uint32_t k_parked_futex = 1;
inline constexpr std::uint32_t k_parked_socket = 2;
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(sizeof(ring_control) == 4 * k_ring_line);
static_assert(alignof(ring_control) == k_ring_line);

/// Header in front of every record in the data area.
struct record_header {
  std::uint32_t length;  ///< Payload bytes (data) or bytes skipped after the header (padding).
  std::uint32_t tag;     ///< k_record_data or k_record_padding.
};
static_assert(sizeof(record_header) == k_record_align);
inline constexpr std::uint32_t k_record_data = 0x52444350;     // "PCDR"
inline constexpr std::uint32_t k_record_padding = 0x50444350;  // "PCDP"

/// Bytes a record with `payload_bytes` occupies in the ring (header + padding).
constexpr std::uint64_t record_footprint(std::uint64_t payload_bytes) noexcept {
  return (sizeof(record_header) + payload_bytes + k_record_align - 1) & ~(k_record_align - 1);
}

/// Outcome of try_reserve: `status` is ok, full or message_too_large.
struct write_slot {
  errc status = errc::full;
  std::span<std::byte> bytes;
  explicit operator bool() const noexcept { return status == errc::ok; }
};

/// Outcome of try_peek: `status` is ok, empty or corrupt_segment.
struct read_slot {
  errc status = errc::empty;
  std::span<const std::byte> bytes;
  explicit operator bool() const noexcept { return status == errc::ok; }
};

/// Counters kept by a view in its own process (no shared writes).
struct ring_view_stats {
  std::uint64_t wake_syscalls = 0;  ///< futex_wake / eventfd writes issued to the peer.
  std::uint64_t park_syscalls = 0;  ///< futex_wait calls made while waiting.
};

/// Producer side of a ring. Not thread-safe: exactly one producer thread.
class ring_producer {
 public:
  ring_producer() = default;
  ring_producer(ring_control* ctl, std::byte* data, std::uint64_t capacity_bytes,
                std::uint32_t max_record_bytes) noexcept
      : ctl_(ctl),
        data_(data),
        mask_(capacity_bytes - 1),
        max_record_(max_record_bytes),
        // Relaxed: the view is built before any concurrent use, or re-attached
        // by the same single producer that wrote these values.
        write_local_(ctl->write_pos.load(std::memory_order_relaxed)),
        read_cache_(ctl->read_pos.load(std::memory_order_acquire)) {}

  [[nodiscard]] bool valid() const noexcept { return ctl_ != nullptr; }
  [[nodiscard]] std::uint32_t max_record_bytes() const noexcept { return max_record_; }
  [[nodiscard]] std::uint64_t capacity_bytes() const noexcept { return mask_ + 1; }

  /// Reserves room for one record of `len` bytes and returns where to write
  /// it. The record stays invisible to the consumer until commit(). Several
  /// reservations may precede one commit (batched publish).
  write_slot try_reserve(std::size_t len) noexcept {
    if (len > max_record_) return {errc::message_too_large, {}};
    const std::uint64_t need = record_footprint(len);
    const std::uint64_t off = write_local_ & mask_;
    const std::uint64_t to_end = mask_ + 1 - off;
    const std::uint64_t total = need <= to_end ? need : need + to_end;
    if (write_local_ + total - read_cache_ > mask_ + 1) {
      // SYNC: read_pos — acquire pairs with the consumer's release of read_pos,
      // so its reads of the bytes we are about to overwrite are complete.
      read_cache_ = ctl_->read_pos.load(std::memory_order_acquire);
      if (write_local_ + total - read_cache_ > mask_ + 1) return {errc::full, {}};
    }
    std::uint64_t at = off;
    if (need > to_end) {
      // A record never wraps: fill the tail with padding and start at 0.
      write_header(off, static_cast<std::uint32_t>(to_end - sizeof(record_header)), k_record_padding);
      write_local_ += to_end;
      at = 0;
    }
    write_header(at, static_cast<std::uint32_t>(len), k_record_data);
    write_local_ += need;
    return {errc::ok, {data_ + at + sizeof(record_header), len}};
  }

  /// Publishes every record reserved since the last commit, then wakes the
  /// consumer if (and only if) it is parked.
  void commit() noexcept {
    // SYNC: write_pos — seq_cst exchange: a release that publishes the record
    // bytes to the consumer's acquire load, and a full fence ordering this
    // store before the load of consumer_parked below (Dekker pair with the
    // consumer's park in wait_for_data; see docs/ring.md).
    ctl_->write_pos.exchange(write_local_, std::memory_order_seq_cst);
    if (ctl_->consumer_parked.load(std::memory_order_seq_cst) != 0) wake_consumer();
  }

  /// Copies `payload` in as one record and commits it.
  errc try_push(std::span<const std::byte> payload) noexcept {
    auto slot = try_reserve(payload.size());
    if (!slot) return slot.status;
    if (!payload.empty()) std::memcpy(slot.bytes.data(), payload.data(), payload.size());
    commit();
    return errc::ok;
  }

  /// Waits until a record of `len` bytes fits, idling by `strategy`, until `until`.
  /// Returns ok, timeout, peer_gone (consumer closed) or message_too_large.
  errc wait_for_space(std::size_t len, const idle_strategy& strategy, deadline until) noexcept;

  /// Marks the producer side closed and wakes a parked consumer. `reason` (non-zero)
  /// tells the consumer why: 1 = closed, else a pdc::errc value (e.g. terminated).
  void close(std::uint32_t reason = 1) noexcept;
  /// True once the consumer side has closed the ring.
  [[nodiscard]] bool consumer_closed() const noexcept {
    return ctl_->consumer_closed.load(std::memory_order_acquire) != 0;
  }
  /// Why the consumer closed (0 while open).
  [[nodiscard]] std::uint32_t consumer_close_reason() const noexcept {
    return ctl_->consumer_closed.load(std::memory_order_acquire);
  }
  /// Route consumer wake-ups to an eventfd instead of a futex (for event loops).
  void set_wake_fd(int fd) noexcept { wake_fd_ = fd; }
  /// A stream socket whose peer a consumer in an event loop watches: a
  /// consumer parked with k_parked_socket is woken by one byte sent to it
  /// (MSG_DONTWAIT: never blocks, whatever the peer does); one parked with
  /// k_parked_futex still by the futex. -1: none (every wake is a futex wake).
  void set_park_socket(int fd) noexcept { park_socket_ = fd; }
  /// Wakes the consumer if it is parked. For a producer that announced work
  /// through another word of the segment with a seq_cst store (Dekker pair
  /// with the consumer's park, as in commit()).
  void notify_consumer() noexcept {
    if (ctl_->consumer_parked.load(std::memory_order_seq_cst) != 0) wake_consumer();
  }
  [[nodiscard]] const ring_view_stats& stats() const noexcept { return stats_; }
  /// True while the consumer is parked (or about to park): a hint for a
  /// watcher deciding how often to look (device_waker), not a wake test.
  [[nodiscard]] bool consumer_parked() const noexcept {
    return ctl_->consumer_parked.load(std::memory_order_relaxed) != 0;
  }
  /// The shared write index as published (by this view, or by a device
  /// producing into the ring while this view only wakes: device_waker).
  [[nodiscard]] std::uint64_t published_write_pos() const noexcept {
    // SYNC: write_pos — acquire pairs with the producer's release (commit(),
    // or the device's store): a wake sent after it covers those records.
    return ctl_->write_pos.load(std::memory_order_acquire);
  }
  /// Bytes published and not yet released by the consumer (approximate).
  [[nodiscard]] std::uint64_t used_bytes() const noexcept {
    return write_local_ - ctl_->read_pos.load(std::memory_order_relaxed);
  }

 private:
  void write_header(std::uint64_t off, std::uint32_t len, std::uint32_t tag) noexcept {
    const record_header h{len, tag};
    std::memcpy(data_ + off, &h, sizeof h);
  }
  [[nodiscard]] bool fits(std::uint64_t need) noexcept;
  void wake_consumer() noexcept;

  ring_control* ctl_ = nullptr;
  std::byte* data_ = nullptr;
  std::uint64_t mask_ = 0;
  std::uint32_t max_record_ = 0;
  std::uint64_t write_local_ = 0;  // reserved so far (>= published write_pos)
  std::uint64_t read_cache_ = 0;   // last read_pos seen
  int wake_fd_ = -1;
  int park_socket_ = -1;
  ring_view_stats stats_{};
};

/// Consumer side of a ring. Not thread-safe: exactly one consumer thread.
class ring_consumer {
 public:
  ring_consumer() = default;
  ring_consumer(ring_control* ctl, const std::byte* data, std::uint64_t capacity_bytes,
                std::uint32_t max_record_bytes) noexcept
      : ctl_(ctl),
        data_(data),
        mask_(capacity_bytes - 1),
        max_record_(max_record_bytes),
        // Relaxed: only this (single) consumer ever writes read_pos.
        read_local_(ctl->read_pos.load(std::memory_order_relaxed)),
        write_cache_(read_local_) {}

  [[nodiscard]] bool valid() const noexcept { return ctl_ != nullptr; }
  [[nodiscard]] std::uint64_t capacity_bytes() const noexcept { return mask_ + 1; }

  /// Returns the next record without consuming it (zero-copy; the bytes stay
  /// valid until release()+flush_release()). Status empty when there is none;
  /// corrupt_segment when the producer wrote a malformed header (the ring is
  /// then unusable: the consumer must not trust it further).
  read_slot try_peek() noexcept {
    for (;;) {
      if (read_local_ == write_cache_) {
        // A read index off the record alignment (a segment adopted from
        // shared memory someone else wrote) would make the header read run
        // past the data area. Checked here, before the first header read:
        // read_local_ only ever moves by aligned amounts afterwards. Found
        // by fuzzing (docs/security.md).
        if ((read_local_ & (k_record_align - 1)) != 0) return {errc::corrupt_segment, {}};
        // SYNC: write_pos — acquire pairs with the producer's commit(), so the
        // record bytes up to write_pos are visible.
        write_cache_ = ctl_->write_pos.load(std::memory_order_acquire);
        if (read_local_ == write_cache_) return {errc::empty, {}};
      }
      const std::uint64_t off = read_local_ & mask_;
      record_header h;
      std::memcpy(&h, data_ + off, sizeof h);
      const std::uint64_t to_end = mask_ + 1 - off;
      const std::uint64_t avail = write_cache_ - read_local_;
      // A producer index behind ours, or more than one capacity ahead, is
      // corruption (the difference wraps to a huge value when behind); it
      // also bounds the padding skips below to one lap of the ring.
      if (avail > mask_ + 1) return {errc::corrupt_segment, {}};
      if (h.tag == k_record_padding) {
        if (h.length + sizeof(record_header) != to_end || to_end > avail) return {errc::corrupt_segment, {}};
        read_local_ += to_end;
        continue;
      }
      const std::uint64_t need = record_footprint(h.length);
      if (h.tag != k_record_data || h.length > max_record_ || need > to_end || need > avail) {
        return {errc::corrupt_segment, {}};
      }
      peeked_ = need;
      return {errc::ok, {data_ + off + sizeof(record_header), h.length}};
    }
  }

  /// Consumes the record returned by the last successful try_peek(). Its
  /// space returns to the producer at the next flush_release() (batched release).
  void release() noexcept {
    read_local_ += peeked_;
    peeked_ = 0;
  }

  /// Hands every released record's space back to the producer, and wakes it
  /// if (and only if) it is parked waiting for space.
  void flush_release() noexcept {
    // SYNC: read_pos — seq_cst exchange: release pairs with the producer's
    // acquire in try_reserve (our reads of the bytes happen-before its
    // overwrite), and the full fence orders it before the producer_parked
    // load (Dekker pair with wait_for_space).
    ctl_->read_pos.exchange(read_local_, std::memory_order_seq_cst);
    if (ctl_->producer_parked.load(std::memory_order_seq_cst) != 0) wake_producer();
  }

  /// Calls `fn(bytes)` for up to `max_records` records, then releases them in
  /// one batch. Returns how many were consumed; stops early on a corrupt record
  /// (reported through `status` when given).
  template <typename F>
  std::size_t drain(F&& fn, std::size_t max_records, errc* status = nullptr) {
    std::size_t n = 0;
    errc st = errc::ok;
    while (n < max_records) {
      auto slot = try_peek();
      if (!slot) {
        st = slot.status;
        break;
      }
      fn(slot.bytes);
      release();
      ++n;
    }
    if (n != 0) flush_release();
    if (status != nullptr) *status = (st == errc::empty) ? errc::ok : st;
    return n;
  }

  /// True when a published record (or padding) is waiting.
  [[nodiscard]] bool has_data() noexcept {
    if (read_local_ != write_cache_) return true;
    // SYNC: write_pos — seq_cst (an acquire, as in try_peek, that is also a
    // consumer's last look after mark_parked(): Dekker pair with commit()).
    // It costs what an acquire load costs on x86 and ARM.
    write_cache_ = ctl_->write_pos.load(std::memory_order_seq_cst);
    return read_local_ != write_cache_;
  }

  /// Waits until a record is readable, idling by `strategy`, until `until`.
  /// Returns ok, timeout, or peer_gone (producer closed and nothing left to read).
  errc wait_for_data(const idle_strategy& strategy, deadline until) noexcept;

  /// Prepares to sleep in an external event loop: marks the consumer parked
  /// (with `mark`: k_parked_futex, or k_parked_socket when it waits on the
  /// producer's park socket) and returns false if data arrived meanwhile or
  /// the producer closed (then do not sleep). Pair with unpark() after
  /// waking. The producer's wake goes to its wake fd, or its park socket.
  bool prepare_park(std::uint32_t mark = k_parked_futex) noexcept;
  /// Marks the consumer parked without looking for data: for a consumer that
  /// sleeps on something else too (a closed gate) and takes its own last look
  /// (has_data) afterwards. Pair with unpark().
  void mark_parked() noexcept {
    // SYNC: consumer_parked — seq_cst exchange, the consumer's half of the
    // Dekker pair with commit() (as in prepare_park).
    ctl_->consumer_parked.exchange(1, std::memory_order_seq_cst);
  }
  /// Clears the parked mark set by prepare_park() or mark_parked().
  void unpark() noexcept;

  /// Marks the consumer side closed and wakes a parked producer (`reason` as for
  /// ring_producer::close).
  void close(std::uint32_t reason = 1) noexcept;
  /// True once the producer side has closed the ring.
  [[nodiscard]] bool producer_closed() const noexcept {
    return ctl_->producer_closed.load(std::memory_order_acquire) != 0;
  }
  /// Why the producer closed (0 while open).
  [[nodiscard]] std::uint32_t producer_close_reason() const noexcept {
    return ctl_->producer_closed.load(std::memory_order_acquire);
  }
  /// Route producer wake-ups to an eventfd instead of a futex.
  void set_wake_fd(int fd) noexcept { wake_fd_ = fd; }
  [[nodiscard]] const ring_view_stats& stats() const noexcept { return stats_; }
  /// Bytes published and not yet consumed (approximate while the producer runs).
  [[nodiscard]] std::uint64_t used_bytes() const noexcept {
    return ctl_->write_pos.load(std::memory_order_relaxed) - read_local_;
  }

 private:
  void wake_producer() noexcept;

  ring_control* ctl_ = nullptr;
  const std::byte* data_ = nullptr;
  std::uint64_t mask_ = 0;
  std::uint32_t max_record_ = 0;
  std::uint64_t read_local_ = 0;   // consumed so far (>= published read_pos)
  std::uint64_t write_cache_ = 0;  // last write_pos seen
  std::uint64_t peeked_ = 0;       // footprint of the peeked record
  int wake_fd_ = -1;
  ring_view_stats stats_{};
};

}  // namespace pdc
