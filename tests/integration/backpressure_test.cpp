// Each backpressure policy on a full queue: exactly which messages arrive,
// and what the counters say. The kernel is deactivated so the queue fills.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "harness.hpp"
#include "pdc/client.hpp"
#include "pdc/core/clock.hpp"

namespace pdc::test {
namespace {

constexpr std::int64_t k_wait_ns = 20'000'000'000;

class BackpressureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(daemon_.ready()) << daemon_.log();
    auto c = client::connect(daemon_.socket(), "bp-test");
    ASSERT_TRUE(c) << c.err().what();
    sut_.emplace(std::move(c).value());
  }

  // Launches echo "k" (not activated) with capacity 3 and `policy`, sends
  // m1..m5, and returns each send's outcome.
  std::vector<errc> fill(backpressure_policy policy) {
    launch_options o;
    o.kernel_type = "echo";
    o.kernel_id = "k";
    o.capacity = 3;
    o.backpressure = policy;
    o.block_timeout_ms = 50;
    EXPECT_TRUE(sut_->launch(o));
    std::vector<errc> out;
    for (int i = 1; i <= 5; ++i) {
      const std::string text = "m" + std::to_string(i);
      out.push_back(sut_->send("k", std::as_bytes(std::span(text))).code());
    }
    return out;
  }

  // Activates "k" and collects `n` deliveries as text ("!..." for error replies).
  std::vector<std::string> drain(std::size_t n) {
    EXPECT_TRUE(sut_->activate("k"));
    std::vector<std::string> got;
    for (std::size_t i = 0; i < n; ++i) {
      auto m = sut_->receive(k_wait_ns);
      if (!m) break;
      std::string text(reinterpret_cast<const char*>(m->payload.data()), m->payload.size());
      got.push_back(m->is_error() ? "!" + text : text);
    }
    EXPECT_EQ(sut_->receive(50'000'000).code(), errc::timeout) << "nothing else arrives";
    return got;
  }

  daemon_process daemon_{{"--load", "pdc_echo.so"}};
  std::optional<client> sut_;
};

TEST_F(BackpressureTest, RejectRefusesNewMessagesAtOnce) {
  const auto sends = fill(backpressure_policy::reject);
  EXPECT_EQ(sends, (std::vector<errc>{errc::ok, errc::ok, errc::ok, errc::rejected, errc::rejected}));
  EXPECT_EQ(drain(3), (std::vector<std::string>{"m1", "m2", "m3"}));
  auto st = sut_->status("k");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->rejected, 2U);
  EXPECT_EQ(st->dropped, 0U);
}

TEST_F(BackpressureTest, DropNewestDropsTheIncomingMessageAndSaysSo) {
  const auto sends = fill(backpressure_policy::drop_newest);
  EXPECT_EQ(sends, (std::vector<errc>{errc::ok, errc::ok, errc::ok, errc::dropped, errc::dropped}));
  EXPECT_EQ(drain(3), (std::vector<std::string>{"m1", "m2", "m3"}));
  auto st = sut_->status("k");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->dropped, 2U);
}

TEST_F(BackpressureTest, DropOldestEvictsTheOldestAndTellsItsSender) {
  const auto sends = fill(backpressure_policy::drop_oldest);
  EXPECT_EQ(sends, (std::vector<errc>(5, errc::ok)));
  const auto got = drain(5);
  ASSERT_EQ(got.size(), 5U);
  // m1 and m2 were evicted: their sender got error replies, at eviction time.
  EXPECT_EQ(got[0].rfind("!dropped:", 0), 0U) << got[0];
  EXPECT_EQ(got[1].rfind("!dropped:", 0), 0U) << got[1];
  EXPECT_EQ((std::vector<std::string>{got[2], got[3], got[4]}), (std::vector<std::string>{"m3", "m4", "m5"}));
  auto st = sut_->status("k");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->dropped, 2U);
}

TEST_F(BackpressureTest, BlockMakesTheSenderWaitThenTimesOut) {
  const auto sends = fill(backpressure_policy::block);
  EXPECT_EQ(sends, (std::vector<errc>{errc::ok, errc::ok, errc::ok, errc::timeout, errc::timeout}));
  EXPECT_EQ(drain(3), (std::vector<std::string>{"m1", "m2", "m3"}));
  auto st = sut_->status("k");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->rejected, 2U);
}

}  // namespace
}  // namespace pdc::test

namespace pdc::test {
namespace {

// The same policies on an attachment's request ring: the client library
// applies the kernel's policy (the ring's producer), and drop_oldest has the
// kernel drop its oldest message. 1000-byte messages fill a 64 KiB ring.
class RingBackpressureTest : public BackpressureTest {
 protected:
  struct outcome {
    std::vector<errc> sends;
    std::size_t accepted = 0;
  };

  outcome fill_ring(backpressure_policy policy, kernel_tier tier) {
    launch_options o;
    o.kernel_type = "echo";
    o.kernel_id = "r";
    o.tier = tier;
    o.backpressure = policy;
    o.max_message_bytes = 1024;
    o.block_timeout_ms = 50;
    EXPECT_TRUE(sut_->launch(o));
    attach_options ao;
    ao.request_ring_bytes = 64 * 1024;
    auto a = sut_->attach("r", ao);
    EXPECT_TRUE(a) << (a ? "" : a.err().what());
    outcome out;
    if (!a) return out;
    attachment_ = std::move(a).value();
    std::vector<std::byte> payload(1000);
    for (std::uint32_t i = 0; i < 100; ++i) {
      std::memcpy(payload.data(), &i, sizeof i);
      const auto r = attachment_.send(payload);
      out.sends.push_back(r.code());
      if (r) ++out.accepted;
    }
    return out;
  }

  // Activates "r" and returns the ids (first 4 payload bytes) of what comes
  // back, with error replies as -1 - their count so far.
  std::vector<std::int64_t> collect() {
    EXPECT_TRUE(sut_->activate("r"));
    std::vector<std::int64_t> got;
    for (;;) {
      auto m = attachment_.receive(200'000'000);
      if (!m) break;
      if (m->is_error()) {
        got.push_back(-1);
        continue;
      }
      std::uint32_t id = 0;
      std::memcpy(&id, m->payload.data(), sizeof id);
      got.push_back(id);
    }
    return got;
  }

  attachment attachment_;
};

TEST_F(RingBackpressureTest, RejectRefusesOnceTheRingIsFull) {
  const auto r = fill_ring(backpressure_policy::reject, kernel_tier::threaded);
  ASSERT_GT(r.accepted, 10U);
  ASSERT_LT(r.accepted, 100U);
  for (std::size_t i = 0; i < r.sends.size(); ++i) {
    EXPECT_EQ(r.sends[i], i < r.accepted ? errc::ok : errc::rejected) << i;
  }
  const auto got = collect();
  ASSERT_EQ(got.size(), r.accepted);
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], static_cast<std::int64_t>(i));
  auto st = sut_->status("r");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->rejected, 100 - r.accepted);
}

TEST_F(RingBackpressureTest, DropNewestDropsWhatDoesNotFit) {
  const auto r = fill_ring(backpressure_policy::drop_newest, kernel_tier::async);
  ASSERT_GT(r.accepted, 10U);
  for (std::size_t i = 0; i < r.sends.size(); ++i) {
    EXPECT_EQ(r.sends[i], i < r.accepted ? errc::ok : errc::dropped) << i;
  }
  const auto got = collect();
  ASSERT_EQ(got.size(), r.accepted);
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], static_cast<std::int64_t>(i));
  auto st = sut_->status("r");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->dropped, 100 - r.accepted);
}

TEST_F(RingBackpressureTest, DropOldestKeepsTheNewestAndReportsTheDropped) {
  const auto r = fill_ring(backpressure_policy::drop_oldest, kernel_tier::spin);
  ASSERT_EQ(r.accepted, 100U) << "every send succeeds: the kernel makes room";
  const auto got = collect();
  // Error replies for the dropped oldest, then the newest in order.
  std::size_t errors = 0;
  while (errors < got.size() && got[errors] == -1) ++errors;
  ASSERT_GT(errors, 0U);
  ASSERT_EQ(got.size(), 100U);
  for (std::size_t i = errors; i < got.size(); ++i) EXPECT_EQ(got[i], static_cast<std::int64_t>(i)) << i;
  auto st = sut_->status("r");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->dropped, errors);
}

TEST_F(RingBackpressureTest, BlockWaitsThenTimesOutAndCountsARejection) {
  const auto r = fill_ring(backpressure_policy::block, kernel_tier::async);
  ASSERT_GT(r.accepted, 10U);
  for (std::size_t i = r.accepted; i < r.sends.size(); ++i) EXPECT_EQ(r.sends[i], errc::timeout) << i;
  const auto got = collect();
  EXPECT_EQ(got.size(), r.accepted);
  auto st = sut_->status("r");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->rejected, 100 - r.accepted);
}

}  // namespace
}  // namespace pdc::test
