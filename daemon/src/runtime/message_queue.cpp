#include "runtime/message_queue.hpp"

#include <bit>

namespace pdc::daemon {

namespace {
void set_bit(std::array<std::uint64_t, 4>& bits, unsigned i) {
  bits[i / 64] |= 1ULL << (i % 64);
}
void clear_bit(std::array<std::uint64_t, 4>& bits, unsigned i) {
  bits[i / 64] &= ~(1ULL << (i % 64));
}
}  // namespace

bool message_queue::push(queued_message m) {
  if (full()) return false;
  const unsigned p = m.env.priority();
  auto& lane = lanes_[p];
  if (!lane) lane = std::make_unique<std::deque<queued_message>>();
  lane->push_back(std::move(m));
  set_bit(occupied_, p);
  ++size_;
  return true;
}

queued_message message_queue::take_front(unsigned priority) {
  auto& lane = *lanes_[priority];
  queued_message m = std::move(lane.front());
  lane.pop_front();
  if (lane.empty()) clear_bit(occupied_, priority);
  --size_;
  return m;
}

std::optional<queued_message> message_queue::pop() {
  for (int w = 3; w >= 0; --w) {
    const auto word = occupied_[static_cast<std::size_t>(w)];
    if (word == 0) continue;
    return take_front(static_cast<unsigned>(w) * 64 + 63 - static_cast<unsigned>(std::countl_zero(word)));
  }
  return std::nullopt;
}

std::optional<queued_message> message_queue::pop_oldest_lowest() {
  for (std::size_t w = 0; w < 4; ++w) {
    const auto word = occupied_[w];
    if (word == 0) continue;
    return take_front(static_cast<unsigned>(w) * 64 + static_cast<unsigned>(std::countr_zero(word)));
  }
  return std::nullopt;
}

}  // namespace pdc::daemon
