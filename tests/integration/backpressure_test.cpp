// Each backpressure policy on a full queue: exactly which messages arrive,
// and what the counters say. The kernel is deactivated so the queue fills.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness.hpp"
#include "pdc/client.hpp"

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
