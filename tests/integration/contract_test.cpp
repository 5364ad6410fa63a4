// The same host call gives the same result on every tier, through an
// attachment and through the socket: a real pdcd, the contract test plugin
// (tests/plugins/contract.cpp) making the calls, real clients asking.
#include <gtest/gtest.h>

#include <string>

#include "harness.hpp"
#include "messages.hpp"
#include "pdc/client.hpp"
#include "pdc/core/clock.hpp"

namespace pdc::test {
namespace {

constexpr std::int64_t k_wait_ns = 20'000'000'000;

class ContractTest : public ::testing::TestWithParam<kernel_tier> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(daemon_.ready()) << daemon_.log();
    auto c = client::connect(daemon_.socket(), "contract-test");
    ASSERT_TRUE(c) << c.err().what();
    sut_.emplace(std::move(c).value());
    launch_options o;
    o.kernel_type = GetParam() == kernel_tier::async ? "contract_async" : "contract";
    o.kernel_id = "k";
    o.tier = GetParam();
    o.max_message_bytes = 1024;
    ASSERT_TRUE(sut_->launch(o));
    ASSERT_TRUE(sut_->activate("k"));
    launch_options target;
    target.kernel_type = "echo";
    target.kernel_id = "target";
    ASSERT_TRUE(sut_->launch(target));
    ASSERT_TRUE(sut_->activate("target"));
    launch_options full;
    full.kernel_type = "echo";
    full.kernel_id = "full";
    full.capacity = 1;
    full.backpressure = backpressure_policy::reject;
    ASSERT_TRUE(sut_->launch(full));  // never activated: its one slot fills
    auto a = sut_->attach("k");
    ASSERT_TRUE(a) << a.err().what();
    ring_.emplace(std::move(a).value());
  }

  // The kernel's answer to `command`, through the attachment or the socket.
  std::string ask(std::string_view command, bool through_ring) {
    auto r = through_ring ? ring_->request(bytes(command), k_wait_ns) : sut_->request("k", bytes(command), k_wait_ns);
    if (!r) return "error " + std::string(name_of(r.code())) + ": " + r.err().what();
    return text(*r);
  }

  daemon_process daemon_{
      {"--load", "pdc_echo.so", "--load", std::string(PDC_TEST_PLUGINS_DIR) + "/pdc_test_contract.so"}};
  std::optional<client> sut_;
  std::optional<attachment> ring_;
};

TEST_P(ContractTest, SendToAnUnknownKernelIsNotFoundEverywhere) {
  EXPECT_EQ(ask("send_to:nobody", true), "-2");
  EXPECT_EQ(ask("send_to:nobody", false), "-2");
}

TEST_P(ContractTest, SendToAKernelIsOkAndAFullOneGivesItsPolicysCode) {
  EXPECT_EQ(ask("send_to:target", true), "0");
  EXPECT_EQ(ask("send_to:full", true), "0");
  EXPECT_EQ(ask("send_to:full", false), "-17");  // PDC_E_REJECTED
}

TEST_P(ContractTest, EmitWithNobodyListeningIsOk) {
  EXPECT_EQ(ask("emit", true), "0");
  EXPECT_EQ(ask("emit", false), "0");
}

TEST_P(ContractTest, AReplyAboveTheLimitIsTooLarge) {
  EXPECT_EQ(ask("big", true), "-5");
  EXPECT_EQ(ask("big", false), "-5");
}

TEST_P(ContractTest, AFailedHandlerAnswersItsSenderWithAnErrorEverywhere) {
  const std::string expected = "error plugin_error: plugin_error: handler of kernel 'k' failed (plugin error)";
  EXPECT_EQ(ask("fail", true), expected);
  EXPECT_EQ(ask("fail", false), expected);
  EXPECT_EQ(sut_->status("k")->handler_errors, 2U);
}

TEST_P(ContractTest, TwoRepliesToOneRequestBothArrive) {
  EXPECT_EQ(ask("twice", true), "one");
  auto second = ring_->receive(k_wait_ns);
  ASSERT_TRUE(second) << second.err().what();
  EXPECT_EQ(text(*second), "two");
}

INSTANTIATE_TEST_SUITE_P(EveryTier, ContractTest,
                         ::testing::Values(kernel_tier::async, kernel_tier::threaded, kernel_tier::spin,
                                           kernel_tier::pool),
                         [](const auto& param_info) { return std::string(to_string(param_info.param)); });

}  // namespace
}  // namespace pdc::test
