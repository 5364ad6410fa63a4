// The kinds exist once: one value (shared with the wire, the plugin ABI and
// the C client ABI) and one spelling each, and unknown values are refused.
#include <gtest/gtest.h>

#include "pdc/core/kinds.hpp"
#include "pdc/proto/kinds_wire.hpp"

namespace pdc {
namespace {

TEST(Kinds, EveryTierHasOneSpellingThatParsesBack) {
  for (const auto t : k_all_tiers) {
    auto parsed = parse_tier(to_string(t));
    ASSERT_TRUE(parsed) << to_string(t);
    EXPECT_EQ(*parsed, t);
    EXPECT_EQ(*from_wire(to_wire(t)), t);
    EXPECT_EQ(*tier_from_value(static_cast<std::uint32_t>(t)), t);
  }
}

TEST(Kinds, EveryPolicyAndStateHasOneSpellingThatParsesBack) {
  for (const auto p : k_all_backpressure_policies) {
    EXPECT_EQ(*parse_backpressure(to_string(p)), p);
    EXPECT_EQ(*from_wire(to_wire(p)), p);
  }
  for (const auto s : k_all_kernel_states) {
    EXPECT_EQ(*parse_state(to_string(s)), s);
    EXPECT_EQ(*from_wire(to_wire(s)), s);
  }
  for (const auto i : k_all_isolations) {
    EXPECT_EQ(*parse_isolation(to_string(i)), i);
    EXPECT_EQ(*from_wire(to_wire(i)), i);
  }
  EXPECT_EQ(parse_isolation("container").err().message, "unknown isolation 'container' (expected none or process)");
}

TEST(Kinds, ADashMayStandForAnUnderscore) {
  EXPECT_EQ(*parse_backpressure("drop-oldest"), backpressure_policy::drop_oldest);
}

TEST(Kinds, UnknownNamesAreRefusedNamingTheChoices) {
  auto sut = parse_tier("gpu");
  ASSERT_FALSE(sut);
  EXPECT_EQ(sut.code(), errc::invalid_argument);
  EXPECT_EQ(sut.err().message, "unknown tier 'gpu' (expected async, threaded, spin, pool or cuda)");
}

TEST(Kinds, UnknownValuesAreRefusedNotGuessed) {
  EXPECT_EQ(tier_from_value(5).code(), errc::invalid_argument);
  EXPECT_EQ(tier_from_value(256 + 1).code(), errc::invalid_argument);
  EXPECT_EQ(backpressure_from_value(4).code(), errc::invalid_argument);
  EXPECT_EQ(state_from_value(8).code(), errc::invalid_argument);
  EXPECT_EQ(isolation_from_value(2).code(), errc::invalid_argument);
  EXPECT_FALSE(from_wire(static_cast<wire::Tier>(9)));
  EXPECT_EQ(from_wire(static_cast<wire::Tier>(9)).err().message,
            "unknown tier value 9 (this build knows async, threaded, spin, pool or cuda)");
}

TEST(Kinds, TheCValuesAndTheTierMaskAgree) {
  EXPECT_EQ(static_cast<int>(kernel_tier::pool), PDC_TIER_POOL);
  EXPECT_EQ(tier_mask_bit(kernel_tier::pool), PDC_TIER_MASK(PDC_TIER_POOL));
  EXPECT_EQ(PDC_TIER_MASK_CPU & tier_mask_bit(kernel_tier::cuda), 0U);
  EXPECT_EQ(static_cast<int>(backpressure_policy::drop_newest), PDC_BACKPRESSURE_DROP_NEWEST);
  EXPECT_EQ(static_cast<int>(kernel_state::terminated), PDC_STATE_TERMINATED);
  EXPECT_EQ(static_cast<int>(kernel_state::failed), PDC_STATE_FAILED);
  EXPECT_EQ(static_cast<int>(kernel_isolation::process), PDC_ISOLATION_PROCESS);
}

}  // namespace
}  // namespace pdc
