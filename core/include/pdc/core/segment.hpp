// Shared-memory segments: a sealed memfd holding a header and a table of rings.
//
// Layout (all offsets from the segment base, never pointers):
//
//   0      segment_header   magic, layout version (written last), sizes, ring table
//   512    aux area         optional, for the segment's owner (an attachment's control line)
//   ...    ring 0           ring_control (4 x 128 B) followed by its data area
//   ...    ring 1 ...
//
// The creator fills everything, then stores `layout_version` with release
// ordering; an opener loads it with acquire and checks every field before
// touching a ring, so a foreign, truncated or half-built segment is refused.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "pdc/core/result.hpp"
#include "pdc/core/spsc_ring.hpp"

namespace pdc {

inline constexpr std::uint64_t k_segment_magic = 0x3130474553434450ULL;  // "PDCSEG01" little-endian
inline constexpr std::uint32_t k_segment_layout_version = 2;
inline constexpr std::uint32_t k_segment_max_rings = 8;

/// Where one ring lives inside a segment (immutable after creation).
struct ring_descriptor {
  std::uint64_t offset;            ///< Offset of the ring_control, 128-byte aligned.
  std::uint64_t capacity_bytes;    ///< Data area size, a power of two.
  std::uint32_t max_record_bytes;  ///< Largest payload accepted (<= capacity / 2).
  std::uint32_t reserved;
};

/// The first bytes of every segment.
struct segment_header {
  std::uint64_t magic;
  // SYNC: segment_ready — the creator's release store, after every other
  // field is written; openers acquire-load it before reading the rest.
  std::atomic<std::uint32_t> layout_version;
  std::uint32_t header_bytes;   ///< sizeof(segment_header) of the creator.
  std::uint64_t segment_bytes;  ///< Total mapped size.
  std::uint32_t ring_count;
  std::uint32_t flags;       ///< Reserved for later use (e.g. GPU-mapped).
  std::uint64_t user_tag;    ///< Free for the owner (e.g. attachment id).
  std::uint64_t aux_offset;  ///< Offset of the aux area (128-byte aligned), 0 if none.
  std::uint64_t aux_bytes;   ///< Size of the aux area.
  ring_descriptor rings[k_segment_max_rings];
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(sizeof(segment_header) <= 512, "header must fit its reserved area");

/// Size and limit of one ring to create.
struct ring_spec {
  std::uint64_t capacity_bytes = 1 << 20;      ///< Power of two, >= 64.
  std::uint32_t max_record_bytes = 64 * 1024;  ///< Payload limit, <= capacity / 2.
};

/// An owned mapping of a segment (move-only). Closing unmaps and closes the fd.
class segment {
 public:
  segment() = default;
  ~segment();
  segment(segment&& other) noexcept;
  segment& operator=(segment&& other) noexcept;
  segment(const segment&) = delete;
  segment& operator=(const segment&) = delete;

  /// Creates a sealed memfd segment with the given rings. `name` shows in
  /// /proc/PID/fd and maps for debugging only.
  /// `aux_bytes` (0: none) reserves a zero-filled area before the rings for the owner's use.
  static result<segment> create(const std::string& name, std::span<const ring_spec> rings, std::uint64_t user_tag = 0,
                                std::uint64_t aux_bytes = 0);
  /// Maps a segment from an fd (received from another process) and checks
  /// its header, sizes and seals. Takes ownership of `fd` on success and on failure.
  static result<segment> open(int fd);

  [[nodiscard]] bool valid() const noexcept { return base_ != nullptr; }
  [[nodiscard]] int fd() const noexcept { return fd_; }
  [[nodiscard]] std::size_t size_bytes() const noexcept { return size_; }
  [[nodiscard]] const segment_header& header() const noexcept { return *static_cast<const segment_header*>(base_); }
  /// Ring count and geometry as validated at create/open (a process-local
  /// copy: a peer scribbling on the shared header cannot move the rings).
  [[nodiscard]] std::uint32_t ring_count() const noexcept { return ring_count_; }
  [[nodiscard]] const ring_descriptor& ring(std::uint32_t index) const noexcept { return rings_[index]; }

  /// Producer view of ring `index` (index < ring_count()).
  [[nodiscard]] ring_producer producer(std::uint32_t index) const noexcept;
  /// Consumer view of ring `index`.
  [[nodiscard]] ring_consumer consumer(std::uint32_t index) const noexcept;
  /// The shared control block of ring `index` (for closing / parking state).
  [[nodiscard]] ring_control* control(std::uint32_t index) const noexcept;
  /// The aux area, as validated at create/open (empty if the segment has none).
  [[nodiscard]] std::span<std::byte> aux() const noexcept;

  /// Total bytes a segment with these rings (and aux area) occupies.
  static std::uint64_t required_bytes(std::span<const ring_spec> rings, std::uint64_t aux_bytes = 0) noexcept;

 private:
  segment(int fd, void* base, std::size_t size) noexcept : fd_(fd), base_(base), size_(size) {}
  void reset() noexcept;
  void take_geometry() noexcept;

  int fd_ = -1;
  void* base_ = nullptr;
  std::size_t size_ = 0;
  std::uint32_t ring_count_ = 0;
  ring_descriptor rings_[k_segment_max_rings]{};
  std::uint64_t aux_offset_ = 0;
  std::uint64_t aux_bytes_ = 0;
};

}  // namespace pdc
