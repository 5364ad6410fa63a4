// pdcctl's byte formatting: hex, printable detection, int64 payloads, durations.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "format.hpp"

namespace pdc::ctl {
namespace {

std::vector<std::byte> bytes(std::initializer_list<unsigned> values) {
  std::vector<std::byte> out;
  for (const unsigned v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

TEST(ClientFormat, ParsesHexWithPrefixAndSeparators) {
  const auto sut = parse_hex("0x0a:1B 2c-ff");

  ASSERT_TRUE(sut.has_value());
  EXPECT_EQ(*sut, bytes({0x0a, 0x1b, 0x2c, 0xff}));
}

TEST(ClientFormat, ParsesEmptyHexAsEmptyPayload) {
  const auto sut = parse_hex("");

  ASSERT_TRUE(sut.has_value());
  EXPECT_TRUE(sut->empty());
}

TEST(ClientFormat, RejectsHexWithBadDigitNamingItsPosition) {
  const auto sut = parse_hex("00zz");

  ASSERT_FALSE(sut.has_value());
  EXPECT_EQ(sut.code(), errc::invalid_argument);
  EXPECT_EQ(sut.err().message, "invalid hex: unexpected 'z' at position 2");
}

TEST(ClientFormat, RejectsOddNumberOfHexDigits) {
  EXPECT_EQ(parse_hex("abc").code(), errc::invalid_argument);
  EXPECT_EQ(parse_hex("a b").code(), errc::invalid_argument);  // separators only between bytes
}

TEST(ClientFormat, HexRoundTrips) {
  const auto original = bytes({0x00, 0x7f, 0x80, 0xff});

  const auto sut = to_hex(original);

  EXPECT_EQ(sut, "007f80ff");
  EXPECT_EQ(*parse_hex(sut), original);
}

TEST(ClientFormat, DetectsPrintableText) {
  EXPECT_TRUE(is_printable_text(bytes_of("hello, world\n\ttabbed\r\n")));
  EXPECT_TRUE(is_printable_text(bytes_of("gr\xc3\xbc\xc3\x9f dich \xe2\x82\xac \xf0\x9f\x98\x80")));
  EXPECT_TRUE(is_printable_text({}));
}

TEST(ClientFormat, DetectsBinaryAsNotPrintable) {
  EXPECT_FALSE(is_printable_text(bytes({'a', 0x00, 'b'})));
  EXPECT_FALSE(is_printable_text(bytes({0x1b, '[', '3', '1', 'm'})));  // escape sequence
  EXPECT_FALSE(is_printable_text(bytes({0x7f})));
  EXPECT_FALSE(is_printable_text(bytes({0xc3})));              // truncated sequence
  EXPECT_FALSE(is_printable_text(bytes({0xc0, 0xaf})));        // overlong '/'
  EXPECT_FALSE(is_printable_text(bytes({0xed, 0xa0, 0x80})));  // surrogate
  EXPECT_FALSE(is_printable_text(bytes({0xff, 0xfe})));
}

TEST(ClientFormat, Int64IsLittleEndianAndRoundTrips) {
  const auto sut = encode_int64(0x0102030405060708);

  EXPECT_EQ(sut, bytes({0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01}));
  EXPECT_EQ(decode_int64(sut), 0x0102030405060708);
  EXPECT_EQ(decode_int64(encode_int64(-42)), -42);
  EXPECT_EQ(decode_int64(encode_int64(std::numeric_limits<std::int64_t>::min())),
            std::numeric_limits<std::int64_t>::min());
}

TEST(ClientFormat, DecodesInt64OnlyFromExactlyEightBytes) {
  EXPECT_FALSE(decode_int64(bytes({1, 2, 3})).has_value());
  EXPECT_FALSE(decode_int64(std::vector<std::byte>(9)).has_value());
}

TEST(ClientFormat, DurationsUseThreeSignificantDigits) {
  EXPECT_EQ(format_duration_ns(0), "0ns");
  EXPECT_EQ(format_duration_ns(850), "850ns");
  EXPECT_EQ(format_duration_ns(1'000), "1.00us");
  EXPECT_EQ(format_duration_ns(12'345), "12.3us");
  EXPECT_EQ(format_duration_ns(4'560'000), "4.56ms");
  EXPECT_EQ(format_duration_ns(123'400'000), "123ms");
  EXPECT_EQ(format_duration_ns(1'200'000'000), "1.20s");
  EXPECT_EQ(format_duration_ns(3'600'000'000'000), "3600s");
}

}  // namespace
}  // namespace pdc::ctl
