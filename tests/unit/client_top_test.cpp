// pdcctl top's rows, order and table: pure functions over kernel_info samples.
#include <gtest/gtest.h>

#include <vector>

#include "top.hpp"

namespace pdc::ctl {
namespace {

kernel_info kernel(const char* id, std::uint64_t in, std::uint64_t out) {
  kernel_info k;
  k.kernel_id = id;
  k.state = kernel_state::active;
  k.messages_in = in;
  k.messages_out = out;
  k.capacity = 64;
  return k;
}

TEST(Top, RatesComeFromTwoSamplesAndAreAbsentOnTheFirst) {
  const std::vector<kernel_info> before{kernel("a", 100, 50)};
  std::vector<kernel_info> now{kernel("a", 300, 150), kernel("new", 7, 7)};
  now[0].dropped = 2;
  now[0].rejected = 3;
  now[0].queue_wait.count = 1;
  now[0].queue_wait.p99_ns = 1500;

  const auto rows = top_rows(before, now, 500'000'000);  // half a second

  ASSERT_EQ(rows.size(), 2U);
  ASSERT_TRUE(rows[0].in_per_s.has_value());
  EXPECT_DOUBLE_EQ(*rows[0].in_per_s, 400.0);
  EXPECT_DOUBLE_EQ(*rows[0].out_per_s, 200.0);
  EXPECT_EQ(rows[0].drops, 5U);
  EXPECT_EQ(rows[0].wait_p99_ns, 1500U);
  EXPECT_EQ(rows[0].proc_p99_ns, 0U);  // no sample
  EXPECT_FALSE(rows[1].in_per_s.has_value());
}

TEST(Top, AKernelWhoseCountersWentBackHasNoRate) {
  const std::vector<kernel_info> before{kernel("a", 100, 100)};
  const std::vector<kernel_info> now{kernel("a", 5, 5)};  // relaunched under the same id

  EXPECT_FALSE(top_rows(before, now, 1'000'000'000)[0].in_per_s.has_value());
}

TEST(Top, NumbersSortLargestFirstNamesAToZAndReverseTurnsThemAround) {
  const std::vector<kernel_info> before{kernel("a", 0, 0), kernel("b", 0, 0), kernel("c", 0, 0)};
  const std::vector<kernel_info> now{kernel("a", 10, 0), kernel("b", 30, 0), kernel("c", 20, 0)};
  auto rows = top_rows(before, now, 1'000'000'000);

  sort_top_rows(rows, top_column::in, false);
  EXPECT_EQ(rows[0].kernel_id, "b");
  EXPECT_EQ(rows[1].kernel_id, "c");
  EXPECT_EQ(rows[2].kernel_id, "a");
  sort_top_rows(rows, top_column::in, true);
  EXPECT_EQ(rows[0].kernel_id, "a");
  sort_top_rows(rows, top_column::kernel, false);
  EXPECT_EQ(rows[0].kernel_id, "a");
  EXPECT_EQ(rows[2].kernel_id, "c");
}

TEST(Top, TheTableMarksTheSortColumnAndShowsDashesForWhatIsUnknown) {
  const std::vector<kernel_info> now{kernel("solo", 1, 1)};
  const auto rows = top_rows({}, now, 0);

  const auto text = render_top(rows, top_column::queue);

  EXPECT_NE(text.find("QUEUE*"), std::string::npos) << text;
  EXPECT_EQ(text.find("IN/S*"), std::string::npos) << text;
  EXPECT_NE(text.find("solo"), std::string::npos) << text;
  EXPECT_NE(text.find("0/64"), std::string::npos) << text;
  EXPECT_NE(text.find(" -"), std::string::npos) << text;
}

TEST(Top, ColumnNamesRoundTrip) {
  for (const auto c : k_top_columns) EXPECT_EQ(parse_top_column(name_of(c)), c);
  EXPECT_FALSE(parse_top_column("nonsense").has_value());
}

}  // namespace
}  // namespace pdc::ctl
