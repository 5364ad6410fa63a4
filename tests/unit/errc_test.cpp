#include <gtest/gtest.h>

#include <set>
#include <string>

#include "pdc/core/errc.hpp"
#include "pdc/core/result.hpp"

namespace pdc {
namespace {

TEST(Errc, EveryCodeHasADistinctNameAndText) {
  std::set<std::string> names;
  std::set<std::string> texts;
  for (std::int32_t v = 0; v <= static_cast<std::int32_t>(errc::limit_reached); ++v) {
    const errc e = errc_from_int(v);
    ASSERT_EQ(static_cast<std::int32_t>(e), v) << "gap in errc at " << v;
    names.emplace(name_of(e));
    texts.emplace(to_string(e));
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(errc::limit_reached) + 1);
  EXPECT_EQ(texts.size(), names.size());
}

TEST(Errc, UnknownValueMapsToInternal) {
  EXPECT_EQ(errc_from_int(9999), errc::internal);
  EXPECT_EQ(errc_from_int(-1), errc::internal);
}

TEST(Result, CarriesValueOrError) {
  result<int> good = 42;
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 42);
  EXPECT_EQ(good.code(), errc::ok);

  result<int> bad = make_error(errc::not_found, "kernel 'x' not found");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.code(), errc::not_found);
  EXPECT_EQ(bad.err().what(), "kernel 'x' not found");

  result<void> v = errc::timeout;
  EXPECT_FALSE(v);
  EXPECT_EQ(v.err().what(), "timed out");
  EXPECT_TRUE(ok());
}

}  // namespace
}  // namespace pdc
