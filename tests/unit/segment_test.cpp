#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstring>

#include "pdc/core/segment.hpp"

namespace pdc {
namespace {

constexpr std::array<ring_spec, 2> k_two_rings{ring_spec{4096, 1024}, ring_spec{8192, 2048}};

segment make_segment() {
  auto seg = segment::create("pdc-test", k_two_rings);
  EXPECT_TRUE(seg) << (seg ? "" : seg.err().what());
  return std::move(seg).value();
}

// Maps the segment's fd a second time so a test can scribble on the header.
template <typename F>
void scribble(const segment& seg, F&& f) {
  void* p = ::mmap(nullptr, seg.size_bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, seg.fd(), 0);
  ASSERT_NE(p, MAP_FAILED);
  f(*static_cast<segment_header*>(p));
  ::munmap(p, seg.size_bytes());
}

TEST(Segment, OpenFromFdSeesTheCreatorsRings) {
  auto sut = make_segment();
  auto opened = segment::open(::dup(sut.fd()));
  ASSERT_TRUE(opened) << opened.err().what();
  ASSERT_EQ(opened->ring_count(), 2U);
  EXPECT_EQ(opened->ring(1).capacity_bytes, 8192U);
  EXPECT_EQ(opened->ring(1).max_record_bytes, 2048U);

  auto producer = sut.producer(1);
  const std::array<std::byte, 3> msg{std::byte{1}, std::byte{2}, std::byte{3}};
  ASSERT_EQ(producer.try_push(msg), errc::ok);
  auto consumer = opened->consumer(1);
  auto slot = consumer.try_peek();
  ASSERT_TRUE(slot);
  EXPECT_EQ(std::memcmp(slot.bytes.data(), msg.data(), 3), 0);
}

TEST(Segment, AnAuxAreaSitsBeforeTheRingsZeroFilled) {
  auto sut = segment::create("pdc-aux", k_two_rings, 0, 200);
  ASSERT_TRUE(sut) << sut.err().what();
  ASSERT_EQ(sut->aux().size(), 200U);
  for (const auto b : sut->aux()) ASSERT_EQ(b, std::byte{0});
  EXPECT_LE(reinterpret_cast<std::uintptr_t>(sut->aux().data() + 200),
            reinterpret_cast<std::uintptr_t>(sut->control(0)));

  auto opened = segment::open(::dup(sut->fd()));
  ASSERT_TRUE(opened) << opened.err().what();
  EXPECT_EQ(opened->aux().size(), 200U);
}

TEST(Segment, AnAuxAreaOverlappingARingIsRefused) {
  auto sut = segment::create("pdc-aux", k_two_rings, 0, 200);
  ASSERT_TRUE(sut);
  scribble(*sut, [](segment_header& h) { h.aux_bytes = 4096; });

  auto opened = segment::open(::dup(sut->fd()));

  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.code(), errc::corrupt_segment);
}

TEST(Segment, SealsRefuseResize) {
  auto sut = make_segment();
  EXPECT_NE(::ftruncate(sut.fd(), static_cast<off_t>(sut.size_bytes() * 2)), 0);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(::ftruncate(sut.fd(), 16), 0);
  EXPECT_NE(::fcntl(sut.fd(), F_ADD_SEALS, F_SEAL_WRITE), 0);  // sealing itself is sealed
}

TEST(Segment, RefusesUnsealedFd) {
  auto sut = make_segment();
  const int fd = ::memfd_create("unsealed", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(sut.size_bytes())), 0);
  auto opened = segment::open(fd);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.code(), errc::corrupt_segment);
  EXPECT_NE(opened.err().what().find("sealed"), std::string::npos);
}

TEST(Segment, RefusesTruncatedSegment) {
  const int fd = ::memfd_create("tiny", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 100), 0);
  ASSERT_EQ(::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
  auto opened = segment::open(fd);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.code(), errc::corrupt_segment);
}

TEST(Segment, RefusesForeignMagic) {
  auto sut = make_segment();
  scribble(sut, [](segment_header& h) { h.magic = 0x1234; });
  auto opened = segment::open(::dup(sut.fd()));
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.code(), errc::corrupt_segment);
  EXPECT_NE(opened.err().what().find("magic"), std::string::npos);
}

TEST(Segment, RefusesWrongLayoutVersion) {
  auto sut = make_segment();
  scribble(sut, [](segment_header& h) { h.layout_version.store(99); });
  auto opened = segment::open(::dup(sut.fd()));
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.code(), errc::version_mismatch);
  EXPECT_NE(opened.err().what().find("99"), std::string::npos);
}

TEST(Segment, RefusesHalfBuiltSegment) {
  auto sut = make_segment();
  scribble(sut, [](segment_header& h) { h.layout_version.store(0); });  // creator not done
  EXPECT_EQ(segment::open(::dup(sut.fd())).code(), errc::version_mismatch);
}

TEST(Segment, RefusesRingOutsideTheSegment) {
  auto sut = make_segment();
  scribble(sut, [](segment_header& h) { h.rings[1].offset = 1 << 30; });
  EXPECT_EQ(segment::open(::dup(sut.fd())).code(), errc::corrupt_segment);
}

TEST(Segment, RefusesRingWithBadGeometry) {
  auto sut = make_segment();
  scribble(sut, [](segment_header& h) { h.rings[0].capacity_bytes = 3000; });
  EXPECT_EQ(segment::open(::dup(sut.fd())).code(), errc::corrupt_segment);
}

TEST(Segment, RefusesSizeMismatch) {
  auto sut = make_segment();
  scribble(sut, [](segment_header& h) { h.segment_bytes += 4096; });
  EXPECT_EQ(segment::open(::dup(sut.fd())).code(), errc::corrupt_segment);
}

TEST(Segment, CreateRefusesInvalidSpecs) {
  const std::array<ring_spec, 1> not_pow2{ring_spec{3000, 100}};
  EXPECT_EQ(segment::create("x", not_pow2).code(), errc::invalid_argument);
  const std::array<ring_spec, 1> record_too_big{ring_spec{4096, 2048}};
  EXPECT_EQ(segment::create("x", record_too_big).code(), errc::invalid_argument);
  EXPECT_EQ(segment::create("x", std::span<const ring_spec>{}).code(), errc::invalid_argument);
}

}  // namespace
}  // namespace pdc
