#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

#include "pdc/proto/envelope.hpp"

namespace pdc {
namespace {

TEST(Envelope, LayoutIsFixed) {
  // docs/protocol.md documents these offsets for other languages.
  const envelope e = make_envelope(1, 0, 0);
  const auto* base = reinterpret_cast<const std::byte*>(&e);
  EXPECT_EQ(reinterpret_cast<const std::byte*>(&e) + 0, base);
  std::vector<std::byte> bytes(sizeof(envelope));
  const envelope sample =
      make_envelope(0x0102030405060708ULL, 0x11223344U, 0x99ULL, 0xAAULL, 0xBBULL, 0x55667788U, 0x0102, 200);
  std::memcpy(bytes.data(), &sample, sizeof sample);
  std::uint64_t u64 = 0;
  std::memcpy(&u64, bytes.data() + 0, 8);
  EXPECT_EQ(u64, 0x0102030405060708ULL);  // message_id
  std::memcpy(&u64, bytes.data() + 8, 8);
  EXPECT_EQ(u64, 0xAAULL);  // correlation_id
  std::memcpy(&u64, bytes.data() + 16, 8);
  EXPECT_EQ(u64, 0xBBULL);  // reply_to
  std::memcpy(&u64, bytes.data() + 24, 8);
  EXPECT_EQ(u64, 0x99ULL);  // send_timestamp_ns
  std::uint32_t u32 = 0;
  std::memcpy(&u32, bytes.data() + 32, 4);
  EXPECT_EQ(u32, 0x11223344U);  // payload_length
  std::memcpy(&u32, bytes.data() + 36, 4);
  EXPECT_EQ(u32, 0x55667788U);  // type_id
  std::uint16_t u16 = 0;
  std::memcpy(&u16, bytes.data() + 40, 2);
  EXPECT_EQ(u16, 0x0102);                // flags
  EXPECT_EQ(bytes[42], std::byte{200});  // priority
}

TEST(Envelope, ReadRefusesShortOrMismatchedLength) {
  std::vector<std::byte> bytes(sizeof(envelope) + 5);
  const envelope e = make_envelope(7, 5, 0);
  std::memcpy(bytes.data(), &e, sizeof e);
  envelope out;
  EXPECT_TRUE(read_envelope(bytes, out));
  EXPECT_EQ(out.message_id(), 7U);
  EXPECT_EQ(payload_of(bytes).size(), 5U);
  EXPECT_FALSE(read_envelope(std::span(bytes).first(sizeof(envelope) + 4), out));
  EXPECT_FALSE(read_envelope(std::span(bytes).first(10), out));
}

TEST(Envelope, DefaultPriorityIsSeeds) {
  EXPECT_EQ(make_envelope(1, 0, 0).priority(), 128);
}

}  // namespace
}  // namespace pdc
