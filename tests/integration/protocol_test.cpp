// Bad input on the control socket: every malformed, truncated or oversize
// frame gets an error response, and the connection and daemon survive.
#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>
#include <poll.h>

#include <vector>

#include "harness.hpp"
#include "pdc/core/errc.hpp"
#include "pdc/proto/control.hpp"
#include "pdc/proto/envelope.hpp"

namespace pdc::test {
namespace {

class ProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(daemon_.ready()) << daemon_.log();
    fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", daemon_.socket().c_str());
    ASSERT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  void TearDown() override { ::close(fd_); }

  void send_raw(const void* data, std::size_t n) {
    ASSERT_EQ(::send(fd_, data, n, MSG_NOSIGNAL), static_cast<ssize_t>(n)) << std::strerror(errno);
  }

  void send_request(flatbuffers::FlatBufferBuilder& b) { send_raw(b.GetBufferPointer(), b.GetSize()); }

  // Next Response frame (skips deliveries); code and message out.
  bool next_response(std::uint64_t& id, int& code, std::string& message) {
    std::vector<std::uint8_t> buf(1 << 20);
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20000) != 1) return false;
      const auto n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n <= 0) return false;
      flatbuffers::Verifier v(buf.data(), static_cast<std::size_t>(n));
      if (!v.VerifyBuffer<wire::ServerFrame>(nullptr)) return false;
      const auto* frame = flatbuffers::GetRoot<wire::ServerFrame>(buf.data());
      if (frame->body_type() != wire::ServerBody::Response) continue;
      const auto* r = frame->body_as_Response();
      id = r->id();
      code = r->code();
      message = r->message() != nullptr ? r->message()->str() : "";
      return true;
    }
  }

  // A valid List request answers ok: the connection still works.
  void expect_connection_alive() {
    flatbuffers::FlatBufferBuilder b;
    b.Finish(wire::CreateRequest(b, 77, wire::RequestBody::List, wire::CreateList(b).Union()));
    send_request(b);
    std::uint64_t id = 0;
    int code = -1;
    std::string msg;
    ASSERT_TRUE(next_response(id, code, msg));
    EXPECT_EQ(id, 77U);
    EXPECT_EQ(code, 0) << msg;
  }

  daemon_process daemon_{{"--load", "pdc_echo.so", "--max-message", "4096"}};
  int fd_ = -1;
};

TEST_F(ProtocolTest, GarbageFrameIsRefusedAndTheConnectionSurvives) {
  const char garbage[] = "this is not a flatbuffer at all, just bytes";
  send_raw(garbage, sizeof garbage);
  std::uint64_t id = 1;
  int code = 0;
  std::string msg;
  ASSERT_TRUE(next_response(id, code, msg));
  EXPECT_EQ(code, static_cast<int>(errc::protocol_error));
  EXPECT_NE(msg.find("malformed"), std::string::npos) << msg;
  expect_connection_alive();
}

TEST_F(ProtocolTest, TruncatedFrameIsRefused) {
  flatbuffers::FlatBufferBuilder b;
  b.Finish(wire::CreateRequest(b, 5, wire::RequestBody::Activate,
                               wire::CreateActivate(b, b.CreateString("some-kernel")).Union()));
  send_raw(b.GetBufferPointer(), b.GetSize() / 2);
  std::uint64_t id = 1;
  int code = 0;
  std::string msg;
  ASSERT_TRUE(next_response(id, code, msg));
  EXPECT_EQ(code, static_cast<int>(errc::protocol_error));
  expect_connection_alive();
}

TEST_F(ProtocolTest, EmptyFrameIsRefused) {
  send_raw("", 0);
  std::uint64_t id = 1;
  int code = 0;
  std::string msg;
  ASSERT_TRUE(next_response(id, code, msg));
  EXPECT_EQ(code, static_cast<int>(errc::protocol_error));
  expect_connection_alive();
}

TEST_F(ProtocolTest, OversizeFrameIsRefusedNotTruncated) {
  std::vector<std::uint8_t> huge(64 * 1024, 0xAB);
  send_raw(huge.data(), huge.size());
  std::uint64_t id = 1;
  int code = 0;
  std::string msg;
  ASSERT_TRUE(next_response(id, code, msg));
  EXPECT_EQ(code, static_cast<int>(errc::message_too_large)) << msg;
  expect_connection_alive();
}

TEST_F(ProtocolTest, SendWithLyingEnvelopeIsRefused) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<std::uint8_t> msg(sizeof(envelope) + 10);
  const auto env = make_envelope(1, 999, 0);  // claims 999 payload bytes, carries 10
  std::memcpy(msg.data(), &env, sizeof env);
  b.Finish(wire::CreateRequest(b, 9, wire::RequestBody::Send,
                               wire::CreateSend(b, b.CreateString("nobody"), b.CreateVector(msg)).Union()));
  send_request(b);
  std::uint64_t id = 0;
  int code = 0;
  std::string text;
  ASSERT_TRUE(next_response(id, code, text));
  EXPECT_EQ(id, 9U);
  EXPECT_EQ(code, static_cast<int>(errc::not_found)) << "unknown kernel is checked first: " << text;
}

TEST_F(ProtocolTest, RequestWithoutBodyIsRefused) {
  flatbuffers::FlatBufferBuilder b;
  b.Finish(wire::CreateRequest(b, 11));
  send_request(b);
  std::uint64_t id = 0;
  int code = 0;
  std::string text;
  ASSERT_TRUE(next_response(id, code, text));
  EXPECT_EQ(id, 11U);
  EXPECT_EQ(code, static_cast<int>(errc::not_supported));
  expect_connection_alive();
}

TEST_F(ProtocolTest, WrongProtocolVersionIsRefused) {
  flatbuffers::FlatBufferBuilder b;
  b.Finish(
      wire::CreateRequest(b, 3, wire::RequestBody::Hello, wire::CreateHello(b, b.CreateString("future"), 99).Union()));
  send_request(b);
  std::uint64_t id = 0;
  int code = 0;
  std::string text;
  ASSERT_TRUE(next_response(id, code, text));
  EXPECT_EQ(code, static_cast<int>(errc::version_mismatch));
  EXPECT_NE(text.find("99"), std::string::npos);
}

TEST_F(ProtocolTest, EnvelopeLengthMismatchIsRefused) {
  flatbuffers::FlatBufferBuilder lb;
  lb.Finish(wire::CreateRequest(lb, 1, wire::RequestBody::Launch,
                                wire::CreateLaunch(lb, lb.CreateString("echo"), lb.CreateString("e")).Union()));
  send_request(lb);
  std::uint64_t id = 0;
  int code = -1;
  std::string text;
  ASSERT_TRUE(next_response(id, code, text));
  ASSERT_EQ(code, 0) << text;

  flatbuffers::FlatBufferBuilder b;
  std::vector<std::uint8_t> msg(sizeof(envelope) + 10);
  const auto env = make_envelope(1, 999, 0);
  std::memcpy(msg.data(), &env, sizeof env);
  b.Finish(wire::CreateRequest(b, 2, wire::RequestBody::Send,
                               wire::CreateSend(b, b.CreateString("e"), b.CreateVector(msg)).Union()));
  send_request(b);
  ASSERT_TRUE(next_response(id, code, text));
  EXPECT_EQ(code, static_cast<int>(errc::protocol_error)) << text;
  expect_connection_alive();
}

}  // namespace
}  // namespace pdc::test
