// The protocol surface without a socket: requests built as libpdc builds
// them, dispatched against a real registry (real plugins, real executors on
// an io_context the test runs), answers caught by a fake port.
#include <gtest/gtest.h>

#include <algorithm>

#include <asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "fake_port.hpp"
#include "runtime/registry.hpp"
#include "server/dispatch.hpp"

namespace pdc::daemon {
namespace {

using namespace std::chrono_literals;

class DispatchTest : public ::testing::Test {
 protected:
  DispatchTest() {
    spdlog::set_level(spdlog::level::warn);
    cfg.plugin_dirs = {PDC_TEST_KERNELS_DIR};
    cfg.pools.push_back(pool_config{"shared", 2, 5});
    reg = std::make_unique<registry>(io, cfg);
    EXPECT_TRUE(reg->start_pools());
    for (const char* p : {"pdc_echo.so", "pdc_counter.so"}) EXPECT_TRUE(reg->load_plugin(p));
  }
  ~DispatchTest() override {
    bool gone = false;
    reg->terminate_all(1'000'000'000, [&] { gone = true; });
    run_until([&] { return gone; });
  }

  /// Builds a Request with `body` and dispatches it.
  template <typename Make>
  void call(wire::RequestBody type, Make&& make) {
    flatbuffers::FlatBufferBuilder b;
    const auto body = make(b);
    b.Finish(wire::CreateRequest(b, ++rid, type, body.Union()));
    flatbuffers::Verifier v(b.GetBufferPointer(), b.GetSize());
    ASSERT_TRUE(wire::VerifyRequestBuffer(v));
    dispatch(*reg, *port, *wire::GetRequest(b.GetBufferPointer()));
  }
  void launch(const std::string& type, const std::string& id, wire::Tier tier, std::uint32_t workers = 0,
              const std::string& pool = {}) {
    call(wire::RequestBody::Launch, [&](auto& b) {
      return wire::CreateLaunch(b, b.CreateString(type), b.CreateString(id), tier, 0, wire::Backpressure::Block, 0, 0,
                                b.CreateString(""), workers, -1, 0, b.CreateString(pool));
    });
  }
  void list() {
    call(wire::RequestBody::List, [](auto& b) { return wire::CreateList(b); });
  }
  /// Runs the io_context (the control thread) until `cond` holds (bounded).
  template <typename Cond>
  bool run_until(Cond&& cond) {
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (!cond()) {
      if (std::chrono::steady_clock::now() > until) return false;
      io.restart();
      io.run_for(1ms);
    }
    return true;
  }
  [[nodiscard]] errc last_code() const { return static_cast<errc>(port->last()->code()); }
  [[nodiscard]] std::string last_message() const { return port->last()->message()->str(); }

  asio::io_context io;
  daemon_config cfg;
  std::unique_ptr<registry> reg;
  std::shared_ptr<fake_port> port = std::make_shared<fake_port>();
  std::uint64_t rid = 0;
};

TEST_F(DispatchTest, HelloAnswersTheSessionIdAndVersion) {
  call(wire::RequestBody::Hello,
       [](auto& b) { return wire::CreateHello(b, b.CreateString("test"), k_protocol_version); });

  const auto* reply = port->last()->body_as_HelloReply();
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->session_id(), 11U);
  EXPECT_EQ(reply->daemon_version()->str(), k_daemon_version);
}

TEST_F(DispatchTest, LaunchThenListShowsTheKernelOnItsTier) {
  launch("echo", "e", wire::Tier::Spin);
  ASSERT_EQ(last_code(), errc::ok) << last_message();

  list();

  const auto* reply = port->last()->body_as_KernelListReply();
  ASSERT_NE(reply, nullptr);
  ASSERT_EQ(reply->kernels()->size(), 1U);
  EXPECT_EQ(reply->kernels()->Get(0)->kernel_id()->str(), "e");
  EXPECT_EQ(reply->kernels()->Get(0)->tier(), wire::Tier::Spin);
  EXPECT_EQ(reply->kernels()->Get(0)->workers(), 1U);
}

TEST_F(DispatchTest, AnUnknownTierValueIsRefusedNotGuessed) {
  launch("echo", "e", static_cast<wire::Tier>(9));

  EXPECT_EQ(last_code(), errc::invalid_argument);
  EXPECT_EQ(last_message(),
            "launch refused: unknown tier value 9 (this build knows async, threaded, spin, pool or cuda)");
  EXPECT_TRUE(reg->kernels().empty());
}

TEST_F(DispatchTest, ATierWithoutAnExecutorIsRefusedNotRunElsewhere) {
  launch("echo", "g", wire::Tier::Cuda);

  EXPECT_EQ(last_code(), errc::not_supported);
#ifdef PDC_HAVE_CUDA
  EXPECT_EQ(last_message(), "kernel type 'echo' cannot run on tier cuda: it runs on async, threaded, spin and pool");
#else
  EXPECT_EQ(last_message(), "tier cuda is not available in this build of pdcd: it was built without CUDA (no nvcc)");
#endif
}

TEST_F(DispatchTest, APoolOfSeveralWorkersRefusesATypeThatIsNotConcurrent) {
  launch("counter", "c", wire::Tier::Pool, 2);

  EXPECT_EQ(last_code(), errc::not_supported);
  EXPECT_NE(last_message().find("does not declare PDC_KERNEL_CONCURRENT"), std::string::npos) << last_message();
  launch("counter", "c", wire::Tier::Pool, 1);
  EXPECT_EQ(last_code(), errc::ok) << last_message();
}

TEST_F(DispatchTest, KernelsShareANamedPoolAndItListsThem) {
  launch("echo", "a", wire::Tier::Pool, 2, "shared");
  ASSERT_EQ(last_code(), errc::ok) << last_message();
  launch("counter", "b", wire::Tier::Pool, 0, "shared");
  ASSERT_EQ(last_code(), errc::ok) << last_message();
  launch("echo", "c", wire::Tier::Pool, 3, "shared");
  EXPECT_EQ(last_code(), errc::invalid_argument);  // 3 workers on 2 threads
  launch("echo", "d", wire::Tier::Pool, 1, "nowhere");
  EXPECT_EQ(last_code(), errc::not_found);

  call(wire::RequestBody::PoolList, [](auto& b) { return wire::CreatePoolList(b); });

  const auto* reply = port->last()->body_as_PoolListReply();
  ASSERT_NE(reply, nullptr);
  ASSERT_EQ(reply->pools()->size(), 1U);
  const auto* pool = reply->pools()->Get(0);
  EXPECT_EQ(pool->name()->str(), "shared");
  EXPECT_EQ(pool->threads(), 2U);
  ASSERT_EQ(pool->kernels()->size(), 2U);
  EXPECT_EQ(pool->kernels()->Get(0)->str(), "a");
  EXPECT_EQ(pool->kernels()->Get(1)->str(), "b");
}

TEST_F(DispatchTest, PrometheusTextCarriesTheKernelsAndTheDaemonsGauges) {
  launch("echo", "e", wire::Tier::Async);

  call(wire::RequestBody::Metrics,
       [](auto& b) { return wire::CreateMetrics(b, b.CreateString(""), wire::MetricsFormat::Prometheus); });

  const auto* reply = port->last()->body_as_MetricsReply();
  ASSERT_NE(reply, nullptr);
  const std::string text = reply->text()->str();
  EXPECT_NE(text.find("pdc_kernel_dead_letters_total{kernel=\"e\",type=\"echo\",tier=\"async\"} 0"), std::string::npos)
      << text;
  EXPECT_NE(text.find("pdc_daemon_pools 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("pdc_daemon_handover_limit_bytes 67108864\n"), std::string::npos) << text;
}

TEST_F(DispatchTest, TerminateIsAnsweredOnceTheKernelIsDone) {
  launch("echo", "t", wire::Tier::Threaded);
  ASSERT_EQ(last_code(), errc::ok);
  const auto frames = port->frames.size();

  call(wire::RequestBody::Terminate,
       [](auto& b) { return wire::CreateTerminate(b, b.CreateString("t"), false, 1000); });
  const auto asked = rid;

  ASSERT_TRUE(run_until([&] { return port->frames.size() > frames; }));
  EXPECT_EQ(port->last()->id(), asked);
  EXPECT_EQ(last_code(), errc::ok);
  EXPECT_TRUE(reg->kernels().empty());
}

TEST_F(DispatchTest, ASendToAFullBlockingInboxIsHeldByThePort) {
  call(wire::RequestBody::Launch, [](auto& b) {
    return wire::CreateLaunch(b, b.CreateString("echo"), b.CreateString("full"), wire::Tier::Async, 1);
  });
  ASSERT_EQ(last_code(), errc::ok) << last_message();
  const auto send = [&] {
    call(wire::RequestBody::Send, [](auto& b) {
      const envelope env = make_envelope(1, 0, 0);
      const auto* raw = reinterpret_cast<const std::uint8_t*>(&env);
      return wire::CreateSend(b, b.CreateString("full"), b.CreateVector(raw, sizeof env), true);
    });
  };

  send();  // launched, not active: queued
  send();  // capacity 1: held

  ASSERT_EQ(port->held.size(), 1U);
  EXPECT_EQ(port->held[0].rid, rid);
  EXPECT_EQ(port->held[0].m.from, reply_address::session(11));
}

TEST_F(DispatchTest, DetachOfAnAttachmentThisSessionDoesNotHoldIsNotFound) {
  call(wire::RequestBody::Detach, [](auto& b) { return wire::CreateDetach(b, 12345); });

  EXPECT_EQ(last_code(), errc::not_found);
  EXPECT_EQ(last_message(), "attachment 12345 is not attached by this session");
}

TEST_F(DispatchTest, ANonAdministratorGetsPermissionDeniedNamingTheOperationAndItsUid) {
  port->credentials = peer_credentials{1234, 1234, 99, {}, false};

  launch("echo", "e", wire::Tier::Async);

  EXPECT_EQ(last_code(), errc::permission_denied);
  EXPECT_EQ(last_message(), "uid 1234 may not launch kernel 'e': only administrators may (root, pdcd's user)");
  EXPECT_EQ(reg->denied(), 1U);
  EXPECT_TRUE(reg->kernels().empty());
}

TEST_F(DispatchTest, TheLaunchingUidOwnsTheKernelWhateverTheRequestSays) {
  port->credentials.uid = 777;  // still an administrator (admin flag set)

  launch("echo", "e", wire::Tier::Async);

  ASSERT_EQ(last_code(), errc::ok) << last_message();
  EXPECT_EQ(reg->kernels().at("e")->params().owner_uid, 777U);
}

TEST_F(DispatchTest, AListComesInPagesThatTogetherHoldEveryKernelOnce) {
  for (int i = 0; i < 150; ++i) launch("echo", "k" + std::to_string(1000 + i), wire::Tier::Async);
  ASSERT_EQ(reg->kernels().size(), 150U);

  std::vector<std::string> seen;
  int pages = 0;
  for (std::string after;; ++pages) {
    call(wire::RequestBody::List, [&](auto& b) { return wire::CreateList(b, b.CreateString(after)); });
    ASSERT_EQ(last_code(), errc::ok);
    ASSERT_LT(port->frames.back().size(), 64U * 1024);  // a page fits any client's buffer
    const auto* reply = port->last()->body_as_KernelListReply();
    for (const auto* k : *reply->kernels()) seen.push_back(k->kernel_id()->str());
    if (!reply->more()) break;
    after = seen.back();
  }

  EXPECT_GT(pages, 1);
  ASSERT_EQ(seen.size(), 150U);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end());
}

TEST_F(DispatchTest, PrometheusTextComesInPagesOfOneText) {
  for (int i = 0; i < 150; ++i) launch("echo", "k" + std::to_string(1000 + i), wire::Tier::Async);
  std::string text;
  std::uint64_t total = 0;
  for (;;) {
    call(wire::RequestBody::Metrics, [&](auto& b) {
      return wire::CreateMetrics(b, b.CreateString(""), wire::MetricsFormat::Prometheus, b.CreateString(""),
                                 text.size());
    });
    ASSERT_EQ(last_code(), errc::ok) << last_message();
    const auto* reply = port->last()->body_as_MetricsReply();
    text += reply->text()->str();
    total = reply->text_bytes();
    if (!reply->more()) break;
  }

  EXPECT_EQ(text.size(), total);
  EXPECT_GT(total, 64U * 1024);
  EXPECT_NE(text.find("pdc_kernel_processed_total{kernel=\"k1149\""), std::string::npos);
  EXPECT_TRUE(port->text.empty());  // read to the end: the connection let it go
  call(wire::RequestBody::Metrics, [&](auto& b) {
    return wire::CreateMetrics(b, b.CreateString(""), wire::MetricsFormat::Prometheus, b.CreateString(""), 5);
  });
  EXPECT_EQ(last_code(), errc::invalid_argument);
  EXPECT_NE(last_message().find("start again from offset 0"), std::string::npos);
}

TEST_F(DispatchTest, ALaunchBeyondTheKernelLimitIsRefusedNamingTheLimit) {
  cfg.limits.max_kernels = 2;
  launch("echo", "a", wire::Tier::Async);
  launch("echo", "b", wire::Tier::Async);

  launch("echo", "c", wire::Tier::Async);

  EXPECT_EQ(last_code(), errc::limit_reached);
  EXPECT_EQ(last_message(),
            "cannot launch kernel 'c': pdcd runs 2 kernels, its limit ([limits] max_kernels); "
            "terminate one first");
  EXPECT_EQ(reg->refused_at(daemon_limit::kernels), 1U);
  EXPECT_FALSE(reg->kernels().contains("c"));
}

TEST_F(DispatchTest, ALaunchWhoseQueueWouldExceedItsByteLimitIsRefused) {
  cfg.limits.max_queue_bytes = 1 << 20;
  call(wire::RequestBody::Launch, [&](auto& b) {
    return wire::CreateLaunch(b, b.CreateString("echo"), b.CreateString("big"), wire::Tier::Async, 4096,
                              wire::Backpressure::Block, 65536);
  });

  EXPECT_EQ(last_code(), errc::limit_reached);
  EXPECT_NE(last_message().find("capacity 4096 x max_message_bytes 65536 = 268435456 bytes of queue, over the limit "
                                "of 1048576 ([limits] max_queue_bytes)"),
            std::string::npos)
      << last_message();
}

TEST_F(DispatchTest, ThreadsBeyondTheLimitAreRefusedAndNamedPoolsCostNone) {
  cfg.limits.max_kernel_threads = 3;
  launch("echo", "t1", wire::Tier::Threaded);
  launch("echo", "p1", wire::Tier::Pool, 2);
  ASSERT_EQ(last_code(), errc::ok) << last_message();
  launch("echo", "shared", wire::Tier::Pool, 2, "shared");  // the pool's threads, not the kernel's
  ASSERT_EQ(last_code(), errc::ok) << last_message();

  launch("echo", "t2", wire::Tier::Threaded);

  EXPECT_EQ(last_code(), errc::limit_reached);
  EXPECT_EQ(last_message(),
            "cannot launch kernel 't2': it needs 1 thread(s) and kernels hold 3 of the 3 allowed "
            "([limits] max_kernel_threads)");
}

TEST_F(DispatchTest, AnAttachBeyondTheConnectionsLimitIsRefused) {
  cfg.limits.max_attachments_per_session = 1;
  launch("echo", "e", wire::Tier::Async);
  auto attach = [&] {
    call(wire::RequestBody::Attach, [](auto& b) { return wire::CreateAttach(b, b.CreateString("e")); });
  };
  attach();
  ASSERT_EQ(last_code(), errc::ok) << last_message();

  attach();

  EXPECT_EQ(last_code(), errc::limit_reached);
  EXPECT_EQ(last_message(),
            "cannot attach to kernel 'e': this connection holds 1 attachments, its limit ([limits] "
            "max_attachments_per_session); detach one");
  EXPECT_EQ(reg->attachment_count(), 1U);
}

TEST_F(DispatchTest, ARequestWithoutABodyIsRefused) {
  flatbuffers::FlatBufferBuilder b;
  b.Finish(wire::CreateRequest(b, 5));
  dispatch(*reg, *port, *wire::GetRequest(b.GetBufferPointer()));

  EXPECT_EQ(last_code(), errc::not_supported);
  EXPECT_EQ(port->last()->id(), 5U);
}

}  // namespace
}  // namespace pdc::daemon
