// Kernel to kernel: send_to (the router kernel) across tiers, and connect /
// disconnect piping one kernel's outputs into another.
#include <gtest/gtest.h>

#include <string>

#include "harness.hpp"
#include "pdc/client.hpp"
#include "pdc/core/clock.hpp"

namespace pdc::test {
namespace {

constexpr std::int64_t k_wait_ns = 20'000'000'000;

class RoutingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(daemon_.ready()) << daemon_.log();
    auto c = client::connect(daemon_.socket(), "routing-test");
    ASSERT_TRUE(c) << c.err().what();
    sut_.emplace(std::move(c).value());
  }
  void launch(const std::string& type, const std::string& id, kernel_tier tier, const std::string& config = {}) {
    launch_options o;
    o.kernel_type = type;
    o.kernel_id = id;
    o.tier = tier;
    o.config = config;
    auto r = sut_->launch(o);
    ASSERT_TRUE(r) << r.err().what();
    ASSERT_TRUE(sut_->activate(id));
  }
  void send(const std::string& id, const std::string& text) {
    auto r = sut_->send(id, std::as_bytes(std::span(text)));
    ASSERT_TRUE(r) << r.err().what();
  }
  std::string next_text(std::int64_t timeout_ns, std::string* from = nullptr) {
    auto m = sut_->receive(timeout_ns);
    if (!m) return "<" + std::string(name_of(m.code())) + ">";
    if (from != nullptr) *from = m->kernel_id;
    return {reinterpret_cast<const char*>(m->payload.data()), m->payload.size()};
  }

  daemon_process daemon_{{"--load", "pdc_echo.so", "--load", "pdc_router.so"}};
  std::optional<client> sut_;
};

TEST_F(RoutingTest, AsyncRouterFeedsAThreadedWorker) {
  launch("echo", "worker", kernel_tier::threaded);
  launch("router", "front", kernel_tier::async, "worker");
  ASSERT_TRUE(sut_->subscribe("worker"));
  for (int i = 0; i < 20; ++i) send("front", "job-" + std::to_string(i));
  for (int i = 0; i < 20; ++i) {
    std::string from;
    EXPECT_EQ(next_text(k_wait_ns, &from), "job-" + std::to_string(i));
    EXPECT_EQ(from, "worker");
  }
  auto st = sut_->status("front");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->messages_out, 20U);
}

TEST_F(RoutingTest, RouterOnAWorkerThreadStillRoutes) {
  launch("echo", "sink-side", kernel_tier::async);
  launch("router", "front", kernel_tier::threaded, "sink-side");
  ASSERT_TRUE(sut_->subscribe("sink-side"));
  send("front", "through a thread");
  EXPECT_EQ(next_text(k_wait_ns), "through a thread");
}

TEST_F(RoutingTest, RouterWithoutATargetFailsToLaunch) {
  launch_options o;
  o.kernel_type = "router";
  o.kernel_id = "lost";
  auto r = sut_->launch(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), errc::plugin_error);
  EXPECT_NE(r.err().what().find("target"), std::string::npos) << r.err().what();
}

TEST_F(RoutingTest, ConnectPipesOutputsAndDisconnectStopsThem) {
  launch("echo", "a", kernel_tier::async);
  launch("echo", "b", kernel_tier::threaded);
  launch("router", "front", kernel_tier::async, "a");
  ASSERT_TRUE(sut_->connect_kernels("a", "b"));
  ASSERT_TRUE(sut_->subscribe("b"));
  send("front", "piped");
  std::string from;
  EXPECT_EQ(next_text(k_wait_ns, &from), "piped");
  EXPECT_EQ(from, "b");
  ASSERT_TRUE(sut_->disconnect_kernels("a", "b"));
  send("front", "not piped");
  EXPECT_EQ(next_text(100'000'000), "<timeout>");
}

TEST_F(RoutingTest, ConnectRefusesCyclesSelfLoopsAndUnknownKernels) {
  launch("echo", "a", kernel_tier::async);
  launch("echo", "b", kernel_tier::async);
  ASSERT_TRUE(sut_->connect_kernels("a", "b"));
  EXPECT_EQ(sut_->connect_kernels("a", "b").code(), errc::already_exists);
  auto cycle = sut_->connect_kernels("b", "a");
  ASSERT_FALSE(cycle);
  EXPECT_EQ(cycle.code(), errc::invalid_argument);
  EXPECT_NE(cycle.err().what().find("cycle"), std::string::npos);
  EXPECT_EQ(sut_->connect_kernels("a", "a").code(), errc::invalid_argument);
  EXPECT_EQ(sut_->connect_kernels("a", "ghost").code(), errc::not_found);
  EXPECT_EQ(sut_->disconnect_kernels("b", "a").code(), errc::not_found);
}

TEST_F(RoutingTest, TerminatingATargetRemovesConnectionsToIt) {
  launch("echo", "a", kernel_tier::async);
  launch("echo", "b", kernel_tier::async);
  ASSERT_TRUE(sut_->connect_kernels("a", "b"));
  ASSERT_TRUE(sut_->terminate("b"));
  launch("echo", "b", kernel_tier::async);
  EXPECT_TRUE(sut_->connect_kernels("a", "b")) << "the old connection went with the old b";
}

}  // namespace
}  // namespace pdc::test
