// The C ABI (pdc/pdc.h) against a scripted daemon.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "client_fake_daemon.hpp"
#include "pdc/pdc.h"

namespace pdc {
namespace {

using test::as_payload;
using test::fake_daemon;
using test::script_thread;

constexpr std::int64_t k_test_timeout_ns = 5'000'000'000;

// Owns a pdc_client handle.
struct handle {
  pdc_client* get = nullptr;
  ~handle() { pdc_close(get); }
};

TEST(ClientCApi, StrerrorDescribesNegativeAndUnknownCodes) {
  EXPECT_STREQ(pdc_strerror(PDC_E_TIMEOUT), "timed out");
  EXPECT_STREQ(pdc_strerror(PDC_OK), "success");
  EXPECT_STREQ(pdc_strerror(-9999), "unknown error code");
}

TEST(ClientCApi, ConnectToMissingSocketFailsWithThreadLocalMessage) {
  pdc_client* sut = reinterpret_cast<pdc_client*>(0x1);

  const int rc = pdc_connect("/nonexistent/pdc-test/pdcd.sock", &sut);

  EXPECT_EQ(rc, PDC_E_PEER_GONE);
  EXPECT_EQ(sut, nullptr);
  EXPECT_NE(std::string(pdc_last_error(nullptr)).find("/nonexistent/pdc-test/pdcd.sock"), std::string::npos);
}

TEST(ClientCApi, NullHandleIsInvalidArgument) {
  EXPECT_EQ(pdc_activate(nullptr, "k"), PDC_E_INVALID_ARGUMENT);
  EXPECT_EQ(pdc_session_id(nullptr), 0U);
  pdc_close(nullptr);  // no crash
}

TEST(ClientCApi, ErrorsCarryTheDaemonsMessage) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    daemon.respond(request->id(), errc::not_found, "no kernel 'k'");
  });
  handle sut;
  ASSERT_EQ(pdc_adopt(daemon.release_client_fd(), &sut.get), PDC_OK);

  EXPECT_EQ(pdc_activate(sut.get, "k"), PDC_E_NOT_FOUND);
  EXPECT_STREQ(pdc_last_error(sut.get), "no kernel 'k'");
}

TEST(ClientCApi, LaunchPassesOptionsAndRefusesUnknownTier) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    const auto* launch = request->body_as_Launch();
    ASSERT_NE(launch, nullptr);
    EXPECT_EQ(launch->kernel_id()->str(), "e1");
    EXPECT_EQ(launch->tier(), wire::Tier::Spin);
    EXPECT_EQ(launch->cpu(), 2);
    daemon.respond(request->id());
  });
  handle sut;
  ASSERT_EQ(pdc_adopt(daemon.release_client_fd(), &sut.get), PDC_OK);
  pdc_launch_options options;
  pdc_launch_options_init(&options);
  options.kernel_type = "echo";
  options.kernel_id = "e1";
  options.tier = PDC_TIER_SPIN;
  options.cpu = 2;

  EXPECT_EQ(pdc_launch(sut.get, &options), PDC_OK);
  options.tier = 42;
  EXPECT_EQ(pdc_launch(sut.get, &options), PDC_E_INVALID_ARGUMENT);
}

TEST(ClientCApi, RequestIntoSmallBufferHoldsTheReplyForReceive) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    daemon.respond(request->id());
    daemon.reply("k", test::envelope_of(*request->body_as_Send()).message_id(), as_payload("a long reply"));
  });
  handle sut;
  ASSERT_EQ(pdc_adopt(daemon.release_client_fd(), &sut.get), PDC_OK);
  char small[4] = {};
  std::size_t size = sizeof small;

  const int rc = pdc_request(sut.get, "k", "hi", 2, nullptr, k_test_timeout_ns, small, &size, nullptr);

  EXPECT_EQ(rc, PDC_E_MESSAGE_TOO_LARGE);
  EXPECT_EQ(size, 12U);
  char big[64] = {};
  size = sizeof big;
  pdc_message_info info{};
  info.struct_size = sizeof info;
  ASSERT_EQ(pdc_receive(sut.get, 0, big, &size, &info), PDC_OK);
  EXPECT_EQ(std::string(big, size), "a long reply");
  EXPECT_EQ(info.correlation_id, 1U);
  EXPECT_EQ(info.flags & PDC_MESSAGE_FLAG_REPLY, PDC_MESSAGE_FLAG_REPLY);
  EXPECT_STREQ(info.kernel_id, "k");
}

TEST(ClientCApi, SendReturnsMessageIdAndReceiveTimesOut) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello(16);
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    EXPECT_EQ(test::envelope_of(*request->body_as_Send()).type_id(), 5U);
    daemon.respond(request->id());
  });
  handle sut;
  ASSERT_EQ(pdc_adopt(daemon.release_client_fd(), &sut.get), PDC_OK);
  pdc_send_options options;
  pdc_send_options_init(&options);
  options.type_id = 5;
  std::uint64_t message_id = 0;
  char buf[8];
  std::size_t size = sizeof buf;

  EXPECT_EQ(pdc_send(sut.get, "k", "x", 1, &options, &message_id), PDC_OK);
  EXPECT_EQ(message_id, 1U);
  EXPECT_EQ(pdc_send(sut.get, "k", std::string(17, 'x').c_str(), 17, nullptr, nullptr), PDC_E_MESSAGE_TOO_LARGE);
  EXPECT_EQ(pdc_receive(sut.get, 1'000'000, buf, &size, nullptr), PDC_E_TIMEOUT);
}

TEST(ClientCApi, StatusJsonReportsNeededSize) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    for (int i = 0; i < 2; ++i) {
      const auto* request = daemon.next_request();
      ASSERT_NE(request, nullptr);
      flatbuffers::FlatBufferBuilder fbb;
      const auto kernel = wire::CreateKernelInfo(fbb, fbb.CreateString("k"), fbb.CreateString("echo"));
      const auto body = wire::CreateKernelListReply(fbb, fbb.CreateVector(&kernel, 1));
      daemon.respond(request->id(), fbb, wire::ResponseBody::KernelListReply, body.Union());
    }
  });
  handle sut;
  ASSERT_EQ(pdc_adopt(daemon.release_client_fd(), &sut.get), PDC_OK);
  std::size_t size = 0;

  ASSERT_EQ(pdc_status_json(sut.get, "k", nullptr, &size), PDC_E_MESSAGE_TOO_LARGE);
  std::string buf(size, '\0');
  ASSERT_EQ(pdc_status_json(sut.get, "k", buf.data(), &size), PDC_OK);

  const std::string json(buf.c_str());
  EXPECT_EQ(json.size(), size);
  EXPECT_EQ(json.rfind("{\"kernel_id\":\"k\",\"kernel_type\":\"echo\"", 0), 0U) << json;
}

}  // namespace
}  // namespace pdc
