// An idler walks one idle period of its strategy: poll for the spin time,
// then yield or park; adaptive spin grows when spinning caught work.
#include <gtest/gtest.h>

#include "pdc/core/clock.hpp"
#include "pdc/core/idle_strategy.hpp"

namespace pdc {
namespace {

// Steps until the first that is not a poll (bounded).
idle_step first_non_poll(idler& sut) {
  for (int i = 0; i < 100'000'000; ++i) {
    const auto step = sut.next();
    if (step != idle_step::poll) return step;
  }
  return idle_step::poll;
}

TEST(IdleStrategy, SpinParkPollsThenParks) {
  idler sut(idle_strategy::spin_park(20'000));
  const auto start = now_ns();
  EXPECT_EQ(first_non_poll(sut), idle_step::park);
  EXPECT_GE(now_ns() - start, 20'000U);
  EXPECT_EQ(sut.next(), idle_step::park);  // stays parked until reset
}

TEST(IdleStrategy, ZeroSpinParksAtOnce) {
  idler sut(idle_strategy::spin_park(0));
  EXPECT_EQ(sut.next(), idle_step::park);
}

TEST(IdleStrategy, SpinYieldYields) {
  idler sut(idle_strategy::spin_yield(0));
  EXPECT_EQ(sut.next(), idle_step::yield);
}

TEST(IdleStrategy, SpinNeverParks) {
  idler sut(idle_strategy::spin());
  for (int i = 0; i < 100'000; ++i) ASSERT_EQ(sut.next(), idle_step::poll);
}

TEST(IdleStrategy, ResetStartsAFreshPeriod) {
  idler sut(idle_strategy::spin_park(0));
  EXPECT_EQ(sut.next(), idle_step::park);
  sut.set_strategy(idle_strategy::spin_park(1'000'000));
  EXPECT_EQ(sut.next(), idle_step::poll);
}

TEST(IdleStrategy, AdaptiveShrinksWhenSpinningFoundNothingAndGrowsWhenItCaughtWork) {
  idler sut(idle_strategy::adaptive(1'000, 16'000));
  EXPECT_EQ(sut.spin_ns(), 16'000U);
  EXPECT_EQ(first_non_poll(sut), idle_step::park);
  EXPECT_EQ(sut.spin_ns(), 8'000U);  // spun out: halved
  sut.reset();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(first_non_poll(sut), idle_step::park);
    sut.reset();
  }
  EXPECT_EQ(sut.spin_ns(), 1'000U);  // never below the floor
  EXPECT_EQ(sut.next(), idle_step::poll);
  sut.reset();  // work found while spinning: doubled
  EXPECT_EQ(sut.spin_ns(), 2'000U);
}

}  // namespace
}  // namespace pdc
