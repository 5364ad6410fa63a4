// pdc::client against a scripted daemon on a socketpair: matching, buffering,
// limits and failure behaviour of the session.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "client_fake_daemon.hpp"
#include "pdc/client.hpp"

namespace pdc {
namespace {

using namespace std::chrono_literals;
using test::as_payload;
using test::as_text;
using test::fake_daemon;
using test::script_thread;

constexpr std::int64_t k_test_timeout_ns = 5'000'000'000;

// Connects a client to `daemon` (whose script must answer Hello first).
client adopt_client(fake_daemon& daemon) {
  auto r = client::adopt(daemon.release_client_fd(), "client-test");
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.err().what());
  auto c = std::move(r).value();
  c.set_call_timeout_ns(k_test_timeout_ns);  // a bug fails the test instead of hanging it
  return c;
}

TEST(ClientSession, HelloGivesSessionInfo) {
  fake_daemon daemon;
  script_thread script([&] { daemon.answer_hello(1024, k_protocol_version, 42); });

  auto sut = adopt_client(daemon);

  EXPECT_EQ(sut.session_id(), 42U);
  EXPECT_EQ(sut.daemon_version(), "fake-pdcd 0.0");
  EXPECT_EQ(sut.max_message_bytes(), 1024U);
  EXPECT_TRUE(sut.connected());
}

TEST(ClientSession, RefusesAnotherProtocolVersion) {
  fake_daemon daemon;
  script_thread script([&] { daemon.answer_hello(k_default_max_message_bytes, k_protocol_version + 1); });

  auto sut = client::adopt(daemon.release_client_fd());

  ASSERT_FALSE(sut.has_value());
  EXPECT_EQ(sut.code(), errc::version_mismatch);
}

TEST(ClientSession, ConnectToMissingSocketNamesThePath) {
  auto sut = client::connect("/nonexistent/pdc-test/pdcd.sock");

  ASSERT_FALSE(sut.has_value());
  EXPECT_EQ(sut.code(), errc::peer_gone);
  EXPECT_EQ(sut.err().message,
            "cannot connect to pdcd at /nonexistent/pdc-test/pdcd.sock: No such file or directory (is pdcd running?)");
}

TEST(ClientSession, MatchesResponseAfterInterleavedDeliveries) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    ASSERT_NE(request->body_as_Activate(), nullptr);
    EXPECT_EQ(request->body_as_Activate()->kernel_id()->str(), "k");
    daemon.emit("k", 1, as_payload("first"));
    daemon.emit("k", 2, as_payload("second"));
    daemon.respond(request->id());
  });
  auto sut = adopt_client(daemon);

  const auto activated = sut.activate("k");

  EXPECT_TRUE(activated.has_value());
  EXPECT_EQ(sut.buffered_deliveries(), 2U);
  auto first = sut.receive(0);
  auto second = sut.receive(0);
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(as_text(first->payload), "first");
  EXPECT_EQ(as_text(second->payload), "second");
  EXPECT_EQ(first->kernel_id, "k");
}

TEST(ClientSession, DaemonErrorKeepsCodeAndMessage) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    daemon.respond(request->id(), errc::illegal_state, "kernel 'k' is TERMINATED: cannot activate");
  });
  auto sut = adopt_client(daemon);

  const auto activated = sut.activate("k");

  ASSERT_FALSE(activated.has_value());
  EXPECT_EQ(activated.code(), errc::illegal_state);
  EXPECT_EQ(activated.err().message, "kernel 'k' is TERMINATED: cannot activate");
  EXPECT_TRUE(sut.connected());
}

TEST(ClientSession, SendStampsEnvelopeWithIncreasingMessageIds) {
  fake_daemon daemon;
  std::vector<envelope> seen;
  std::vector<bool> acks;
  script_thread script([&] {
    daemon.answer_hello();
    for (int i = 0; i < 2; ++i) {
      const auto* request = daemon.next_request();
      ASSERT_NE(request, nullptr);
      const auto* send = request->body_as_Send();
      ASSERT_NE(send, nullptr);
      EXPECT_EQ(send->kernel_id()->str(), "k");
      seen.push_back(test::envelope_of(*send));
      acks.push_back(send->ack());
      daemon.respond(request->id());
    }
  });
  auto sut = adopt_client(daemon);

  const auto first = sut.send("k", as_payload("abc"), send_options{.type_id = 9, .priority = 200, .ack = true});
  const auto second = sut.send("k", as_payload(""));
  script.join();

  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*first, 1U);
  EXPECT_EQ(*second, 2U);
  ASSERT_EQ(seen.size(), 2U);
  EXPECT_EQ(seen[0].message_id(), 1U);
  EXPECT_EQ(seen[0].payload_length(), 3U);
  EXPECT_EQ(seen[0].type_id(), 9U);
  EXPECT_EQ(seen[0].priority(), 200);
  EXPECT_GT(seen[0].send_timestamp_ns(), 0U);
  EXPECT_EQ(seen[1].message_id(), 2U);
  EXPECT_EQ(seen[1].priority(), k_default_priority);
  EXPECT_TRUE(acks[0]);
}

TEST(ClientSession, RequestReturnsItsReplyAndLeavesOtherDeliveriesBuffered) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    const auto message_id = test::envelope_of(*request->body_as_Send()).message_id();
    daemon.respond(request->id());
    daemon.emit("other", 50, as_payload("unrelated"));
    daemon.reply("k", message_id + 100, as_payload("someone else's reply"));
    daemon.reply("k", message_id, as_payload("pong"));
  });
  auto sut = adopt_client(daemon);

  auto reply = sut.request("k", as_payload("ping"), k_test_timeout_ns);

  ASSERT_TRUE(reply.has_value()) << reply.err().what();
  EXPECT_EQ(as_text(reply->payload), "pong");
  EXPECT_TRUE(reply->is_reply());
  EXPECT_EQ(reply->env.correlation_id(), 1U);
  EXPECT_EQ(sut.buffered_deliveries(), 2U);
  auto unrelated = sut.receive(0);
  ASSERT_TRUE(unrelated.has_value());
  EXPECT_EQ(as_text(unrelated->payload), "unrelated");
}

TEST(ClientSession, ReplyMayOvertakeTheSendAcknowledgement) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    const auto id = request->id();
    daemon.reply("k", test::envelope_of(*request->body_as_Send()).message_id(), as_payload("fast"));
    daemon.respond(id);
  });
  auto sut = adopt_client(daemon);

  auto reply = sut.request("k", as_payload("ping"), k_test_timeout_ns);

  ASSERT_TRUE(reply.has_value()) << reply.err().what();
  EXPECT_EQ(as_text(reply->payload), "fast");
  EXPECT_EQ(sut.buffered_deliveries(), 0U);
}

TEST(ClientSession, ErrorReplyBecomesPluginErrorWithTheKernelsMessage) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    daemon.respond(request->id());
    daemon.reply("k", test::envelope_of(*request->body_as_Send()).message_id(), as_payload("division by zero"), true);
  });
  auto sut = adopt_client(daemon);

  auto reply = sut.request("k", as_payload("1/0"), k_test_timeout_ns);

  ASSERT_FALSE(reply.has_value());
  EXPECT_EQ(reply.code(), errc::plugin_error);
  EXPECT_EQ(reply.err().message, "division by zero");
}

TEST(ClientSession, ErrorReplyNamingAnErrcKeepsThatCode) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    daemon.respond(request->id());
    daemon.reply("k", test::envelope_of(*request->body_as_Send()).message_id(),
                 as_payload("dropped: evicted by drop_oldest"), true);
  });
  auto sut = adopt_client(daemon);

  auto reply = sut.request("k", as_payload("x"), k_test_timeout_ns);

  EXPECT_EQ(reply.code(), errc::dropped);
  EXPECT_EQ(reply.err().message, "dropped: evicted by drop_oldest");
}

TEST(ClientSession, ResponseWithIdZeroFailsTheCallInFlight) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    EXPECT_NE(daemon.next_request(), nullptr);
    daemon.respond(0, errc::protocol_error, "request failed verification");
  });
  auto sut = adopt_client(daemon);

  const auto activated = sut.activate("k");

  EXPECT_EQ(activated.code(), errc::protocol_error);
  EXPECT_EQ(activated.err().message, "request failed verification");
  EXPECT_TRUE(sut.connected());
}

TEST(ClientSession, RefusedSendFailsTheRequest) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    daemon.respond(request->id(), errc::not_found, "no kernel 'k'");
  });
  auto sut = adopt_client(daemon);

  auto reply = sut.request("k", as_payload("ping"), k_test_timeout_ns);

  ASSERT_FALSE(reply.has_value());
  EXPECT_EQ(reply.code(), errc::not_found);
}

TEST(ClientSession, RequestTimesOutWhenNoReplyComes) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    daemon.respond(request->id());
  });
  auto sut = adopt_client(daemon);

  auto reply = sut.request("k", as_payload("ping"), 20'000'000);

  ASSERT_FALSE(reply.has_value());
  EXPECT_EQ(reply.code(), errc::timeout);
  EXPECT_TRUE(sut.connected());
}

TEST(ClientSession, ReceiveTimesOutWhenNothingArrives) {
  fake_daemon daemon;
  script_thread script([&] { daemon.answer_hello(); });
  auto sut = adopt_client(daemon);

  const auto start = std::chrono::steady_clock::now();
  auto received = sut.receive(10'000'000);

  EXPECT_EQ(received.code(), errc::timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 10ms);
}

TEST(ClientSession, MalformedPacketIsProtocolErrorAndBreaksTheSession) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    const std::vector<std::uint8_t> garbage{0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05};
    daemon.send_raw(garbage);
  });
  auto sut = adopt_client(daemon);

  const auto activated = sut.activate("k");
  const auto later = sut.list();

  EXPECT_EQ(activated.code(), errc::protocol_error);
  EXPECT_EQ(later.code(), errc::protocol_error);
  EXPECT_FALSE(sut.connected());
}

TEST(ClientSession, DeliveryWithBadEnvelopeIsProtocolError) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    flatbuffers::FlatBufferBuilder fbb;
    const std::vector<std::uint8_t> short_message(10, 0);
    const auto delivery = wire::CreateDelivery(fbb, fbb.CreateString("k"), fbb.CreateVector(short_message));
    fbb.Finish(wire::CreateServerFrame(fbb, wire::ServerBody::Delivery, delivery.Union()));
    daemon.send_raw(std::span(fbb.GetBufferPointer(), fbb.GetSize()));
  });
  auto sut = adopt_client(daemon);

  auto received = sut.receive(k_test_timeout_ns);

  EXPECT_EQ(received.code(), errc::protocol_error);
}

TEST(ClientSession, ResponseToUnknownRequestIsProtocolError) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    daemon.respond(request->id() + 1000);
  });
  auto sut = adopt_client(daemon);

  EXPECT_EQ(sut.activate("k").code(), errc::protocol_error);
}

TEST(ClientSession, PacketAboveTheLimitIsProtocolError) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello(1024);
    const std::vector<std::byte> huge(k_default_max_message_bytes + 2 * k_frame_overhead_bytes, std::byte{'x'});
    daemon.emit("k", 1, huge);
  });
  auto sut = adopt_client(daemon);

  auto received = sut.receive(k_test_timeout_ns);

  EXPECT_EQ(received.code(), errc::protocol_error);
}

TEST(ClientSession, PeerClosingFailsThePendingCallPromptly) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    EXPECT_NE(daemon.next_request(), nullptr);
    daemon.close();
  });
  auto sut = adopt_client(daemon);
  sut.set_call_timeout_ns(-1);  // only the hang-up may end the call

  const auto start = std::chrono::steady_clock::now();
  const auto activated = sut.activate("k");
  const auto elapsed = std::chrono::steady_clock::now() - start;

  EXPECT_EQ(activated.code(), errc::peer_gone);
  EXPECT_EQ(activated.err().message, "daemon closed the connection");
  EXPECT_LT(elapsed, 2s);
  EXPECT_FALSE(sut.connected());
}

TEST(ClientSession, EveryCallAfterPeerGoneFailsImmediately) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    daemon.close();
  });
  auto sut = adopt_client(daemon);
  script.join();
  sut.set_call_timeout_ns(-1);

  const auto received = sut.receive(-1);  // would block forever without hang-up detection
  const auto start = std::chrono::steady_clock::now();
  const auto listed = sut.list();
  const auto sent = sut.send("k", as_payload("x"));
  const auto requested = sut.request("k", as_payload("x"), -1);

  EXPECT_EQ(received.code(), errc::peer_gone);
  EXPECT_EQ(listed.code(), errc::peer_gone);
  EXPECT_EQ(sent.code(), errc::peer_gone);
  EXPECT_EQ(requested.code(), errc::peer_gone);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(ClientSession, BufferedDeliveriesSurviveThePeerClosing) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    daemon.emit("k", 1, as_payload("last words"));
    daemon.close();
  });
  auto sut = adopt_client(daemon);
  script.join();

  auto first = sut.receive(k_test_timeout_ns);
  auto second = sut.receive(k_test_timeout_ns);

  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(as_text(first->payload), "last words");
  EXPECT_EQ(second.code(), errc::peer_gone);
}

TEST(ClientSession, DeliveriesSentBeforeHangUpStayReadableAfterAFailedCall) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    daemon.emit("k", 1, as_payload("sent before dying"));
    daemon.close();
  });
  auto sut = adopt_client(daemon);
  script.join();

  const auto activated = sut.activate("k");
  auto received = sut.receive(0);

  EXPECT_EQ(activated.code(), errc::peer_gone);
  ASSERT_TRUE(received.has_value());
  EXPECT_EQ(as_text(received->payload), "sent before dying");
}

TEST(ClientSession, OversizePayloadIsRefusedLocally) {
  fake_daemon daemon;
  bool first_request_was_activate = false;
  script_thread script([&] {
    daemon.answer_hello(1024);
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    first_request_was_activate = request->body_as_Activate() != nullptr;
    daemon.respond(request->id());
  });
  auto sut = adopt_client(daemon);
  const std::vector<std::byte> too_big(1025, std::byte{1});
  const std::vector<std::byte> just_fits(1024, std::byte{1});

  const auto sent = sut.send("k", too_big);
  const auto requested = sut.request("k", too_big, k_test_timeout_ns);
  const auto activated = sut.activate("k");  // the next packet the daemon sees
  script.join();

  EXPECT_EQ(sent.code(), errc::message_too_large);
  EXPECT_EQ(requested.code(), errc::message_too_large);
  EXPECT_NE(sent.err().message.find("1025"), std::string::npos);
  EXPECT_TRUE(activated.has_value());
  EXPECT_TRUE(first_request_was_activate);
  EXPECT_LE(just_fits.size(), sut.max_message_bytes());
}

TEST(ClientSession, DeliveryBufferDropsOldestBeyondItsLimit) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    for (int i = 1; i <= 6; ++i) daemon.emit("k", static_cast<std::uint64_t>(i), as_payload(std::to_string(i)));
    daemon.respond(request->id());
  });
  auto sut = adopt_client(daemon);
  sut.set_delivery_limit(4);

  ASSERT_TRUE(sut.subscribe("k").has_value());

  EXPECT_EQ(sut.buffered_deliveries(), 4U);
  EXPECT_EQ(sut.dropped_deliveries(), 2U);
  auto oldest_kept = sut.receive(0);
  ASSERT_TRUE(oldest_kept.has_value());
  EXPECT_EQ(as_text(oldest_kept->payload), "3");
}

TEST(ClientSession, UnackedSendFailureIsReportedLater) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* send = daemon.next_request();
    ASSERT_NE(send, nullptr);
    EXPECT_FALSE(send->body_as_Send()->ack());
    const auto send_id = send->id();
    const auto* activate = daemon.next_request();
    ASSERT_NE(activate, nullptr);
    daemon.respond(send_id, errc::rejected, "queue of 'k' is full");
    daemon.respond(activate->id());
  });
  auto sut = adopt_client(daemon);

  const auto sent = sut.send("k", as_payload("x"), send_options{.ack = false});
  const auto activated = sut.activate("k");
  const auto failure = sut.take_send_failure();

  ASSERT_TRUE(sent.has_value());
  EXPECT_TRUE(activated.has_value());
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->message_id, *sent);
  EXPECT_EQ(failure->reason.code, errc::rejected);
  EXPECT_FALSE(sut.take_send_failure().has_value());
}

TEST(ClientSession, LateResponseToATimedOutCallIsIgnored) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* first = daemon.next_request();
    ASSERT_NE(first, nullptr);
    const auto first_id = first->id();
    const auto* second = daemon.next_request();  // sent after the first timed out
    ASSERT_NE(second, nullptr);
    daemon.respond(first_id, errc::internal, "stale");
    daemon.respond(second->id());
  });
  auto sut = adopt_client(daemon);
  sut.set_call_timeout_ns(20'000'000);

  const auto first = sut.activate("k");
  sut.set_call_timeout_ns(k_test_timeout_ns);
  const auto second = sut.deactivate("k");

  EXPECT_EQ(first.code(), errc::timeout);
  EXPECT_TRUE(second.has_value());
}

TEST(ClientSession, StatusDecodesKernelInfo) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    ASSERT_NE(request->body_as_Status(), nullptr);
    EXPECT_EQ(request->body_as_Status()->kernel_id()->str(), "proc");
    flatbuffers::FlatBufferBuilder fbb;
    const auto wait = wire::CreateLatencySummary(fbb, 10, 100, 200, 300, 400, 500, 150.5);
    const auto kernel =
        wire::CreateKernelInfo(fbb, fbb.CreateString("proc"), fbb.CreateString("echo"), fbb.CreateString("examples"),
                               wire::Tier::Spin, wire::KernelState::Active, wire::Backpressure::DropOldest, 1024, 65536,
                               3, 100, 99, 4, 5, 6, fbb.CreateString("boom"), 7'000'000'000, wait, 0, 2);
    const auto body = wire::CreateKernelListReply(fbb, fbb.CreateVector(&kernel, 1));
    daemon.respond(request->id(), fbb, wire::ResponseBody::KernelListReply, body.Union());
  });
  auto sut = adopt_client(daemon);

  auto k = sut.status("proc");

  ASSERT_TRUE(k.has_value()) << k.err().what();
  EXPECT_EQ(k->kernel_id, "proc");
  EXPECT_EQ(k->kernel_type, "echo");
  EXPECT_EQ(k->plugin, "examples");
  EXPECT_EQ(k->tier, kernel_tier::spin);
  EXPECT_EQ(k->state, kernel_state::active);
  EXPECT_EQ(k->backpressure, backpressure_policy::drop_oldest);
  EXPECT_EQ(k->capacity, 1024U);
  EXPECT_EQ(k->queue_depth, 3U);
  EXPECT_EQ(k->messages_in, 100U);
  EXPECT_EQ(k->messages_out, 99U);
  EXPECT_EQ(k->dropped, 4U);
  EXPECT_EQ(k->rejected, 5U);
  EXPECT_EQ(k->handler_errors, 6U);
  EXPECT_EQ(k->last_error, "boom");
  EXPECT_EQ(k->queue_wait.count, 10U);
  EXPECT_EQ(k->queue_wait.p999_ns, 400U);
  EXPECT_DOUBLE_EQ(k->queue_wait.mean_ns, 150.5);
  EXPECT_EQ(k->processing.count, 0U);
  EXPECT_EQ(k->subscribers, 2U);
  EXPECT_EQ(to_string(k->state), "active");
}

TEST(ClientSession, ResponseWithoutTheExpectedBodyIsProtocolError) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    daemon.respond(request->id());  // no KernelListReply
  });
  auto sut = adopt_client(daemon);

  EXPECT_EQ(sut.list().code(), errc::protocol_error);
}

TEST(ClientSession, PluginLoadDecodesPluginInfo) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    ASSERT_NE(request->body_as_PluginLoad(), nullptr);
    EXPECT_EQ(request->body_as_PluginLoad()->path()->str(), "/opt/echo.so");
    flatbuffers::FlatBufferBuilder fbb;
    const std::vector<std::string> types{"echo", "upper"};
    const auto plugin = wire::CreatePluginInfo(fbb, fbb.CreateString("examples"), fbb.CreateString("1.2.3"),
                                               fbb.CreateString("/opt/echo.so"), fbb.CreateVectorOfStrings(types), 0);
    const auto body = wire::CreatePluginLoadReply(fbb, plugin);
    daemon.respond(request->id(), fbb, wire::ResponseBody::PluginLoadReply, body.Union());
  });
  auto sut = adopt_client(daemon);

  auto p = sut.plugin_load("/opt/echo.so");

  ASSERT_TRUE(p.has_value()) << p.err().what();
  EXPECT_EQ(p->name, "examples");
  EXPECT_EQ(p->version, "1.2.3");
  EXPECT_EQ(p->kernel_types, (std::vector<std::string>{"echo", "upper"}));
}

TEST(ClientSession, LaunchSendsEveryOption) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    const auto* launch = request->body_as_Launch();
    ASSERT_NE(launch, nullptr);
    EXPECT_EQ(launch->kernel_type()->str(), "echo");
    EXPECT_EQ(launch->kernel_id()->str(), "e1");
    EXPECT_EQ(launch->tier(), wire::Tier::Pool);
    EXPECT_EQ(launch->capacity(), 64U);
    EXPECT_EQ(launch->backpressure(), wire::Backpressure::Reject);
    EXPECT_EQ(launch->max_message_bytes(), 512U);
    EXPECT_EQ(launch->block_timeout_ms(), 9U);
    EXPECT_EQ(launch->config()->str(), "k=v");
    EXPECT_EQ(launch->workers(), 3U);
    EXPECT_EQ(launch->cpu(), 1);
    ASSERT_NE(launch->access(), nullptr);
    ASSERT_EQ(launch->access()->size(), 2U);
    EXPECT_EQ(launch->access()->Get(1)->str(), "anyone=send");
    daemon.respond(request->id());
  });
  auto sut = adopt_client(daemon);

  const auto launched = sut.launch(launch_options{.kernel_type = "echo",
                                                  .kernel_id = "e1",
                                                  .tier = kernel_tier::pool,
                                                  .capacity = 64,
                                                  .backpressure = backpressure_policy::reject,
                                                  .max_message_bytes = 512,
                                                  .block_timeout_ms = 9,
                                                  .config = "k=v",
                                                  .workers = 3,
                                                  .cpu = 1,
                                                  .idle_spin_us = 0,
                                                  .pool = "",
                                                  .latency_metrics = true,
                                                  .access = {"user:root=status", "anyone=send"},
                                                  .isolation = kernel_isolation::none,
                                                  .host_user = "",
                                                  .max_address_space_mb = 0,
                                                  .max_cpu_seconds = 0,
                                                  .max_open_files = 0,
                                                  .seccomp = false});

  EXPECT_TRUE(launched.has_value());
}

TEST(ClientSession, MovedClientKeepsTheSession) {
  fake_daemon daemon;
  script_thread script([&] {
    daemon.answer_hello();
    const auto* request = daemon.next_request();
    ASSERT_NE(request, nullptr);
    daemon.respond(request->id());
  });
  auto original = adopt_client(daemon);

  client sut = std::move(original);

  EXPECT_TRUE(sut.activate("k").has_value());
  EXPECT_EQ(original.activate("k").code(), errc::invalid_argument);  // NOLINT(bugprone-use-after-move)
}

}  // namespace
}  // namespace pdc
