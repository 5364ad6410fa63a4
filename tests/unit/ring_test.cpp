#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <deque>
#include <vector>

#include "pdc/core/segment.hpp"

namespace pdc {
namespace {

class RingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::array<ring_spec, 1> spec{ring_spec{k_capacity, k_max_record}};
    auto seg = segment::create("ring-test", spec);
    ASSERT_TRUE(seg) << seg.err().what();
    seg_ = std::move(seg).value();
    producer_ = seg_.producer(0);
    consumer_ = seg_.consumer(0);
  }

  static std::vector<std::byte> pattern(std::size_t len, std::uint32_t seed) {
    std::vector<std::byte> v(len);
    for (std::size_t i = 0; i < len; ++i) v[i] = static_cast<std::byte>((seed * 131 + i * 7) & 0xFF);
    return v;
  }

  static constexpr std::uint64_t k_capacity = 4096;
  static constexpr std::uint32_t k_max_record = 1024;
  segment seg_;
  ring_producer producer_;
  ring_consumer consumer_;
};

TEST_F(RingTest, NewRingIsEmpty) {
  EXPECT_EQ(consumer_.try_peek().status, errc::empty);
  EXPECT_FALSE(consumer_.has_data());
}

TEST_F(RingTest, PushedRecordIsPeekedWithSameBytes) {
  const auto msg = pattern(100, 1);
  ASSERT_EQ(producer_.try_push(msg), errc::ok);
  auto slot = consumer_.try_peek();
  ASSERT_TRUE(slot);
  ASSERT_EQ(slot.bytes.size(), msg.size());
  EXPECT_EQ(std::memcmp(slot.bytes.data(), msg.data(), msg.size()), 0);
  consumer_.release();
  consumer_.flush_release();
  EXPECT_EQ(consumer_.try_peek().status, errc::empty);
}

TEST_F(RingTest, EmptyRecordsAreAllowed) {
  ASSERT_EQ(producer_.try_push({}), errc::ok);
  auto slot = consumer_.try_peek();
  ASSERT_TRUE(slot);
  EXPECT_TRUE(slot.bytes.empty());
}

TEST_F(RingTest, ReportsFullAndRecoversAfterRelease) {
  const auto msg = pattern(120, 2);  // footprint 128: exactly 32 fit in 4096
  int pushed = 0;
  while (producer_.try_push(msg) == errc::ok) ++pushed;
  EXPECT_EQ(pushed, 32);
  EXPECT_EQ(producer_.try_push(msg), errc::full);

  ASSERT_TRUE(consumer_.try_peek());
  consumer_.release();
  EXPECT_EQ(producer_.try_push(msg), errc::full) << "space returns only on flush_release";
  consumer_.flush_release();
  EXPECT_EQ(producer_.try_push(msg), errc::ok);
}

TEST_F(RingTest, RefusesOversizeRecordWithoutSideEffects) {
  ASSERT_EQ(producer_.try_push(pattern(10, 3)), errc::ok);
  EXPECT_EQ(producer_.try_push(pattern(k_max_record + 1, 4)), errc::message_too_large);
  EXPECT_EQ(producer_.try_reserve(1 << 20).status, errc::message_too_large);
  EXPECT_EQ(producer_.try_push(pattern(k_max_record, 5)), errc::ok) << "the limit itself is accepted";
  auto first = consumer_.try_peek();
  ASSERT_TRUE(first);
  EXPECT_EQ(first.bytes.size(), 10U);
  consumer_.release();
  auto second = consumer_.try_peek();
  ASSERT_TRUE(second);
  EXPECT_EQ(second.bytes.size(), k_max_record);
}

TEST_F(RingTest, UncommittedReservationsAreInvisible) {
  auto slot = producer_.try_reserve(16);
  ASSERT_TRUE(slot);
  std::memset(slot.bytes.data(), 0xAB, 16);
  EXPECT_EQ(consumer_.try_peek().status, errc::empty);
  producer_.commit();
  EXPECT_TRUE(consumer_.try_peek());
}

TEST_F(RingTest, BatchCommitPublishesEveryReservedRecordAtOnce) {
  for (std::uint32_t i = 0; i < 10; ++i) {
    auto slot = producer_.try_reserve(sizeof i);
    ASSERT_TRUE(slot);
    std::memcpy(slot.bytes.data(), &i, sizeof i);
  }
  EXPECT_FALSE(consumer_.has_data());
  producer_.commit();
  std::vector<std::uint32_t> seen;
  const auto n = consumer_.drain(
      [&](std::span<const std::byte> b) {
        std::uint32_t v = 0;
        std::memcpy(&v, b.data(), sizeof v);
        seen.push_back(v);
      },
      100);
  EXPECT_EQ(n, 10U);
  ASSERT_EQ(seen.size(), 10U);
  for (std::uint32_t i = 0; i < 10; ++i) EXPECT_EQ(seen[i], i);
}

TEST_F(RingTest, WrapAroundWithOddSizesKeepsBytesAndOrder) {
  // Many passes over the ring with sizes that never divide it evenly, so
  // padding records appear at many offsets.
  std::deque<std::vector<std::byte>> in_flight;
  std::uint32_t next_seed = 0;
  std::uint32_t checked = 0;
  for (int round = 0; round < 20000; ++round) {
    const std::size_t len = 1 + (static_cast<std::size_t>(round) * 37) % 613;
    auto msg = pattern(len, next_seed);
    if (producer_.try_push(msg) == errc::ok) {
      in_flight.push_back(std::move(msg));
      ++next_seed;
    }
    // Consume in uneven batches.
    const int batch = round % 3;
    for (int k = 0; k < batch; ++k) {
      auto slot = consumer_.try_peek();
      if (!slot) {
        ASSERT_EQ(slot.status, errc::empty);
        break;
      }
      ASSERT_FALSE(in_flight.empty());
      ASSERT_EQ(slot.bytes.size(), in_flight.front().size()) << "record " << checked;
      ASSERT_EQ(std::memcmp(slot.bytes.data(), in_flight.front().data(), slot.bytes.size()), 0);
      in_flight.pop_front();
      consumer_.release();
      ++checked;
    }
    consumer_.flush_release();
  }
  EXPECT_GT(checked, 10000U);
  EXPECT_GT(next_seed, 10000U);
}

TEST_F(RingTest, EachRecordIsSeenExactlyOnceInOrderAcrossBatches) {
  // Lifetime/ordering: a record's bytes stay intact while it is peeked even
  // when the producer fills every free byte, and is never delivered twice.
  std::uint64_t produced = 0;
  std::uint64_t consumed = 0;
  for (int round = 0; round < 1000; ++round) {
    for (;;) {
      auto slot = producer_.try_reserve(sizeof produced);
      if (!slot) break;
      std::memcpy(slot.bytes.data(), &produced, sizeof produced);
      ++produced;
    }
    producer_.commit();
    auto held = consumer_.try_peek();
    ASSERT_TRUE(held);
    std::uint64_t v = 0;
    std::memcpy(&v, held.bytes.data(), sizeof v);
    ASSERT_EQ(v, consumed);
    // Producer is full: it cannot overwrite the held record.
    EXPECT_EQ(producer_.try_reserve(8).status, errc::full);
    std::memcpy(&v, held.bytes.data(), sizeof v);
    ASSERT_EQ(v, consumed);
    consumer_.release();
    ++consumed;
    const std::uint64_t before = consumed;
    const auto drained = consumer_.drain(
        [&](std::span<const std::byte> b) {
          std::uint64_t x = 0;
          std::memcpy(&x, b.data(), sizeof x);
          ASSERT_EQ(x, consumed) << "out of order or duplicated";
          ++consumed;
        },
        static_cast<std::size_t>(round % 50 + 1));
    ASSERT_EQ(consumed - before, drained);
  }
  EXPECT_GT(produced, 20000U);
}

TEST_F(RingTest, CorruptRecordHeaderIsReportedNotFollowed) {
  ASSERT_EQ(producer_.try_push(pattern(32, 9)), errc::ok);
  // Scribble a huge length over the record header, as a hostile peer could.
  auto* data = reinterpret_cast<std::byte*>(seg_.control(0)) + sizeof(ring_control);
  const record_header bad{1U << 30, k_record_data};
  std::memcpy(data, &bad, sizeof bad);
  EXPECT_EQ(consumer_.try_peek().status, errc::corrupt_segment);
}

// Found by fuzzing: a consumer built over a read index off the record
// alignment read a header past the end of the data area.
TEST_F(RingTest, AReadIndexOffTheRecordAlignmentIsCorruptionNotARead) {
  seg_.control(0)->read_pos.store(4096 - 2, std::memory_order_relaxed);
  seg_.control(0)->write_pos.store(4096 + 64, std::memory_order_relaxed);
  ring_consumer consumer = seg_.consumer(0);

  EXPECT_EQ(consumer.try_peek().status, errc::corrupt_segment);
}

TEST_F(RingTest, ClosedFlagsAreVisibleToThePeer) {
  EXPECT_FALSE(consumer_.producer_closed());
  producer_.close();
  EXPECT_TRUE(consumer_.producer_closed());
  EXPECT_FALSE(producer_.consumer_closed());
  consumer_.close();
  EXPECT_TRUE(producer_.consumer_closed());
}

}  // namespace
}  // namespace pdc
