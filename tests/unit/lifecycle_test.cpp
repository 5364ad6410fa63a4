#include <gtest/gtest.h>

#include "runtime/lifecycle.hpp"

namespace pdc::daemon {
namespace {

using s = kernel_state;
using op = kernel_op;

struct case_row {
  s from;
  op operation;
  bool legal;
  s to;
};

// Every (state, operation) pair: the seed's rules, nothing else.
const case_row k_table[] = {
    {s::created, op::launch, true, s::launched},
    {s::created, op::activate, false, s::created},
    {s::created, op::deactivate, false, s::created},
    {s::created, op::terminate, false, s::created},
    {s::launched, op::launch, false, s::launched},
    {s::launched, op::activate, true, s::active},
    {s::launched, op::deactivate, false, s::launched},
    {s::launched, op::terminate, true, s::terminating},
    {s::active, op::launch, false, s::active},
    {s::active, op::activate, false, s::active},
    {s::active, op::deactivate, true, s::deactivated},
    {s::active, op::terminate, true, s::terminating},
    {s::deactivated, op::launch, false, s::deactivated},
    {s::deactivated, op::activate, true, s::active},
    {s::deactivated, op::deactivate, false, s::deactivated},
    {s::deactivated, op::terminate, true, s::terminating},
    {s::terminating, op::launch, false, s::terminating},
    {s::terminating, op::activate, false, s::terminating},
    {s::terminating, op::deactivate, false, s::terminating},
    {s::terminating, op::terminate, false, s::terminating},
    {s::terminated, op::launch, false, s::terminated},
    {s::terminated, op::activate, false, s::terminated},
    {s::terminated, op::deactivate, false, s::terminated},
    {s::terminated, op::terminate, false, s::terminated},
};

TEST(Lifecycle, EveryTransitionFollowsTheSeedRules) {
  for (const auto& row : k_table) {
    auto sut = transition("k1", row.from, row.operation);
    ASSERT_EQ(static_cast<bool>(sut), row.legal) << to_string(row.operation) << " from " << to_string(row.from);
    if (row.legal) {
      EXPECT_EQ(*sut, row.to);
    } else {
      EXPECT_EQ(sut.code(), errc::illegal_state);
    }
  }
}

TEST(Lifecycle, RefusalNamesKernelOperationAndCurrentState) {
  auto sut = transition("processor", s::active, op::activate);
  ASSERT_FALSE(sut);
  EXPECT_EQ(sut.err().what(), "cannot activate kernel 'processor': it is active");
}

TEST(Lifecycle, StatesHaveTheSpellingOfLogsCliAndJson) {
  EXPECT_EQ(to_string(s::created), "created");
  EXPECT_EQ(to_string(s::deactivated), "deactivated");
  EXPECT_EQ(to_string(s::terminated), "terminated");
}

}  // namespace
}  // namespace pdc::daemon
