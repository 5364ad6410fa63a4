// pdcctl end to end (parse, connect, run, print, exit code) against a
// scripted daemon listening on a real socket path.
#include "cli.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "client_fake_daemon.hpp"
#include "format.hpp"

namespace pdc::ctl {
namespace {

using test::as_payload;
using test::fake_daemon;
using test::fake_listener;
using test::script_thread;

struct cli_outcome {
  int code = -1;
  std::string out;
  std::string err;
};

cli_outcome run_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "pdcctl");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out;
  std::ostringstream err;
  const int code = run(static_cast<int>(argv.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

std::size_t lines_in(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// Accepts pdcctl's connection and answers its Hello; then runs `script`.
template <typename Script>
void serve_one(fake_listener& listener, Script&& script) {
  const int fd = listener.accept();
  ASSERT_GE(fd, 0) << "pdcctl did not connect";
  fake_daemon daemon(fd);
  if (!daemon.answer_hello()) return;
  script(daemon);
}

TEST(ClientCli, HelpExitsZero) {
  const auto sut = run_cli({"--help"});

  EXPECT_EQ(sut.code, exit_ok);
  EXPECT_NE(sut.out.find("Subcommands:"), std::string::npos);
}

TEST(ClientCli, UsageErrorExitsTwoWithOneLine) {
  const auto sut = run_cli({"launch", "--socket", "/nonexistent/pdcd.sock"});

  EXPECT_EQ(sut.code, exit_usage);
  EXPECT_EQ(sut.err.rfind("pdcctl: error: ", 0), 0U) << sut.err;
  EXPECT_EQ(lines_in(sut.err), 1U);
  EXPECT_TRUE(sut.out.empty());
}

TEST(ClientCli, InvalidLocalInputIsAUsageErrorBeforeConnecting) {
  EXPECT_EQ(run_cli({"send", "k", "--hex", "0g", "--socket", "/nonexistent/pdcd.sock"}).code, exit_usage);
  EXPECT_EQ(run_cli({"send", "k", "--file", "/nonexistent/payload", "--socket", "/nonexistent/pdcd.sock"}).code,
            exit_usage);
  EXPECT_EQ(run_cli({"send", "k", "--socket", "/nonexistent/pdcd.sock"}).code, exit_usage);  // no payload
  EXPECT_EQ(run_cli({"launch", "echo", "--id", "e", "--tier", "gpu", "--socket", "/x.sock"}).code, exit_usage);
}

TEST(ClientCli, UnreachableDaemonExitsThreeNamingThePath) {
  const auto sut = run_cli({"list", "--socket", "/nonexistent/pdc-cli/pdcd.sock"});

  EXPECT_EQ(sut.code, exit_unreachable);
  EXPECT_EQ(sut.err,
            "pdcctl: error: cannot connect to pdcd at /nonexistent/pdc-cli/pdcd.sock: No such file or directory (is "
            "pdcd running?)\n");
}

TEST(ClientCli, SendInt64WaitsForReplyAndPrintsTheInteger) {
  fake_listener listener;
  script_thread script([&] {
    serve_one(listener, [](fake_daemon& daemon) {
      const auto* request = daemon.next_request();
      ASSERT_NE(request, nullptr);
      const auto* send = request->body_as_Send();
      ASSERT_NE(send, nullptr);
      const auto* message = send->message();
      const auto payload = std::as_bytes(std::span(message->data(), message->size())).subspan(sizeof(envelope));
      EXPECT_EQ(decode_int64(payload), 42);
      daemon.respond(request->id());
      daemon.reply("adder", test::envelope_of(*send).message_id(), encode_int64(43));
    });
  });

  const auto sut = run_cli({"send", "adder", "--int64", "42", "--wait-reply", "--socket", listener.path()});

  EXPECT_EQ(sut.code, exit_ok) << sut.err;
  EXPECT_EQ(sut.out, "43 (hex 2b00000000000000)\n");
}

TEST(ClientCli, JsonFlagAfterTheSubcommandGivesJson) {
  fake_listener listener;
  script_thread script([&] {
    serve_one(listener, [](fake_daemon& daemon) {
      const auto* request = daemon.next_request();
      ASSERT_NE(request, nullptr);
      daemon.respond(request->id());
      daemon.reply("echo", test::envelope_of(*request->body_as_Send()).message_id(), as_payload("hi \"there\""));
    });
  });

  const auto sut = run_cli({"send", "echo", "--data", "x", "--wait-reply", "--socket", listener.path(), "--json"});

  EXPECT_EQ(sut.code, exit_ok) << sut.err;
  EXPECT_NE(sut.out.find(R"("text": "hi \"there\"")"), std::string::npos) << sut.out;
  EXPECT_NE(sut.out.find(R"("hex": "68692022746865726522")"), std::string::npos) << sut.out;
}

TEST(ClientCli, DaemonRefusalExitsOneWithItsMessage) {
  fake_listener listener;
  script_thread script([&] {
    serve_one(listener, [](fake_daemon& daemon) {
      const auto* request = daemon.next_request();
      ASSERT_NE(request, nullptr);
      daemon.respond(request->id(), errc::not_found, "no kernel 'ghost'");
    });
  });

  const auto sut = run_cli({"--socket", listener.path(), "activate", "ghost"});

  EXPECT_EQ(sut.code, exit_failed);
  EXPECT_EQ(sut.err, "pdcctl: error: no kernel 'ghost'\n");
}

TEST(ClientCli, DaemonDyingMidCommandExitsThree) {
  fake_listener listener;
  script_thread script([&] {
    serve_one(listener, [](fake_daemon& daemon) {
      EXPECT_NE(daemon.next_request(), nullptr);
      daemon.close();
    });
  });

  const auto sut = run_cli({"--socket", listener.path(), "list"});

  EXPECT_EQ(sut.code, exit_unreachable);
  EXPECT_EQ(sut.err, "pdcctl: error: daemon closed the connection\n");
}

TEST(ClientCli, SocketComesFromPdcSocketWhenNoFlag) {
  fake_listener listener;
  script_thread script([&] {
    serve_one(listener, [](fake_daemon& daemon) {
      const auto* request = daemon.next_request();
      ASSERT_NE(request, nullptr);
      EXPECT_NE(request->body_as_Activate(), nullptr);
      daemon.respond(request->id());
    });
  });
  ::setenv("PDC_SOCKET", listener.path().c_str(), 1);

  const auto sut = run_cli({"activate", "k"});
  ::unsetenv("PDC_SOCKET");

  EXPECT_EQ(sut.code, exit_ok) << sut.err;
  EXPECT_EQ(sut.out, "activated kernel k\n");
}

TEST(ClientCli, RecvSubscribesAndPrintsTheNextEmit) {
  fake_listener listener;
  script_thread script([&] {
    serve_one(listener, [](fake_daemon& daemon) {
      const auto* request = daemon.next_request();
      ASSERT_NE(request, nullptr);
      ASSERT_NE(request->body_as_Subscribe(), nullptr);
      daemon.respond(request->id());
      daemon.emit("ticker", 1, std::vector<std::byte>{std::byte{0x01}, std::byte{0x02}});
      const auto* unsubscribe = daemon.next_request();
      if (unsubscribe != nullptr) daemon.respond(unsubscribe->id());
    });
  });

  const auto sut = run_cli({"--socket", listener.path(), "recv", "ticker", "--timeout", "5000"});

  EXPECT_EQ(sut.code, exit_ok) << sut.err;
  EXPECT_EQ(sut.out, "hex: 0102\n");
}

TEST(ClientCli, StatusWithoutIdPrintsTheTable) {
  fake_listener listener;
  script_thread script([&] {
    serve_one(listener, [](fake_daemon& daemon) {
      const auto* request = daemon.next_request();
      ASSERT_NE(request, nullptr);
      EXPECT_NE(request->body_as_List(), nullptr);
      flatbuffers::FlatBufferBuilder fbb;
      const auto kernel = wire::CreateKernelInfo(fbb, fbb.CreateString("k1"), fbb.CreateString("echo"));
      const auto body = wire::CreateKernelListReply(fbb, fbb.CreateVector(&kernel, 1));
      daemon.respond(request->id(), fbb, wire::ResponseBody::KernelListReply, body.Union());
    });
  });

  const auto sut = run_cli({"--socket", listener.path(), "status"});

  EXPECT_EQ(sut.code, exit_ok) << sut.err;
  EXPECT_EQ(sut.out.rfind("KERNEL  STATE    TIER   QUEUE", 0), 0U) << sut.out;
  EXPECT_NE(sut.out.find("k1      created  async    0/0"), std::string::npos) << sut.out;
}

}  // namespace
}  // namespace pdc::ctl
