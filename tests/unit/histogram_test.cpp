#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "pdc/core/histogram.hpp"

namespace pdc {
namespace {

TEST(Histogram, EmptyReportsZero) {
  histogram sut;
  EXPECT_EQ(sut.count(), 0U);
  EXPECT_EQ(sut.p50(), 0U);
  EXPECT_EQ(sut.max(), 0U);
  EXPECT_EQ(sut.mean(), 0.0);
}

TEST(Histogram, SmallValuesAreExact) {
  histogram sut;
  for (std::uint64_t v = 1; v <= 20; ++v) sut.record(v);
  EXPECT_EQ(sut.p50(), 10U);
  EXPECT_EQ(sut.quantile(1.0), 20U);
  EXPECT_EQ(sut.min(), 1U);
  EXPECT_DOUBLE_EQ(sut.mean(), 10.5);
}

TEST(Histogram, BucketsAreContiguousAndMonotonic) {
  for (std::size_t i = 1; i < histogram::k_bucket_count; ++i) {
    ASSERT_LT(histogram::bucket_lower(i - 1), histogram::bucket_lower(i));
    ASSERT_EQ(histogram::bucket_of(histogram::bucket_lower(i)), i);
    ASSERT_EQ(histogram::bucket_of(histogram::bucket_lower(i) - 1), i - 1);
  }
}

TEST(Histogram, QuantilesWithinThreePercentOfExact) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(8.0, 1.5);
  std::vector<std::uint64_t> values;
  histogram sut;
  for (int i = 0; i < 100000; ++i) {
    const auto v = static_cast<std::uint64_t>(dist(rng)) + 1;
    values.push_back(v);
    sut.record(v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const auto exact =
        static_cast<double>(values[static_cast<std::size_t>(q * static_cast<double>(values.size())) - 1]);
    const auto got = static_cast<double>(sut.quantile(q));
    EXPECT_NEAR(got, exact, exact * 0.03 + 1) << "q=" << q;
  }
  EXPECT_EQ(sut.max(), values.back());
}

TEST(Histogram, MergeEqualsRecordingEverything) {
  histogram a;
  histogram b;
  histogram all;
  for (std::uint64_t v = 1; v < 5000; v += 3) {
    (v % 2 != 0 ? a : b).record(v * 17);
    all.record(v * 17);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.p99(), all.p99());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
}

TEST(Histogram, HugeValuesAreClampedNotLost) {
  histogram sut;
  sut.record(UINT64_MAX / 2);
  EXPECT_EQ(sut.count(), 1U);
  EXPECT_EQ(histogram::bucket_of(UINT64_MAX), histogram::k_bucket_count - 1);
}

}  // namespace
}  // namespace pdc
