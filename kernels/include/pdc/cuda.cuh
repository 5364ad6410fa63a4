// pdc/cuda.cuh: the device side of pdc's cuda tier (docs/cuda.md).
//
// A cuda-tier kernel is one long-running CUDA kernel launch that serves its
// attachments' rings where clients already map them: the segment is
// registered with cudaHostRegister as mapped memory, and the device reads
// requests from the request ring and writes replies into the reply ring
// through device pointers to the same bytes. This header holds what the
// device runs: views of a ring, the control block, the mailbox table by
// which attachments join a running kernel, and the persistent loop that
// calls an author's handler per message.
//
// Everything here is __host__ __device__: compiled as plain C++ it is the
// same protocol run from a CPU thread (the emulation the tests drive
// against a real client's ring views, on machines without a GPU).
//
// Memory model (docs/cuda.md, "Protocol"):
// - every shared index has one writer and sits on its own 128-byte line;
// - the device reads the other side's index with an acquire load and
//   publishes its own with a release store, at system scope, on naturally
//   aligned 64-bit words; no read-modify-write on host memory is shared
//   between CPU and GPU (PCIe hosts do not guarantee them);
// - the device never wakes anyone: a host helper watches the rings of
//   parked clients (the consumer_parked word) and wakes them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "pdc/plugin.h"

#if defined(__CUDACC__)
#include <cuda/atomic>
#define PDC_HD __host__ __device__
#else
#define PDC_HD
#endif

namespace pdc::cuda {

/// What the shared layout is built of (the same values as the core ring:
/// core/include/pdc/core/spsc_ring.hpp, docs/ring.md).
inline constexpr std::size_t k_line = 128;
inline constexpr std::uint64_t k_record_align = 8;
inline constexpr std::uint32_t k_record_data = 0x52444350;     // "PCDR"
inline constexpr std::uint32_t k_record_padding = 0x50444350;  // "PCDP"
inline constexpr std::uint32_t k_envelope_bytes = 48;
inline constexpr std::uint16_t k_flag_reply = 1U << 0;
inline constexpr std::uint16_t k_flag_error = 1U << 1;

// ---- loads and stores of words the other side reads --------------------------------------

/// Acquire load of a word the other side writes (system scope on the device).
PDC_HD inline std::uint64_t load_acquire(std::uint64_t* p) noexcept {
#if defined(__CUDA_ARCH__)
  return ::cuda::atomic_ref<std::uint64_t, ::cuda::thread_scope_system>(*p).load(::cuda::memory_order_acquire);
#else
  return std::atomic_ref<std::uint64_t>(*p).load(std::memory_order_acquire);
#endif
}
PDC_HD inline std::uint32_t load_acquire(std::uint32_t* p) noexcept {
#if defined(__CUDA_ARCH__)
  return ::cuda::atomic_ref<std::uint32_t, ::cuda::thread_scope_system>(*p).load(::cuda::memory_order_acquire);
#else
  return std::atomic_ref<std::uint32_t>(*p).load(std::memory_order_acquire);
#endif
}
/// Relaxed load of a word only this side writes (re-reading its own index).
PDC_HD inline std::uint64_t load_relaxed(std::uint64_t* p) noexcept {
#if defined(__CUDA_ARCH__)
  return ::cuda::atomic_ref<std::uint64_t, ::cuda::thread_scope_system>(*p).load(::cuda::memory_order_relaxed);
#else
  return std::atomic_ref<std::uint64_t>(*p).load(std::memory_order_relaxed);
#endif
}
/// Release store of a word this side alone writes: what it wrote before is
/// visible to whoever acquires the new value.
PDC_HD inline void store_release(std::uint64_t* p, std::uint64_t v) noexcept {
#if defined(__CUDA_ARCH__)
  ::cuda::atomic_ref<std::uint64_t, ::cuda::thread_scope_system>(*p).store(v, ::cuda::memory_order_release);
#else
  std::atomic_ref<std::uint64_t>(*p).store(v, std::memory_order_release);
#endif
}
PDC_HD inline void store_release(std::uint32_t* p, std::uint32_t v) noexcept {
#if defined(__CUDA_ARCH__)
  ::cuda::atomic_ref<std::uint32_t, ::cuda::thread_scope_system>(*p).store(v, ::cuda::memory_order_release);
#else
  std::atomic_ref<std::uint32_t>(*p).store(v, std::memory_order_release);
#endif
}

/// Relaxed store of a word the other side only watches (a counter, a flag
/// no data rides on).
PDC_HD inline void store_relaxed(std::uint64_t* p, std::uint64_t v) noexcept {
#if defined(__CUDA_ARCH__)
  ::cuda::atomic_ref<std::uint64_t, ::cuda::thread_scope_system>(*p).store(v, ::cuda::memory_order_relaxed);
#else
  std::atomic_ref<std::uint64_t>(*p).store(v, std::memory_order_relaxed);
#endif
}
PDC_HD inline void store_relaxed(std::uint32_t* p, std::uint32_t v) noexcept {
#if defined(__CUDA_ARCH__)
  ::cuda::atomic_ref<std::uint32_t, ::cuda::thread_scope_system>(*p).store(v, ::cuda::memory_order_relaxed);
#else
  std::atomic_ref<std::uint32_t>(*p).store(v, std::memory_order_relaxed);
#endif
}
/// Adds one to a counter only this side writes (a load and a store, never
/// a read-modify-write on host memory).
PDC_HD inline void bump(std::uint64_t* p) noexcept {
  store_relaxed(p, load_relaxed(p) + 1);
}

/// Backs off for about `ns` nanoseconds (the device's __nanosleep; a pause on the host).
PDC_HD inline void back_off(std::uint32_t ns) noexcept {
#if defined(__CUDA_ARCH__)
  __nanosleep(ns);
#elif defined(__x86_64__) || defined(__i386__)
  for (std::uint32_t i = 0; i < ns / 64 + 1; ++i) __builtin_ia32_pause();
#else
  (void)ns;
#endif
}

// ---- the ring, as words -------------------------------------------------------------------

/// The layout of pdc::ring_control (core/spsc_ring.hpp) as plain words, so
/// both sides address the same bytes (a test pins the offsets).
struct ring_words {
  alignas(k_line) std::uint64_t write_pos;        ///< Producer's: bytes ever published.
  alignas(k_line) std::uint64_t read_pos;         ///< Consumer's: bytes ever released.
  alignas(k_line) std::uint32_t consumer_parked;  ///< Consumer's: non-zero while it sleeps.
  std::uint32_t producer_closed;                  ///< Producer's: non-zero once it publishes no more.
  alignas(k_line) std::uint32_t producer_parked;  ///< Producer's: non-zero while it waits for space.
  std::uint32_t consumer_closed;                  ///< Consumer's: non-zero once it reads no more.
};
static_assert(sizeof(ring_words) == 4 * k_line);

/// Where one ring is, in the address space of whoever uses it (device
/// pointers on the GPU, host pointers in the emulation).
struct ring_ref {
  ring_words* ctl = nullptr;
  std::byte* data = nullptr;
  std::uint64_t capacity = 0;  ///< Bytes, a power of two.
  std::uint32_t max_record = 0;
  std::uint32_t pad = 0;
};

struct record_header {
  std::uint32_t length;
  std::uint32_t tag;
};

PDC_HD constexpr std::uint64_t footprint(std::uint64_t payload_bytes) noexcept {
  return (sizeof(record_header) + payload_bytes + k_record_align - 1) & ~(k_record_align - 1);
}

/// What a view's call found.
enum class ring_status : std::uint32_t { ok = 0, empty = 1, full = 2, too_large = 3, corrupt = 4 };

/// The device's end of a request ring: it consumes. The checks are the core
/// consumer's (a client writes these bytes and may lie in them): a header
/// that cannot be right makes the ring corrupt, and it is read no further.
/// A copy of part of a request ring in fast memory (shared memory on the
/// device): ring bytes [start, end), positions as the ring counts them.
/// Reading records from it costs one pass over mapped host memory per
/// batch instead of a PCIe round trip per header, and lane 0 checks bytes
/// the client can no longer change.
/// A good staging buffer's size: a batch of 64 small requests, within the
/// 48 KiB of shared memory a block has without asking for more.
inline constexpr std::uint32_t k_stage_bytes = 16 * 1024;

struct staged_span {
  const std::byte* base = nullptr;
  std::uint64_t start = 0;
  std::uint64_t end = 0;
};

struct ring_reader {
  ring_ref r;
  std::uint64_t read_local = 0;   // consumed so far
  std::uint64_t write_cache = 0;  // the producer's index, last seen
  std::uint64_t peeked = 0;

  PDC_HD void open(const ring_ref& ref) noexcept {
    r = ref;
    // Relaxed: only this side writes read_pos.
    read_local = load_relaxed(&r.ctl->read_pos);
    write_cache = read_local;
    peeked = 0;
  }

  /// What of the ring to stage next: up to `max_bytes` from the read index,
  /// not past the ring's end (records never wrap). False when there is
  /// nothing, or the indices cannot be right (peek then says corrupt).
  PDC_HD bool next_window(std::uint32_t max_bytes, std::uint64_t* start, std::uint32_t* bytes) noexcept {
    if (read_local == write_cache) {
      // SYNC: write_pos — acquire, as in peek().
      write_cache = load_acquire(&r.ctl->write_pos);
    }
    const std::uint64_t avail = write_cache - read_local;
    if (avail == 0 || avail > r.capacity || ((read_local | write_cache) & (k_record_align - 1)) != 0) return false;
    const std::uint64_t off = read_local & (r.capacity - 1);
    std::uint64_t n = r.capacity - off;
    if (n > avail) n = avail;
    if (n > max_bytes) n = max_bytes & ~std::uint64_t{k_record_align - 1};
    *start = read_local;
    *bytes = static_cast<std::uint32_t>(n);
    return n != 0;
  }
  /// Where ring position `pos` is: in `s` when [pos, pos + n) was staged, else the ring.
  [[nodiscard]] PDC_HD const std::byte* at(const staged_span* s, std::uint64_t pos, std::uint64_t n) const noexcept {
    if (s != nullptr && pos >= s->start && pos + n <= s->end) return s->base + (pos - s->start);
    return r.data + (pos & (r.capacity - 1));
  }

  /// The next record's bytes (`*bytes`, `*len`), not consumed yet; read
  /// from `s` where it holds them.
  PDC_HD ring_status peek(const std::byte** bytes, std::uint32_t* len, const staged_span* s = nullptr) noexcept {
    const std::uint64_t mask = r.capacity - 1;
    for (;;) {
      if (read_local == write_cache) {
        if ((read_local & (k_record_align - 1)) != 0) return ring_status::corrupt;
        // SYNC: write_pos — acquire pairs with the client's release of
        // write_pos in ring_producer::commit(): the record bytes are visible.
        write_cache = load_acquire(&r.ctl->write_pos);
        if (read_local == write_cache) return ring_status::empty;
      }
      const std::uint64_t off = read_local & mask;
      const std::uint64_t to_end = r.capacity - off;
      const std::uint64_t avail = write_cache - read_local;
      if (avail > r.capacity) return ring_status::corrupt;
      record_header h;
      std::memcpy(&h, at(s, read_local, sizeof h), sizeof h);
      if (h.tag == k_record_padding) {
        if (h.length + sizeof(record_header) != to_end || to_end > avail) return ring_status::corrupt;
        read_local += to_end;
        continue;
      }
      const std::uint64_t need = footprint(h.length);
      if (h.tag != k_record_data || h.length > r.max_record || need > to_end || need > avail) {
        return ring_status::corrupt;
      }
      peeked = need;
      *bytes = at(s, read_local, need) + sizeof(record_header);
      *len = h.length;
      return ring_status::ok;
    }
  }
  PDC_HD void release() noexcept {
    read_local += peeked;
    peeked = 0;
  }
  /// Hands the released space back to the client. A plain release store: a
  /// client parked for space is woken by the host helper, not from here.
  PDC_HD void publish() noexcept {
    // SYNC: read_pos — release pairs with the client's acquire of read_pos in
    // ring_producer::try_reserve: our reads of the bytes come before its overwrite.
    store_release(&r.ctl->read_pos, read_local);
  }
  [[nodiscard]] PDC_HD bool closed_by_client() noexcept { return load_acquire(&r.ctl->producer_closed) != 0; }
};

/// The device's end of a reply ring: it produces.
struct ring_writer {
  ring_ref r;
  std::uint64_t write_local = 0;  // reserved so far
  std::uint64_t read_cache = 0;   // the consumer's index, last seen

  PDC_HD void open(const ring_ref& ref) noexcept {
    r = ref;
    // Relaxed: only this side writes write_pos.
    write_local = load_relaxed(&r.ctl->write_pos);
    // SYNC: read_pos — acquire pairs with the client's release in flush_release.
    read_cache = load_acquire(&r.ctl->read_pos);
  }

  /// Room for a record of `len` bytes, or null (`*status` says why).
  PDC_HD std::byte* reserve(std::uint32_t len, ring_status* status) noexcept {
    if (len > r.max_record) {
      *status = ring_status::too_large;
      return nullptr;
    }
    const std::uint64_t mask = r.capacity - 1;
    const std::uint64_t need = footprint(len);
    const std::uint64_t off = write_local & mask;
    const std::uint64_t to_end = r.capacity - off;
    const std::uint64_t total = need <= to_end ? need : need + to_end;
    if (write_local + total - read_cache > r.capacity) {
      // SYNC: read_pos — acquire pairs with the client's release of read_pos:
      // its reads of the bytes we are about to overwrite are complete.
      read_cache = load_acquire(&r.ctl->read_pos);
      // A read index ahead of ours is a lie: the ring is not to be trusted.
      if (read_cache > write_local) {
        *status = ring_status::corrupt;
        return nullptr;
      }
      if (write_local + total - read_cache > r.capacity) {
        *status = ring_status::full;
        return nullptr;
      }
    }
    std::uint64_t at = off;
    if (need > to_end) {
      const record_header pad{static_cast<std::uint32_t>(to_end - sizeof(record_header)), k_record_padding};
      std::memcpy(r.data + off, &pad, sizeof pad);
      write_local += to_end;
      at = 0;
    }
    const record_header h{len, k_record_data};
    std::memcpy(r.data + at, &h, sizeof h);
    write_local += need;
    *status = ring_status::ok;
    return r.data + at + sizeof(record_header);
  }
  /// Changes the length of the record reserved last (`slot` is what
  /// reserve returned) from `from` to `to` bytes, before it is published.
  /// Growing needs the room reserve left: callers only grow back to a length
  /// they reserved before.
  PDC_HD void resize_last(std::byte* slot, std::uint32_t from, std::uint32_t to) noexcept {
    const record_header h{to, k_record_data};
    std::memcpy(slot - sizeof(record_header), &h, sizeof h);
    write_local = write_local - footprint(from) + footprint(to);
  }
  /// Publishes every record reserved so far (a release store; the host
  /// helper wakes a client that parked).
  PDC_HD void publish() noexcept {
    // SYNC: write_pos — release pairs with the client's acquire of write_pos
    // in ring_consumer::try_peek: the record bytes come first.
    store_release(&r.ctl->write_pos, write_local);
  }
};

// ---- the control block and the mailbox table ------------------------------------------------

/// run_state values, written by the host.
enum : std::uint32_t { k_run_inactive = 0, k_run_active = 1, k_run_terminate = 2 };
/// error values, written by the device (0: none).
enum : std::uint32_t { k_error_none = 0, k_error_handler = 1 };

/// One per cuda-tier kernel, in mapped host memory. The host's words and the
/// device's words are on different lines; each word has one writer.
struct control_block {
  // Written by the host.
  alignas(k_line) std::uint32_t run_state;  ///< inactive, active or terminate.
  std::uint32_t host_pad;
  std::uint64_t table_generation;  ///< Bumped (release) after the mailbox table changed.
  // Written by the device.
  alignas(k_line) std::uint64_t heartbeat;  ///< Loop rounds, rising while the kernel runs.
  std::uint64_t processed;                  ///< Messages handled, every mailbox.
  std::uint64_t table_seen;                 ///< The table generation served (the host waits for it).
  std::uint32_t state_seen;                 ///< The run_state acted on.
  std::uint32_t idle;                       ///< 1 while it found nothing to do and backs off.
  std::uint32_t error;                      ///< 0, or why it stopped.
  std::uint32_t stopped;                    ///< 1 once the loop returned (terminate, or error).
};
static_assert(sizeof(control_block) == 2 * k_line);

inline constexpr std::uint32_t k_max_mailboxes = PDC_CUDA_MAX_MAILBOXES;

/// One attachment's rings, written by the host before it bumps the table
/// generation; `attachment_id` 0: the slot is free.
struct mailbox {
  ring_ref requests;  ///< The device consumes.
  ring_ref replies;   ///< The device produces.
  std::uint64_t attachment_id = 0;
  std::uint64_t pad = 0;
};

/// What the device says about one mailbox, one line each (device-written).
struct mailbox_state {
  alignas(k_line) std::uint64_t attachment_id;  ///< The attachment this state is about.
  std::uint64_t processed;
  std::uint64_t malformed;  ///< Records that held no whole envelope: skipped.
  std::uint32_t broken;     ///< A ring_status (corrupt) once its rings could not be trusted: served no more.
  std::uint32_t pad;
};
static_assert(sizeof(mailbox_state) == k_line);

struct mailbox_table {
  mailbox slots[k_max_mailboxes];
  mailbox_state states[k_max_mailboxes];
};

// ---- messages and handlers ----------------------------------------------------------------

/// The envelope's fields the device uses (the layout of pdc::envelope,
/// proto/envelope.fbs; a test pins it).
struct envelope_words {
  std::uint64_t message_id;
  std::uint64_t correlation_id;
  std::uint64_t reply_to;
  std::uint64_t send_timestamp_ns;
  std::uint32_t payload_length;
  std::uint32_t type_id;
  std::uint16_t flags;
  std::uint8_t priority;
  std::uint8_t reserved0;
  std::uint32_t reserved1;
};
static_assert(sizeof(envelope_words) == k_envelope_bytes);

/// A request as a handler sees it. `payload` points into the client's ring:
/// the client can still write there, so read each byte once (a length read
/// from it and then trusted is the handler's to bound).
struct message {
  const std::byte* payload;
  std::uint32_t length;
  std::uint32_t type_id;
  std::uint64_t message_id;
};

/// Where a handler writes its reply: `capacity` bytes it asked for (a
/// reply ring's record limit may cut that down), straight into the
/// client's reply ring. `payload` is null when nobody awaits a reply (a
/// one-way message): the handler runs, and writes nothing.
struct reply {
  std::byte* payload;
  std::uint32_t capacity;
  std::uint32_t length;   ///< Bytes written (set by the handler; at most capacity).
  std::uint32_t type_id;  ///< The reply's type id (default: the request's).
};

/// Copies `n` bytes, lane `lane` of `lanes` taking every lanes-th 8-byte
/// word (a warp copies a record together; the host emulation has one lane).
PDC_HD inline void copy_lanes(std::byte* to, const std::byte* from, std::uint32_t n, std::uint32_t lane,
                              std::uint32_t lanes) noexcept {
  const std::uint32_t words = n / 8;
  for (std::uint32_t w = lane; w < words; w += lanes) std::memcpy(to + 8 * w, from + 8 * w, 8);
  for (std::uint32_t i = words * 8 + lane; i < n; i += lanes) to[i] = from[i];
}

/// Stages `n` bytes (a multiple of 8, both ends 8-aligned) from mapped host
/// memory: each lane issues 16 loads before it stores any, so a warp has
/// 512 reads in flight across PCIe instead of one.
PDC_HD inline void stage_lanes(std::byte* to, const std::byte* from, std::uint32_t n, std::uint32_t lane,
                               std::uint32_t lanes) noexcept {
  constexpr std::uint32_t k_batch = 16;
  const std::uint32_t words = n / 8;
  for (std::uint32_t base = 0; base < words; base += k_batch * lanes) {
    std::uint64_t v[k_batch];
    for (std::uint32_t k = 0; k < k_batch; ++k) {
      const std::uint32_t w = base + k * lanes + lane;
      if (w < words) std::memcpy(&v[k], from + 8 * w, 8);
    }
    for (std::uint32_t k = 0; k < k_batch; ++k) {
      const std::uint32_t w = base + k * lanes + lane;
      if (w < words) std::memcpy(to + 8 * w, &v[k], 8);
    }
  }
}

/// Lane 0's value, for every lane of the warp (the host emulation has one lane).
PDC_HD inline std::uint32_t from_lane0(std::uint32_t v) noexcept {
#if defined(__CUDA_ARCH__)
  return __shfl_sync(0xffffffffU, v, 0);
#else
  return v;
#endif
}
PDC_HD inline std::uint64_t from_lane0(std::uint64_t v) noexcept {
#if defined(__CUDA_ARCH__)
  const auto lo = __shfl_sync(0xffffffffU, static_cast<std::uint32_t>(v), 0);
  const auto hi = __shfl_sync(0xffffffffU, static_cast<std::uint32_t>(v >> 32), 0);
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
#else
  return v;
#endif
}
/// The warp's lanes meet: what each wrote to shared memory is seen by all.
PDC_HD inline void lanes_meet() noexcept {
#if defined(__CUDA_ARCH__)
  __syncwarp();
#endif
}

/// Every lane's writes so far come before what lane 0 publishes next
/// (a system-scope fence, then the warp's barrier).
PDC_HD inline void lanes_sync() noexcept {
#if defined(__CUDA_ARCH__)
  __threadfence_system();
  __syncwarp();
#endif
}

/// The loop's per-mailbox state, lane 0's (the other lanes follow what it
/// decides, so a client rewriting its ring cannot make the lanes disagree).
struct mailbox_cursor {
  ring_reader in;
  ring_writer out;
  std::uint64_t attachment_id = 0;
  std::uint64_t next_output_id = 1;
  // Device-local copies of the mailbox state's counts: counted here, stored
  // to the state (host memory) once per batch, never read back from it.
  std::uint64_t processed = 0;
  std::uint64_t malformed = 0;
  std::uint32_t broken = 0;
};

/// The error reply's text when a handler fails (its length, without the NUL).
inline constexpr std::uint32_t k_handler_failed_bytes = 39;

/// Serves up to `budget` requests of one mailbox with `handler`, whose
/// `reply_bytes(const message&)` says how large its reply to a message is
/// and whose `handle(const message&, reply&, lane, lanes)` writes it (0: ok;
/// anything else: an error reply saying the handler failed). Called by
/// every lane of the warp that serves the mailbox (one lane on the host);
/// returns how many it handled, and publishes both rings' indices when it
/// handled any. A reply ring with no room leaves the request where it is,
/// to be served on a later round; a ring that lies breaks the mailbox
/// (`st.broken`), never the loop.
///
/// With `stage` (`stage_bytes` of shared memory on the device, any buffer
/// in the emulation), the warp first copies the span of the request ring
/// it will read into it, and records are read from there.
template <typename Handler>
PDC_HD std::uint32_t serve_mailbox(mailbox_cursor& c, mailbox_state& st, Handler& handler, std::uint32_t budget,
                                   std::uint32_t lane = 0, std::uint32_t lanes = 1, std::byte* stage = nullptr,
                                   std::uint32_t stage_bytes = 0) noexcept {
  enum : std::uint32_t { stop = 0, skip = 1, serve = 2 };
  std::uint32_t done = 0;
  std::uint32_t skipped = 0;
  staged_span span{stage, 0, 0};
  while (done < budget) {
    bool nothing = false;
    if (stage != nullptr && stage_bytes >= 64) {
      // Lane 0 decides what to stage once what was staged is read.
      std::uint64_t start = 0;
      std::uint32_t n = 0;
      if (lane == 0 && c.broken == 0 && c.in.read_local >= span.end && !c.in.next_window(stage_bytes, &start, &n)) {
        n = 0;
        nothing = c.in.read_local == c.in.write_cache;  // empty: no need to peek
      }
      n = from_lane0(n);
      if (n != 0) {
        start = from_lane0(start);
        const std::uint64_t from = from_lane0(
            lane == 0 ? static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(c.in.at(nullptr, start, n)))
                      : std::uint64_t{0});
        stage_lanes(stage, reinterpret_cast<const std::byte*>(static_cast<std::uintptr_t>(from)), n, lane, lanes);
        lanes_meet();
        span.start = start;
        span.end = start + n;
      }
    }
    std::uint32_t action = stop;
    std::uint64_t in_at = 0, slot_at = 0, message_id = 0;
    std::uint32_t in_len = 0, type_id = 0, reply_len = 0, reserved = 0;
    if (lane == 0 && c.broken == 0 && !nothing) {
      const std::byte* bytes = nullptr;
      std::uint32_t len = 0;
      const ring_status ps = c.in.peek(&bytes, &len, stage != nullptr ? &span : nullptr);
      envelope_words env{};
      if (ps == ring_status::ok && len >= k_envelope_bytes) std::memcpy(&env, bytes, sizeof env);
      if (ps != ring_status::ok) {
        if (ps != ring_status::empty) {
          c.broken = static_cast<std::uint32_t>(ps);
          store_release(&st.broken, c.broken);
        }
      } else if (len < k_envelope_bytes || env.payload_length != len - k_envelope_bytes) {
        // No whole envelope: nobody to answer. Skipped and counted.
        c.in.release();
        ++c.malformed;
        action = skip;
      } else {
        const message m{bytes + k_envelope_bytes, env.payload_length, env.type_id, env.message_id};
        const bool wants_reply = (env.flags & (1U << 2)) == 0;
        std::byte* slot = nullptr;
        ring_status rs = ring_status::ok;
        if (wants_reply) {
          const std::uint32_t room = c.out.r.max_record > k_envelope_bytes ? c.out.r.max_record - k_envelope_bytes : 0;
          const std::uint32_t want = handler.reply_bytes(m);
          reply_len = want <= room ? want : room;
          // Room for the error text too: a failed handler's record shrinks to it.
          const std::uint32_t reserve_len =
              reply_len >= k_handler_failed_bytes || room < k_handler_failed_bytes ? reply_len : k_handler_failed_bytes;
          slot = c.out.reserve(k_envelope_bytes + reserve_len, &rs);
          reserved = reserve_len;
          if (rs != ring_status::ok && rs != ring_status::full) {
            c.broken = static_cast<std::uint32_t>(rs);
            store_release(&st.broken, c.broken);
          }
          if (rs == ring_status::ok && reserve_len != reply_len)
            c.out.resize_last(slot, k_envelope_bytes + reserve_len, k_envelope_bytes + reply_len);
        }
        if (rs == ring_status::ok) {
          action = serve;
          in_at = reinterpret_cast<std::uintptr_t>(bytes + k_envelope_bytes);
          slot_at = reinterpret_cast<std::uintptr_t>(slot);
          in_len = env.payload_length;
          type_id = env.type_id;
          message_id = env.message_id;
          if (slot != nullptr) {
            envelope_words r{};
            r.message_id = c.next_output_id++;
            r.correlation_id = env.message_id;
            r.reply_to = c.attachment_id;
            r.payload_length = reply_len;
            r.type_id = env.type_id;
            r.flags = k_flag_reply;
            r.priority = env.priority;
            std::memcpy(slot, &r, sizeof r);
          }
        }
      }
    }
    action = from_lane0(action);
    if (action == stop) break;
    if (action == skip) {
      ++skipped;
      continue;
    }
    in_at = from_lane0(in_at);
    slot_at = from_lane0(slot_at);
    in_len = from_lane0(in_len);
    type_id = from_lane0(type_id);
    message_id = from_lane0(message_id);
    reply_len = from_lane0(reply_len);
    const message m{reinterpret_cast<const std::byte*>(in_at), in_len, type_id, message_id};
    auto* slot = reinterpret_cast<std::byte*>(slot_at);
    reply out{slot != nullptr ? slot + k_envelope_bytes : nullptr, reply_len, reply_len, type_id};
    const std::uint32_t rc = from_lane0(static_cast<std::uint32_t>(handler.handle(m, out, lane, lanes)));
    lanes_sync();
    if (lane == 0) {
      if (slot != nullptr && (rc != 0 || out.type_id != type_id)) {
        envelope_words r{};
        std::memcpy(&r, slot, sizeof r);
        r.type_id = rc != 0 ? 0 : out.type_id;
        if (rc != 0) {
          // The error text, in a record shrunk (or grown back) to fit it.
          const std::uint32_t n = k_handler_failed_bytes <= reserved ? k_handler_failed_bytes : reserved;
          c.out.resize_last(slot, k_envelope_bytes + reply_len, k_envelope_bytes + n);
          constexpr char text[] = "plugin_error: the device handler failed";
          static_assert(sizeof text - 1 == k_handler_failed_bytes);
          std::memcpy(slot + k_envelope_bytes, text, n);
          r.payload_length = n;
          r.flags = k_flag_reply | k_flag_error;
        }
        std::memcpy(slot, &r, sizeof r);
      }
      c.in.release();
      ++c.processed;
    }
    ++done;
  }
  if (done + skipped != 0) {
    lanes_sync();
    if (lane == 0) {
      c.out.publish();
      c.in.publish();
      // Relaxed: counts the host only watches.
      store_relaxed(&st.processed, c.processed);
      store_relaxed(&st.malformed, c.malformed);
    }
  }
  return done;
}

/// The thread-per-message style, for handlers that need no lanes: `Simple`
/// has `reply_bytes(const message&)` and `handle(const message&, reply&)`,
/// and each message is handled by one thread (lane 0) while the others
/// wait; what it returns and the type id it set hold for the whole warp.
template <typename Simple>
struct thread_per_message {
  Simple simple;
  PDC_HD std::uint32_t reply_bytes(const message& m) const { return simple.reply_bytes(m); }
  PDC_HD int handle(const message& m, reply& out, std::uint32_t lane, std::uint32_t /*lanes*/) const {
    std::uint32_t rc = 0;
    if (lane == 0) rc = static_cast<std::uint32_t>(simple.handle(m, out));
    out.type_id = from_lane0(out.type_id);
    out.length = from_lane0(out.length);
    return static_cast<int>(from_lane0(rc));
  }
};

/// Exactly one warp per launch may call it: two would serve the same rings.
/// The persistent loop of one warp serving every mailbox of `t` (lane
/// `lane` of `lanes`; the host emulation calls it with one lane). Until the
/// host writes terminate: reads run_state and the table generation (two
/// loads of mapped memory per round), opens the rings of mailboxes that
/// joined and forgets those that left (then acknowledges the generation in
/// table_seen), serves each open mailbox up to `budget` messages while
/// active, and backs off when a round found nothing, doubling from 64 ns
/// to `max_idle_ns` (with `idle` = 1 meanwhile, for the host to read).
/// `cursors` (k_max_mailboxes of them) is device memory the host allocated.
/// `stage` (`stage_bytes`, a multiple of 8; shared memory on the device) is
/// where each batch of requests is copied before it is read (serve_mailbox).
template <typename Handler>
PDC_HD void run_loop(control_block* cb, mailbox_table* t, mailbox_cursor* cursors, Handler& handler,
                     std::uint32_t lane = 0, std::uint32_t lanes = 1, std::uint32_t budget = 64,
                     std::uint32_t max_idle_ns = 20'000, std::byte* stage = nullptr,
                     std::uint32_t stage_bytes = 0) noexcept {
  // Generation 0 is the table as launched: zeroed, every slot free. The
  // device reads the slots only after the host published another, and the
  // host writes them again only after table_seen says the device is done
  // reading: the two never touch the slots at once.
  std::uint64_t served_generation = 0;
  std::uint32_t idle_ns = 0;
  std::uint64_t processed = 0;
  std::uint64_t rounds = 0;
  for (;;) {
    const std::uint32_t state = from_lane0(lane == 0 ? load_acquire(&cb->run_state) : 0U);
    if (state == k_run_terminate) break;
    // SYNC: table_generation — acquire pairs with the host's release after it
    // wrote the slots: the slots' contents are visible.
    const std::uint64_t gen = from_lane0(lane == 0 ? load_acquire(&cb->table_generation) : std::uint64_t{0});
    if (gen != served_generation) {
      if (lane == 0) {
        for (std::uint32_t i = 0; i < k_max_mailboxes; ++i) {
          const mailbox& m = t->slots[i];
          mailbox_cursor& c = cursors[i];
          if (m.attachment_id == c.attachment_id) continue;
          c.attachment_id = m.attachment_id;
          c.next_output_id = 1;
          c.processed = 0;
          c.malformed = 0;
          c.broken = 0;
          mailbox_state& st = t->states[i];
          store_relaxed(&st.processed, std::uint64_t{0});
          store_relaxed(&st.malformed, std::uint64_t{0});
          store_relaxed(&st.broken, 0U);
          if (m.attachment_id != 0) {
            c.in.open(m.requests);
            c.out.open(m.replies);
          }
          store_release(&st.attachment_id, m.attachment_id);
        }
        // SYNC: table_seen — release: the host, acquiring it, knows the
        // device has let go of every slot the new generation removed.
        store_release(&cb->table_seen, gen);
      }
      served_generation = gen;
    }
    std::uint32_t done = 0;
    if (state == k_run_active) {
      for (std::uint32_t i = 0; i < k_max_mailboxes; ++i) {
        const std::uint64_t id = from_lane0(lane == 0 ? cursors[i].attachment_id : std::uint64_t{0});
        if (id == 0) continue;
        done += serve_mailbox(cursors[i], t->states[i], handler, budget, lane, lanes, stage, stage_bytes);
      }
    }
    processed += done;
    ++rounds;
    if (lane == 0) {
      // Relaxed words the host only watches (no data rides on them).
      store_relaxed(&cb->heartbeat, rounds);
      store_relaxed(&cb->processed, processed);
      store_relaxed(&cb->state_seen, state);
    }
    if (done != 0) {
      if (idle_ns != 0 && lane == 0) store_relaxed(&cb->idle, 0U);
      idle_ns = 0;
      continue;
    }
    if (idle_ns == 0 && lane == 0) store_relaxed(&cb->idle, 1U);
    idle_ns = idle_ns == 0 ? 64 : (idle_ns * 2 > max_idle_ns ? max_idle_ns : idle_ns * 2);
    back_off(idle_ns);
  }
  if (lane == 0) {
    store_relaxed(&cb->heartbeat, rounds);
    store_relaxed(&cb->processed, processed);
    store_relaxed(&cb->state_seen, static_cast<std::uint32_t>(k_run_terminate));
    // SYNC: stopped — release: what the loop wrote comes before the host's
    // acquire of it (it may then unregister the memory).
    store_release(&cb->stopped, 1U);
  }
}

}  // namespace pdc::cuda

#if defined(__CUDACC__)
/// Writes a cuda-tier type's launch function (pdc_cuda_kernel.launch):
/// `name` enqueues the __global__ `loop` (taking the control block, the
/// mailbox table and the cursors) on pdcd's stream with the type's shape,
/// and returns 0 or the launch's cudaError_t (its name in *error_name).
#define PDC_CUDA_LAUNCHER(name, loop)                                                   \
  static int name(const pdc_cuda_launch_args* a, const char** error_name) {             \
    loop<<<a->grid, a->block, a->shared_bytes, static_cast<cudaStream_t>(a->stream)>>>( \
        static_cast<pdc::cuda::control_block*>(a->control_block),                       \
        static_cast<pdc::cuda::mailbox_table*>(a->mailbox_table),                       \
        static_cast<pdc::cuda::mailbox_cursor*>(a->cursors));                           \
    const cudaError_t e = cudaGetLastError();                                           \
    if (e != cudaSuccess && error_name != nullptr) *error_name = cudaGetErrorName(e);   \
    return static_cast<int>(e);                                                         \
  }
#endif
