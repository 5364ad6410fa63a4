// Two-thread and cross-process streams over the ring: every record carries a
// sequence number and a checksum of its variable-length body.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <thread>

#include "pdc/core/segment.hpp"
#include "test_support.hpp"

namespace pdc {
namespace {

struct record_head {
  std::uint64_t seq;
  std::uint64_t checksum;
};

std::uint64_t fnv1a(const std::byte* p, std::size_t n) {
  std::uint64_t h = 1469598103934665603ULL;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ static_cast<std::uint64_t>(p[i])) * 1099511628211ULL;
  return h;
}

std::size_t body_len(std::uint64_t seq) {
  return (seq * 2654435761ULL) % 200;
}

// Writes `count` records; returns false if the consumer went away.
bool produce(ring_producer& producer, std::uint64_t count, std::size_t batch) {
  std::uint64_t seq = 0;
  while (seq < count) {
    std::size_t in_batch = 0;
    while (in_batch < batch && seq < count) {
      const std::size_t len = sizeof(record_head) + body_len(seq);
      auto slot = producer.try_reserve(len);
      if (!slot) break;
      std::byte* body = slot.bytes.data() + sizeof(record_head);
      for (std::size_t i = 0; i < len - sizeof(record_head); ++i) body[i] = static_cast<std::byte>(seq + i);
      const record_head head{seq, fnv1a(body, len - sizeof(record_head))};
      std::memcpy(slot.bytes.data(), &head, sizeof head);
      ++seq;
      ++in_batch;
    }
    if (in_batch != 0) {
      producer.commit();
    } else if (producer.wait_for_space(sizeof(record_head) + body_len(seq), idle_strategy::spin_park(10'000),
                                       deadline::after_ns(30'000'000'000)) != errc::ok) {
      return false;
    }
  }
  return true;
}

// Reads `count` records and checks each; returns the number of bad ones.
std::uint64_t consume(ring_consumer& consumer, std::uint64_t count) {
  std::uint64_t expected = 0;
  std::uint64_t bad = 0;
  while (expected < count) {
    const auto st = consumer.wait_for_data(idle_strategy::spin_park(10'000), deadline::after_ns(30'000'000'000));
    if (st != errc::ok) return bad + (count - expected);
    errc drain_status = errc::ok;
    consumer.drain(
        [&](std::span<const std::byte> b) {
          record_head head{};
          std::memcpy(&head, b.data(), sizeof head);
          const std::size_t body = b.size() - sizeof head;
          if (head.seq != expected || body != body_len(expected) ||
              head.checksum != fnv1a(b.data() + sizeof head, body)) {
            ++bad;
          }
          ++expected;
        },
        256, &drain_status);
    if (drain_status != errc::ok) return bad + (count - expected);
  }
  return bad;
}

TEST(RingStress, TwoThreadsStreamEveryRecordIntact) {
  const std::array<ring_spec, 1> spec{ring_spec{1 << 14, 1024}};
  auto seg = segment::create("stress", spec);
  ASSERT_TRUE(seg) << seg.err().what();
  const std::uint64_t count = test::scaled(2'000'000);
  bool produced_all = false;
  std::thread producer_thread([&] {
    auto producer = seg->producer(0);
    produced_all = produce(producer, count, 16);
  });
  auto consumer = seg->consumer(0);
  EXPECT_EQ(consume(consumer, count), 0U);
  producer_thread.join();
  EXPECT_TRUE(produced_all);
  EXPECT_EQ(consumer.try_peek().status, errc::empty);
}

TEST(RingStress, CrossProcessStreamEveryRecordIntact) {
  // The child gets the segment the way a client does: it opens a duplicated
  // fd and validates the header itself, then streams millions of records.
  const std::array<ring_spec, 1> spec{ring_spec{1 << 16, 4096}};
  auto seg = segment::create("xproc", spec);
  ASSERT_TRUE(seg) << seg.err().what();
  const std::uint64_t count = test::scaled(5'000'000);
  const int child_fd = ::dup(seg->fd());
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto mine = segment::open(child_fd);
    if (!mine) ::_exit(2);
    auto producer = mine->producer(0);
    const bool ok = produce(producer, count, 32);
    producer.close();
    ::_exit(ok ? 0 : 3);
  }
  ::close(child_fd);
  auto consumer = seg->consumer(0);
  EXPECT_EQ(consume(consumer, count), 0U);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(consumer.wait_for_data(idle_strategy::spin_park(1'000), deadline::after_ns(5'000'000'000)),
            errc::peer_gone);
}

}  // namespace
}  // namespace pdc
