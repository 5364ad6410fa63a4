#include <gtest/gtest.h>

#include <sys/eventfd.h>
#include <unistd.h>
#include <array>
#include <atomic>
#include <cstring>

#include <thread>

#include "pdc/core/segment.hpp"
#include "test_support.hpp"

namespace pdc {
namespace {

class WaitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::array<ring_spec, 1> spec{ring_spec{4096, 1024}};
    auto seg = segment::create("wait-test", spec);
    ASSERT_TRUE(seg) << seg.err().what();
    seg_ = std::move(seg).value();
  }
  segment seg_;
};

TEST_F(WaitTest, ParkedConsumerWakesOnPush) {
  auto producer = seg_.producer(0);
  std::atomic<int> outcome{-1};
  std::uint64_t parks = 0;
  std::thread consumer_thread([&] {
    auto consumer = seg_.consumer(0);
    const auto st = consumer.wait_for_data(idle_strategy::spin_park(0), deadline::after_ns(60'000'000'000));
    parks = consumer.stats().park_syscalls;
    outcome.store(static_cast<int>(st));
  });
  // Wait until the consumer is really parked, then push.
  ASSERT_TRUE(test::wait_until([&] { return seg_.control(0)->consumer_parked.load() == 1; }));
  const std::array<std::byte, 8> msg{};
  ASSERT_EQ(producer.try_push(msg), errc::ok);
  consumer_thread.join();
  EXPECT_EQ(outcome.load(), static_cast<int>(errc::ok));
  EXPECT_EQ(producer.stats().wake_syscalls, 1U);
  EXPECT_GE(parks, 1U);
}

TEST_F(WaitTest, ProducerMakesNoSystemCallWhileConsumerSpins) {
  constexpr std::uint64_t k_count = 200'000;
  auto producer = seg_.producer(0);
  std::uint64_t received = 0;
  std::thread consumer_thread([&] {
    auto consumer = seg_.consumer(0);
    while (received < k_count) {
      if (consumer.wait_for_data(idle_strategy::spin(), deadline::after_ns(60'000'000'000)) != errc::ok) return;
      received += consumer.drain([](std::span<const std::byte>) {}, 64);
    }
  });
  const std::array<std::byte, 64> msg{};
  for (std::uint64_t i = 0; i < k_count; ++i) {
    while (producer.try_push(msg) == errc::full) cpu_relax();
  }
  consumer_thread.join();
  EXPECT_EQ(received, k_count);
  EXPECT_EQ(producer.stats().wake_syscalls, 0U);
}

TEST_F(WaitTest, ParkedProducerWakesWhenSpaceIsReleased) {
  auto producer = seg_.producer(0);
  const std::array<std::byte, 1000> msg{};
  while (producer.try_push(msg) == errc::ok) {
  }
  std::atomic<int> outcome{-1};
  std::thread producer_thread([&] {
    outcome.store(static_cast<int>(
        producer.wait_for_space(msg.size(), idle_strategy::spin_park(0), deadline::after_ns(60'000'000'000))));
  });
  ASSERT_TRUE(test::wait_until([&] { return seg_.control(0)->producer_parked.load() == 1; }));
  auto consumer = seg_.consumer(0);
  ASSERT_TRUE(consumer.try_peek());
  consumer.release();
  consumer.flush_release();
  producer_thread.join();
  EXPECT_EQ(outcome.load(), static_cast<int>(errc::ok));
  EXPECT_EQ(consumer.stats().wake_syscalls, 1U);
}

TEST_F(WaitTest, WaitOnEmptyRingTimesOut) {
  auto consumer = seg_.consumer(0);
  for (auto strategy : {idle_strategy::spin(), idle_strategy::spin_yield(1'000), idle_strategy::spin_park(1'000)}) {
    EXPECT_EQ(consumer.wait_for_data(strategy, deadline::after_ns(2'000'000)), errc::timeout);
  }
}

TEST_F(WaitTest, ClosingProducerWakesParkedConsumerWithPeerGone) {
  auto producer = seg_.producer(0);
  std::atomic<int> outcome{-1};
  std::thread consumer_thread([&] {
    auto consumer = seg_.consumer(0);
    outcome.store(static_cast<int>(consumer.wait_for_data(idle_strategy::spin_park(0), deadline::never())));
  });
  ASSERT_TRUE(test::wait_until([&] { return seg_.control(0)->consumer_parked.load() == 1; }));
  producer.close();
  consumer_thread.join();
  EXPECT_EQ(outcome.load(), static_cast<int>(errc::peer_gone));
}

TEST_F(WaitTest, RecordsCommittedBeforeCloseAreStillDelivered) {
  auto producer = seg_.producer(0);
  const std::array<std::byte, 4> msg{};
  ASSERT_EQ(producer.try_push(msg), errc::ok);
  producer.close();
  auto consumer = seg_.consumer(0);
  EXPECT_EQ(consumer.wait_for_data(idle_strategy::spin_park(0), deadline::never()), errc::ok);
  consumer.drain([](std::span<const std::byte>) {}, 10);
  EXPECT_EQ(consumer.wait_for_data(idle_strategy::spin_park(0), deadline::never()), errc::peer_gone);
}

TEST_F(WaitTest, ClosedConsumerReleasesWaitingProducer) {
  auto producer = seg_.producer(0);
  const std::array<std::byte, 1000> msg{};
  while (producer.try_push(msg) == errc::ok) {
  }
  seg_.consumer(0).close();
  EXPECT_EQ(producer.wait_for_space(msg.size(), idle_strategy::spin_park(0), deadline::never()), errc::peer_gone);
}

TEST_F(WaitTest, EventfdModeSignalsTheFdInsteadOfTheFutex) {
  auto producer = seg_.producer(0);
  auto consumer = seg_.consumer(0);
  const int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ASSERT_GE(efd, 0);
  producer.set_wake_fd(efd);
  ASSERT_TRUE(consumer.prepare_park());  // the event loop is about to sleep
  const std::array<std::byte, 4> msg{};
  ASSERT_EQ(producer.try_push(msg), errc::ok);
  std::uint64_t count = 0;
  EXPECT_EQ(::read(efd, &count, sizeof count), static_cast<ssize_t>(sizeof count));
  EXPECT_EQ(count, 1U);
  consumer.unpark();
  EXPECT_FALSE(consumer.prepare_park()) << "data is waiting: must not sleep";
  ::close(efd);
}

}  // namespace
}  // namespace pdc
