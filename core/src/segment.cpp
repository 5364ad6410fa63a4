#include "pdc/core/segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

namespace pdc {

namespace {

constexpr std::uint64_t k_header_area = 512;  // header slot; rings start after it
constexpr unsigned k_required_seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

std::uint64_t align_up(std::uint64_t v, std::uint64_t a) {
  return (v + a - 1) & ~(a - 1);
}

error sys_error(const char* what) {
  return make_error(errc::system_error, std::string(what) + ": " + std::strerror(errno));
}

result<void> check_spec(const ring_spec& r) {
  if (r.capacity_bytes < 64 || !std::has_single_bit(r.capacity_bytes)) {
    return make_error(errc::invalid_argument,
                      "ring capacity " + std::to_string(r.capacity_bytes) + " is not a power of two >= 64");
  }
  if (record_footprint(r.max_record_bytes) > r.capacity_bytes / 2) {
    return make_error(errc::invalid_argument, "max record " + std::to_string(r.max_record_bytes) +
                                                  " bytes does not fit half of a " + std::to_string(r.capacity_bytes) +
                                                  "-byte ring");
  }
  return ok();
}

}  // namespace

std::uint64_t segment::required_bytes(std::span<const ring_spec> rings, std::uint64_t aux_bytes) noexcept {
  std::uint64_t size = align_up(k_header_area + aux_bytes, k_ring_line);
  for (const auto& r : rings) size = align_up(size + sizeof(ring_control) + r.capacity_bytes, k_ring_line);
  return align_up(size, 4096);
}

segment::~segment() {
  reset();
}

segment::segment(segment&& other) noexcept {
  *this = std::move(other);
}

segment& segment::operator=(segment&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = std::exchange(other.fd_, -1);
    base_ = std::exchange(other.base_, nullptr);
    size_ = std::exchange(other.size_, 0);
    ring_count_ = std::exchange(other.ring_count_, 0);
    std::memcpy(rings_, other.rings_, sizeof rings_);
    aux_offset_ = std::exchange(other.aux_offset_, 0);
    aux_bytes_ = std::exchange(other.aux_bytes_, 0);
  }
  return *this;
}

void segment::take_geometry() noexcept {
  ring_count_ = header().ring_count;
  std::memcpy(rings_, header().rings, sizeof rings_);
  aux_offset_ = header().aux_offset;
  aux_bytes_ = header().aux_bytes;
}

void segment::reset() noexcept {
  if (base_ != nullptr) ::munmap(base_, size_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  base_ = nullptr;
  size_ = 0;
  ring_count_ = 0;
  aux_offset_ = 0;
  aux_bytes_ = 0;
}

result<segment> segment::create(const std::string& name, std::span<const ring_spec> rings, std::uint64_t user_tag,
                                std::uint64_t aux_bytes) {
  if (rings.empty() || rings.size() > k_segment_max_rings) {
    return make_error(errc::invalid_argument, "a segment holds 1 to " + std::to_string(k_segment_max_rings) + " rings");
  }
  for (const auto& r : rings) {
    if (auto ok = check_spec(r); !ok) return std::move(ok).err();
  }
  if (aux_bytes > (1ULL << 20)) return make_error(errc::invalid_argument, "aux area above 1 MiB");
  const std::uint64_t size = required_bytes(rings, aux_bytes);
  const int fd = ::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return sys_error("memfd_create");
  segment seg(fd, nullptr, 0);  // owns fd from here on
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return sys_error("ftruncate");
  if (::fcntl(fd, F_ADD_SEALS, k_required_seals) != 0) return sys_error("fcntl(F_ADD_SEALS)");
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return sys_error("mmap");
  seg.base_ = base;
  seg.size_ = size;

  // A fresh memfd is zero-filled, so every atomic starts at 0.
  auto* h = new (base) segment_header{};
  h->magic = k_segment_magic;
  h->header_bytes = sizeof(segment_header);
  h->segment_bytes = size;
  h->ring_count = static_cast<std::uint32_t>(rings.size());
  h->user_tag = user_tag;
  h->aux_offset = aux_bytes == 0 ? 0 : k_header_area;
  h->aux_bytes = aux_bytes;
  std::uint64_t at = align_up(k_header_area + aux_bytes, k_ring_line);
  for (std::size_t i = 0; i < rings.size(); ++i) {
    h->rings[i] = ring_descriptor{at, rings[i].capacity_bytes, rings[i].max_record_bytes, 0};
    new (static_cast<std::byte*>(base) + at) ring_control{};
    at = align_up(at + sizeof(ring_control) + rings[i].capacity_bytes, k_ring_line);
  }
  // SYNC: segment_ready — release: everything above is visible to an opener
  // that acquire-loads a non-zero version.
  h->layout_version.store(k_segment_layout_version, std::memory_order_release);
  seg.take_geometry();
  return seg;
}

result<segment> segment::open(int fd) {
  segment seg(fd, nullptr, 0);  // owns fd from here on, closes it on failure
  struct stat st {};
  if (::fstat(fd, &st) != 0) return sys_error("fstat");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < k_header_area) {
    return make_error(errc::corrupt_segment, "segment is " + std::to_string(size) + " bytes, smaller than its header");
  }
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (static_cast<unsigned>(seals) & k_required_seals) != k_required_seals) {
    return make_error(errc::corrupt_segment, "segment is not sealed against resizing");
  }
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return sys_error("mmap");
  seg.base_ = base;
  seg.size_ = size;

  // Validate a private copy: the peer may still write to the shared header.
  segment_header copy;
  std::memcpy(static_cast<void*>(&copy), base, sizeof copy);
  const auto* h = &copy;
  if (h->magic != k_segment_magic) return make_error(errc::corrupt_segment, "segment has a foreign magic number");
  // SYNC: segment_ready — acquire pairs with the creator's release store.
  const auto version = static_cast<const segment_header*>(base)->layout_version.load(std::memory_order_acquire);
  std::memcpy(static_cast<void*>(&copy), base, sizeof copy);  // re-read after the acquire
  if (version != k_segment_layout_version) {
    return make_error(errc::version_mismatch, "segment layout version " + std::to_string(version) +
                                                  ", this build reads version " +
                                                  std::to_string(k_segment_layout_version));
  }
  if (h->header_bytes != sizeof(segment_header) || h->segment_bytes != size) {
    return make_error(errc::corrupt_segment, "segment header sizes do not match the mapping (" +
                                                 std::to_string(h->segment_bytes) + " vs " + std::to_string(size) +
                                                 " bytes)");
  }
  if (h->ring_count == 0 || h->ring_count > k_segment_max_rings) {
    return make_error(errc::corrupt_segment, "segment declares " + std::to_string(h->ring_count) + " rings");
  }
  for (std::uint32_t i = 0; i < h->ring_count; ++i) {
    const auto& r = h->rings[i];
    const ring_spec spec{r.capacity_bytes, r.max_record_bytes};
    if (!check_spec(spec) || r.offset % k_ring_line != 0 || r.offset < k_header_area || r.offset > size ||
        size - r.offset < sizeof(ring_control) + r.capacity_bytes) {
      return make_error(errc::corrupt_segment,
                        "ring " + std::to_string(i) + " lies outside the segment or is malformed");
    }
  }
  // The aux area sits between the header and the first ring.
  if (h->aux_bytes != 0 && (h->aux_offset != k_header_area || h->aux_bytes > size - k_header_area)) {
    return make_error(errc::corrupt_segment, "segment's aux area lies outside the segment or is malformed");
  }
  if (h->aux_bytes == 0 && h->aux_offset != 0)
    return make_error(errc::corrupt_segment, "segment's aux area is malformed");
  const std::uint64_t first_ring = align_up(k_header_area + h->aux_bytes, k_ring_line);
  for (std::uint32_t i = 0; i < h->ring_count; ++i) {
    if (h->rings[i].offset < first_ring) {
      return make_error(errc::corrupt_segment, "ring " + std::to_string(i) + " overlaps the segment's aux area");
    }
  }
  seg.ring_count_ = h->ring_count;
  std::memcpy(seg.rings_, h->rings, sizeof seg.rings_);
  seg.aux_offset_ = h->aux_offset;
  seg.aux_bytes_ = h->aux_bytes;
  return seg;
}

ring_control* segment::control(std::uint32_t index) const noexcept {
  return reinterpret_cast<ring_control*>(static_cast<std::byte*>(base_) + rings_[index].offset);
}

std::span<std::byte> segment::aux() const noexcept {
  if (aux_bytes_ == 0) return {};
  return {static_cast<std::byte*>(base_) + aux_offset_, aux_bytes_};
}

ring_producer segment::producer(std::uint32_t index) const noexcept {
  const auto& r = rings_[index];
  auto* ctl = control(index);
  return {ctl, reinterpret_cast<std::byte*>(ctl) + sizeof(ring_control), r.capacity_bytes, r.max_record_bytes};
}

ring_consumer segment::consumer(std::uint32_t index) const noexcept {
  const auto& r = rings_[index];
  auto* ctl = control(index);
  return {ctl, reinterpret_cast<const std::byte*>(ctl) + sizeof(ring_control), r.capacity_bytes, r.max_record_bytes};
}

}  // namespace pdc
