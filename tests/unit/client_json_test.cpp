// libpdc's JSON writer: escaping, structure, numbers, and kernel_info's JSON form.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "json_render.hpp"
#include "json_writer.hpp"

namespace pdc::detail {
namespace {

std::string as_json_string(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

TEST(ClientJson, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(as_json_string("say \"hi\"\\"), R"("say \"hi\"\\")");
  EXPECT_EQ(as_json_string("a\nb\tc\rd\be\ff"), R"("a\nb\tc\rd\be\ff")");
  EXPECT_EQ(as_json_string(std::string("\x01\x1f\x7f", 3)), R"("\u0001\u001f\u007f")");
  EXPECT_EQ(as_json_string(std::string("nul\0byte", 8)), R"("nul\u0000byte")");
}

TEST(ClientJson, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(as_json_string("\xe2\x82\xac \xf0\x9f\x98\x80"), "\"\xe2\x82\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(as_json_string("bad\xff"), R"("bad\ufffd")");
  EXPECT_EQ(as_json_string("cut\xe2\x82"), R"("cut\ufffd\ufffd")");
}

TEST(ClientJson, WritesCompactNestedDocuments) {
  json_writer sut;

  sut.begin_object()
      .field("name", "k")
      .field("n", std::uint64_t{18446744073709551615ULL})
      .field("neg", std::int64_t{-5})
      .field("ok", true);
  sut.key("list").begin_array().number(std::uint64_t{1}).string("two").null().end_array();
  sut.key("empty").begin_object().end_object();
  sut.key("none").begin_array().end_array();
  sut.end_object();

  EXPECT_EQ(sut.str(),
            R"({"name":"k","n":18446744073709551615,"neg":-5,"ok":true,"list":[1,"two",null],"empty":{},"none":[]})");
}

TEST(ClientJson, IndentsWhenAsked) {
  json_writer sut(2);

  sut.begin_object().field("a", 1).key("b").begin_array().number(std::int64_t{2}).end_array().end_object();

  EXPECT_EQ(sut.str(), "{\n  \"a\": 1,\n  \"b\": [\n    2\n  ]\n}");
}

TEST(ClientJson, WritesNonFiniteDoublesAsNull) {
  json_writer sut;

  sut.begin_array()
      .number(1.5)
      .number(std::numeric_limits<double>::quiet_NaN())
      .number(std::numeric_limits<double>::infinity())
      .end_array();

  EXPECT_EQ(sut.str(), "[1.5,null,null]");
}

TEST(ClientJson, KernelInfoUsesEnumNamesAndNestedLatency) {
  kernel_info k;
  k.kernel_id = "proc\"1";
  k.state = kernel_state::deactivated;
  k.tier = kernel_tier::threaded;
  k.backpressure = backpressure_policy::drop_newest;
  k.queue_wait.p99_ns = 1234;
  json_writer sut;

  write_json(sut, k);

  const auto& json = sut.str();
  EXPECT_NE(json.find(R"("kernel_id":"proc\"1")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("state":"deactivated")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("tier":"threaded")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("backpressure":"drop_newest")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("queue_wait":{"count":0,"p50_ns":0,"p95_ns":0,"p99_ns":1234)"), std::string::npos) << json;
}

}  // namespace
}  // namespace pdc::detail
