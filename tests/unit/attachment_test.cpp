// The attachment as a core object: one segment (request ring, reply ring,
// control line) and the daemon's and the client's views of it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstring>

#include "pdc/core/attachment.hpp"

namespace pdc {
namespace {

attachment_daemon_view make_sut() {
  auto v = attachment_daemon_view::create("pdc-attachment-test", {1 << 16, 1 << 16, 1024}, 42);
  EXPECT_TRUE(v) << (v ? "" : v.err().what());
  return std::move(v).value();
}

attachment_client_view client_of(const attachment_daemon_view& d) {
  auto c = attachment_client_view::open(::dup(d.seg().fd()));
  EXPECT_TRUE(c) << (c ? "" : c.err().what());
  return std::move(c).value();
}

TEST(Attachment, RequestsFlowFromClientToDaemonAndRepliesBack) {
  auto sut = make_sut();
  auto client = client_of(sut);
  const std::array<std::byte, 3> msg{std::byte{1}, std::byte{2}, std::byte{3}};

  ASSERT_EQ(client.requests().try_push(msg), errc::ok);
  const auto got = sut.requests().try_peek();
  ASSERT_TRUE(got);
  EXPECT_EQ(std::memcmp(got.bytes.data(), msg.data(), msg.size()), 0);
  sut.requests().release();
  sut.requests().flush_release();
  ASSERT_EQ(sut.replies().try_push(msg), errc::ok);
  EXPECT_TRUE(client.replies().try_peek());
  EXPECT_EQ(client.max_record_bytes(), 1024U);
}

TEST(Attachment, TheDaemonReadsWhatTheClientCounts) {
  auto sut = make_sut();
  auto client = client_of(sut);

  client.count_rejected();
  client.count_rejected();
  client.count_dropped();

  EXPECT_EQ(sut.client_rejected(), 2U);
  EXPECT_EQ(sut.client_dropped(), 1U);
}

TEST(Attachment, EachShedAskIsTakenOnce) {
  auto sut = make_sut();
  auto client = client_of(sut);
  EXPECT_FALSE(sut.shed_pending());

  client.request_shed();
  client.request_shed();

  EXPECT_TRUE(sut.shed_pending());
  EXPECT_EQ(sut.take_shed_requests(), 2U);
  EXPECT_FALSE(sut.shed_pending());
  EXPECT_EQ(sut.take_shed_requests(), 0U);
}

TEST(Attachment, AShedCountMovedBackOrFarAheadAsksForNothing) {
  auto sut = make_sut();
  auto* ctl = reinterpret_cast<attachment_control*>(sut.seg().aux().data());

  ctl->shed_requests.store(UINT64_MAX, std::memory_order_relaxed);  // "back" by one
  EXPECT_EQ(sut.take_shed_requests(), 0U);
  EXPECT_FALSE(sut.shed_pending());
  ctl->shed_requests.store(UINT64_MAX - (1ULL << 40), std::memory_order_relaxed);
  EXPECT_EQ(sut.take_shed_requests(), 0U);
}

TEST(Attachment, ASegmentWithoutAControlLineIsRefusedByTheClient) {
  const std::array<ring_spec, 2> rings{ring_spec{1 << 16, 1024}, ring_spec{1 << 16, 1024}};
  auto plain = segment::create("pdc-plain", rings, 1);
  ASSERT_TRUE(plain);

  auto sut = attachment_client_view::open(::dup(plain->fd()));

  ASSERT_FALSE(sut);
  EXPECT_EQ(sut.code(), errc::corrupt_segment);
  EXPECT_EQ(sut.err().message, "the attachment segment has no control line");
}

TEST(Attachment, ASegmentWithOneRingIsRefused) {
  const std::array<ring_spec, 1> rings{ring_spec{1 << 16, 1024}};
  auto one = segment::create("pdc-one", rings, 1, sizeof(attachment_control));
  ASSERT_TRUE(one);

  auto sut = attachment_client_view::open(::dup(one->fd()));

  ASSERT_FALSE(sut);
  EXPECT_EQ(sut.err().message, "an attachment segment has 2 rings; this one has 1");
}

TEST(Attachment, ClosingTellsTheOtherSideWhy) {
  auto sut = make_sut();
  auto client = client_of(sut);

  sut.close(10);

  EXPECT_EQ(client.replies().producer_close_reason(), 10U);
  EXPECT_EQ(client.requests().consumer_close_reason(), 10U);
}

TEST(Attachment, AdoptingASegmentWithImpossibleIndicesIsRefused) {
  auto sut = make_sut();
  auto client = client_of(sut);
  auto* ctl = client.seg().control(k_attachment_request_ring);
  ctl->read_pos.store(3, std::memory_order_relaxed);  // off the record alignment, as a hostile client may leave it
  auto seg = segment::open(::dup(sut.seg().fd()));
  ASSERT_TRUE(seg);

  auto adopted = attachment_daemon_view::adopt(std::move(seg).value());

  ASSERT_FALSE(adopted);
  EXPECT_EQ(adopted.code(), errc::corrupt_segment);
  EXPECT_NE(adopted.err().what().find("ring indices that cannot be right (write 0, read 3)"), std::string::npos);
}

}  // namespace
}  // namespace pdc
