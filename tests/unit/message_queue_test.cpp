#include <gtest/gtest.h>

#include "runtime/message_queue.hpp"

namespace pdc::daemon {
namespace {

queued_message msg(std::uint64_t id, std::uint8_t priority = k_default_priority) {
  queued_message m;
  m.env = make_envelope(id, 0, 0, 0, 0, 0, 0, priority);
  return m;
}

TEST(MessageQueue, FifoWithinOnePriority) {
  message_queue sut(8);
  for (std::uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE(sut.push(msg(i)));
  for (std::uint64_t i = 1; i <= 5; ++i) EXPECT_EQ(sut.pop()->env.message_id(), i);
  EXPECT_FALSE(sut.pop());
}

TEST(MessageQueue, HigherPriorityFirst) {
  message_queue sut(8);
  sut.push(msg(1, 10));
  sut.push(msg(2, 200));
  sut.push(msg(3, 128));
  sut.push(msg(4, 200));
  EXPECT_EQ(sut.pop()->env.message_id(), 2U);
  EXPECT_EQ(sut.pop()->env.message_id(), 4U);
  EXPECT_EQ(sut.pop()->env.message_id(), 3U);
  EXPECT_EQ(sut.pop()->env.message_id(), 1U);
}

TEST(MessageQueue, BoundedAtCapacity) {
  message_queue sut(2);
  EXPECT_TRUE(sut.push(msg(1)));
  EXPECT_TRUE(sut.push(msg(2)));
  EXPECT_TRUE(sut.full());
  EXPECT_FALSE(sut.push(msg(3)));
  EXPECT_EQ(sut.size(), 2U);
}

TEST(MessageQueue, DropOldestNeverEvictsAHigherPriorityMessage) {
  message_queue sut(4);
  sut.push(msg(1, 255));
  sut.push(msg(2, 5));
  sut.push(msg(3, 5));
  EXPECT_EQ(sut.pop_oldest_lowest()->env.message_id(), 2U);
  EXPECT_EQ(sut.pop()->env.message_id(), 1U);
}

}  // namespace
}  // namespace pdc::daemon
