// libFuzzer target: the ring consumer over arbitrary segment contents, with
// the "client" rewriting indices and bytes between reads (docs/security.md,
// "Fuzzing"). Input: write_pos (8 bytes), read_pos (8), max_record (4), the
// data area (up to 4096), then mutations of 12 bytes each (offset, value)
// applied one per record read. Every record handed out must lie inside the
// data area and within max_record, and the work per call must stay bounded.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "fuzz_input.hpp"
#include "pdc/core/spsc_ring.hpp"

namespace {

using pdc::fuzz::take;

constexpr std::uint64_t k_capacity = 4096;

struct ring_memory {
  pdc::ring_control ctl{};
  alignas(pdc::k_ring_line) std::byte data[k_capacity];
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto mem = std::make_unique<ring_memory>();
  const std::uint8_t* p = data;
  std::size_t left = size;
  const auto write = take<std::uint64_t>(p, left);
  const auto read = take<std::uint64_t>(p, left);
  const auto max_record = take<std::uint32_t>(p, left) % (k_capacity / 2 + 1);
  const std::size_t area = left < k_capacity ? left : k_capacity;
  std::memcpy(mem->data, p, area);
  p += area;
  left -= area;
  mem->ctl.write_pos.store(write, std::memory_order_relaxed);
  mem->ctl.read_pos.store(read, std::memory_order_relaxed);

  pdc::ring_consumer ring(&mem->ctl, mem->data, k_capacity, max_record);
  for (int records = 0; records < 10000; ++records) {
    const pdc::read_slot slot = ring.try_peek();
    if (!slot) break;  // empty, or corrupt: the consumer stops trusting the ring
    const auto* begin = slot.bytes.data();
    if (begin < mem->data || begin + slot.bytes.size() > mem->data + k_capacity) std::abort();
    if (slot.bytes.size() > max_record) std::abort();
    ring.release();
    ring.flush_release();
    // The client moves something while the daemon reads.
    if (left >= 12) {
      const auto at = take<std::uint32_t>(p, left);
      const auto value = take<std::uint64_t>(p, left);
      if (at % 3 == 0) {
        mem->ctl.write_pos.store(value, std::memory_order_relaxed);
      } else {
        std::memcpy(mem->data + (at % (k_capacity - 8)), &value, sizeof value);
      }
    }
  }
  return 0;
}
