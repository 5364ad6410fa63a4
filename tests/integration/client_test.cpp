// pdcd driven through libpdc: ordering, queuing while inactive, several
// clients, dying clients, backpressure and handler errors.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>

#include "harness.hpp"
#include "pdc/client.hpp"
#include "pdc/core/clock.hpp"

namespace pdc::test {
namespace {

constexpr std::int64_t k_wait_ns = 20'000'000'000;

std::span<const std::byte> bytes_of(const std::string& s) {
  return std::as_bytes(std::span(s));
}
std::string text_of(const received_message& m) {
  return {reinterpret_cast<const char*>(m.payload.data()), m.payload.size()};
}
std::span<const std::byte> int64_bytes(const std::int64_t& v) {
  return std::as_bytes(std::span(&v, 1));
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(daemon_.ready()) << daemon_.log();
    auto c = client::connect(daemon_.socket(), "test");
    ASSERT_TRUE(c) << c.err().what();
    sut_.emplace(std::move(c).value());
  }
  void launch(const std::string& type, const std::string& id, launch_options opts = {}) {
    opts.kernel_type = type;
    opts.kernel_id = id;
    auto r = sut_->launch(opts);
    ASSERT_TRUE(r) << r.err().what();
  }
  void launch_active(const std::string& type, const std::string& id, launch_options opts = {}) {
    launch(type, id, std::move(opts));
    auto r = sut_->activate(id);
    ASSERT_TRUE(r) << r.err().what();
  }

  daemon_process daemon_{{"--load", "pdc_echo.so", "--load", "pdc_double.so", "--load", "pdc_counter.so", "--load",
                          "pdc_vector_add.so", "--load", "pdc_anomaly.so"}};
  std::optional<client> sut_;
};

TEST_F(ClientTest, DoubleKernelDoublesAnInt64) {
  launch_active("double", "processor");
  auto reply = sut_->request("processor", int64_bytes(21), k_wait_ns);
  ASSERT_TRUE(reply) << reply.err().what();
  ASSERT_EQ(reply->payload.size(), 8U);
  std::int64_t v = 0;
  std::memcpy(&v, reply->payload.data(), 8);
  EXPECT_EQ(v, 42);
  EXPECT_TRUE(reply->is_reply());
}

// The anomaly kernel (docs/kernels.md) on the spin tier: its windows are
// the kernel's state; a spike is flagged, a malformed batch refused, and
// the stream goes on.
TEST_F(ClientTest, AnomalyKernelFlagsASpikeInAStreamAndRefusesAMalformedBatch) {
  launch_options o;
  o.tier = kernel_tier::spin;
  launch_active("anomaly", "detector", o);
  auto batch = [](std::uint32_t stream, std::size_t n, std::size_t spike) {
    std::vector<std::byte> r(8 + 4 * n);
    const std::uint32_t h[2] = {stream, static_cast<std::uint32_t>(n)};
    std::memcpy(r.data(), h, 8);
    for (std::size_t i = 0; i < n; ++i) {
      const float x = i == spike ? 40.0F : 10.0F + static_cast<float>(i % 5) * 0.25F;
      std::memcpy(r.data() + 8 + 4 * i, &x, 4);
    }
    return r;
  };
  for (int i = 0; i < 4; ++i) {
    auto warm = sut_->request("detector", batch(9, 256, 1000), k_wait_ns);
    ASSERT_TRUE(warm) << warm.err().what();
  }
  auto r = sut_->request("detector", batch(9, 64, 21), k_wait_ns);
  ASSERT_TRUE(r) << r.err().what();
  ASSERT_EQ(r->payload.size(), 8U + 4 * 64 + 8);
  std::uint32_t head[2];
  std::memcpy(head, r->payload.data(), 8);
  EXPECT_EQ(head[0], 9U);
  EXPECT_EQ(head[1], 1U);  // one flagged
  const auto flags = r->payload.data() + 8 + 4 * 64;
  EXPECT_EQ(static_cast<unsigned>(flags[21 / 8]), 1U << (21 % 8));
  // Another stream has its own window: nothing to compare with yet.
  auto other = sut_->request("detector", batch(10, 64, 21), k_wait_ns);
  ASSERT_TRUE(other) << other.err().what();
  std::memcpy(head, other->payload.data(), 8);
  EXPECT_EQ(head[1], 0U);
  // A batch whose count disagrees with its length is refused, and nothing else changes.
  auto bad = batch(9, 8, 100);
  bad.pop_back();
  auto refused = sut_->request("detector", bad, k_wait_ns);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.code(), errc::plugin_error) << refused.err().what();
  EXPECT_NE(refused.err().what().find("invalid argument"), std::string::npos) << refused.err().what();
  EXPECT_NE(refused.err().what().find("got 39 bytes"), std::string::npos) << refused.err().what();
  auto again = sut_->request("detector", batch(9, 64, 5), k_wait_ns);
  ASSERT_TRUE(again) << again.err().what();
  std::memcpy(head, again->payload.data(), 8);
  EXPECT_EQ(head[1], 1U);
}

TEST_F(ClientTest, CounterKeepsStateAcrossMessages) {
  launch_active("counter", "c");
  for (std::int64_t expected = 1; expected <= 3; ++expected) {
    auto reply = sut_->request("c", bytes_of("tick"), k_wait_ns);
    ASSERT_TRUE(reply) << reply.err().what();
    std::int64_t v = 0;
    std::memcpy(&v, reply->payload.data(), 8);
    EXPECT_EQ(v, expected);
  }
}

TEST_F(ClientTest, HandlerErrorBecomesAnErrorReplyAndIsCounted) {
  launch_active("double", "processor");
  auto reply = sut_->request("processor", bytes_of("abc"), k_wait_ns);
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.code(), errc::plugin_error);
  auto st = sut_->status("processor");
  ASSERT_TRUE(st) << st.err().what();
  EXPECT_EQ(st->handler_errors, 1U);
  // The kernel carries on.
  EXPECT_TRUE(sut_->request("processor", int64_bytes(1), k_wait_ns));
}

TEST_F(ClientTest, RepliesComeBackInOrder) {
  launch_active("echo", "e");
  constexpr int k_count = 2000;
  for (int i = 0; i < k_count; ++i) {
    auto id = sut_->send("e", bytes_of("m" + std::to_string(i)), {.ack = false});
    ASSERT_TRUE(id) << id.err().what();
  }
  for (int i = 0; i < k_count; ++i) {
    auto m = sut_->receive(k_wait_ns);
    ASSERT_TRUE(m) << m.err().what();
    ASSERT_EQ(text_of(*m), "m" + std::to_string(i));
  }
}

TEST_F(ClientTest, DeactivatedKernelQueuesAndReactivationProcessesInOrder) {
  launch_active("echo", "e");
  ASSERT_TRUE(sut_->deactivate("e"));
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(sut_->send("e", bytes_of("q" + std::to_string(i))));
  auto st = sut_->status("e");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->queue_depth, 50U);
  EXPECT_EQ(sut_->receive(0).code(), errc::timeout) << "nothing is processed while deactivated";
  ASSERT_TRUE(sut_->activate("e"));
  for (int i = 0; i < 50; ++i) {
    auto m = sut_->receive(k_wait_ns);
    ASSERT_TRUE(m) << m.err().what();
    EXPECT_EQ(text_of(*m), "q" + std::to_string(i));
  }
}

TEST_F(ClientTest, MessagesToALaunchedKernelWaitForActivation) {
  launch("echo", "e");
  ASSERT_TRUE(sut_->send("e", bytes_of("early")));
  EXPECT_EQ(sut_->receive(0).code(), errc::timeout);
  ASSERT_TRUE(sut_->activate("e"));
  auto m = sut_->receive(k_wait_ns);
  ASSERT_TRUE(m);
  EXPECT_EQ(text_of(*m), "early");
}

TEST_F(ClientTest, OversizeMessageIsRefusedAndNothingElseChanges) {
  launch_options small;
  small.max_message_bytes = 16;
  launch_active("echo", "small", small);
  const std::string big(17, 'x');
  auto r = sut_->send("small", bytes_of(big));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), errc::message_too_large);
  EXPECT_NE(r.err().what().find("16"), std::string::npos) << r.err().what();
  auto ok = sut_->request("small", bytes_of(std::string(16, 'y')), k_wait_ns);
  ASSERT_TRUE(ok) << ok.err().what();
  EXPECT_EQ(ok->payload.size(), 16U);
}

TEST_F(ClientTest, TwoClientsEachGetTheirOwnReplies) {
  launch_active("echo", "e");
  constexpr int k_count = 3000;
  auto worker = [&](const std::string& tag, int* mismatches) {
    auto c = client::connect(daemon_.socket(), tag);
    if (!c) {
      *mismatches = -1;
      return;
    }
    for (int i = 0; i < k_count; ++i) {
      const std::string text = tag + ":" + std::to_string(i);
      auto reply = c->request("e", bytes_of(text), k_wait_ns);
      if (!reply || text_of(*reply) != text) ++*mismatches;
    }
  };
  int bad_a = 0;
  int bad_b = 0;
  std::thread a(worker, "alice", &bad_a);
  std::thread b(worker, "bob", &bad_b);
  a.join();
  b.join();
  EXPECT_EQ(bad_a, 0);
  EXPECT_EQ(bad_b, 0);
}

TEST_F(ClientTest, ClientKilledMidStreamDoesNotDisturbOthers) {
  launch_active("echo", "e");
  const std::string socket = daemon_.socket();
  const pid_t child = ::fork();
  if (child == 0) {
    auto c = client::connect(socket, "doomed");
    if (!c) ::_exit(1);
    // Floods until killed; bounded in time in case the test dies first.
    const auto until = deadline::after_ns(120'000'000'000);
    while (!until.expired()) (void)c->send("e", bytes_of("flood"), {.ack = false});
    ::_exit(3);
  }
  const child_reaper reap_child{child};
  // Let the child get going (its messages show up in the kernel's counters).
  ASSERT_TRUE(wait_until([&] {
    auto st = sut_->status("e");
    return st && st->messages_in > 1000;
  }));
  ::kill(child, SIGKILL);
  auto reply = sut_->request("e", bytes_of("still here"), k_wait_ns);
  ASSERT_TRUE(reply) << reply.err().what();
  EXPECT_EQ(text_of(*reply), "still here");
  EXPECT_TRUE(daemon_.ready());
}

TEST_F(ClientTest, BlockPolicyTimesOutWhenTheQueueStaysFull) {
  launch_options opts;
  opts.capacity = 2;
  opts.block_timeout_ms = 100;
  launch("echo", "slow", opts);
  ASSERT_TRUE(sut_->send("slow", bytes_of("1")));
  ASSERT_TRUE(sut_->send("slow", bytes_of("2")));
  auto third = sut_->send("slow", bytes_of("3"));
  ASSERT_FALSE(third);
  EXPECT_EQ(third.code(), errc::timeout);
  auto st = sut_->status("slow");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->rejected, 1U);
  EXPECT_EQ(st->queue_depth, 2U);
  ASSERT_TRUE(sut_->activate("slow"));
  for (const char* want : {"1", "2"}) {
    auto m = sut_->receive(k_wait_ns);
    ASSERT_TRUE(m);
    EXPECT_EQ(text_of(*m), want);
  }
}

TEST_F(ClientTest, BlockedSenderProceedsWhenSpaceFrees) {
  launch_options opts;
  opts.capacity = 1;
  opts.block_timeout_ms = 60'000;
  launch("echo", "gate", opts);
  ASSERT_TRUE(sut_->send("gate", bytes_of("first")));
  // A second client blocks on the full queue until this one activates the kernel.
  std::atomic<int> outcome{-1};
  std::thread blocked([&] {
    auto c = client::connect(daemon_.socket(), "blocked");
    if (!c) return;
    auto r = c->send("gate", bytes_of("second"));
    outcome.store(static_cast<int>(r.code()));
  });
  ASSERT_TRUE(wait_until([&] { return daemon_.log().find("blocked: kernel 'gate'") != std::string::npos; }));
  ASSERT_TRUE(sut_->activate("gate"));
  blocked.join();
  EXPECT_EQ(outcome.load(), static_cast<int>(errc::ok));
}

TEST_F(ClientTest, TerminateWithDropAnswersQueuedRequestsWithAnError) {
  launch("echo", "e");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(sut_->send("e", bytes_of("pending")));
  ASSERT_TRUE(sut_->terminate("e", /*drop=*/true));
  for (int i = 0; i < 3; ++i) {
    auto m = sut_->receive(k_wait_ns);
    ASSERT_TRUE(m) << m.err().what();
    EXPECT_TRUE(m->is_error());
    EXPECT_NE(text_of(*m).find("terminated"), std::string::npos) << text_of(*m);
  }
}

TEST_F(ClientTest, TerminateDrainsQueuedMessagesByDefault) {
  launch("echo", "e");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(sut_->send("e", bytes_of("d" + std::to_string(i))));
  ASSERT_TRUE(sut_->terminate("e"));
  for (int i = 0; i < 3; ++i) {
    auto m = sut_->receive(k_wait_ns);
    ASSERT_TRUE(m) << m.err().what();
    EXPECT_FALSE(m->is_error());
    EXPECT_EQ(text_of(*m), "d" + std::to_string(i));
  }
}

TEST_F(ClientTest, DaemonDeathGivesPeerGoneNotAHang) {
  launch_active("echo", "e");
  daemon_.stop(SIGKILL);
  auto r = sut_->request("e", bytes_of("anyone?"), k_wait_ns);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), errc::peer_gone);
}

#ifdef PDC_HAVE_CUDA
// The cuda tier through a real pdcd (docs/cuda.md): on a machine without a
// GPU the launch says why it cannot run, and pdcd goes on; with one, the
// GPU echo and vector_add kernels serve an attachment from the device.
class CudaTierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(daemon_.ready()) << daemon_.log();
    auto c = client::connect(daemon_.socket(), "test");
    ASSERT_TRUE(c) << c.err().what();
    sut_.emplace(std::move(c).value());
  }
  daemon_process daemon_{{"--load", "pdc_cuda.so", "--load", "pdc_echo.so"}};
  std::optional<client> sut_;
};

TEST_F(CudaTierTest, ALaunchRunsOnTheGpuOrSaysWhyItCannotAndPdcdGoesOn) {
  launch_options o;
  o.kernel_type = "echo_cuda";
  o.kernel_id = "g";
  o.tier = kernel_tier::cuda;
  auto launched = sut_->launch(o);
  if (!launched) {
    const auto what = launched.err().what();
    EXPECT_EQ(launched.code(), errc::not_supported) << what;
    EXPECT_EQ(what.rfind("cannot launch kernel 'g' on tier cuda: ", 0), 0U) << what;
    EXPECT_TRUE(what.find("no CUDA driver on this machine") != std::string::npos ||
                what.find("no CUDA device is present") != std::string::npos ||
                what.find("the CUDA driver") != std::string::npos)
        << what;
    // The GPU type on a CPU tier is refused naming the tier it has.
    o.tier = kernel_tier::spin;
    auto cpu = sut_->launch(o);
    ASSERT_FALSE(cpu);
    EXPECT_EQ(cpu.err().what(), "kernel type 'echo_cuda' cannot run on tier spin: it runs on cuda");
    // pdcd goes on serving everything else.
    launch_options e;
    e.kernel_type = "echo";
    e.kernel_id = "e";
    ASSERT_TRUE(sut_->launch(e));
    ASSERT_TRUE(sut_->activate("e"));
    auto r = sut_->request("e", bytes_of("still here"), k_wait_ns);
    ASSERT_TRUE(r) << r.err().what();
    EXPECT_EQ(text_of(*r), "still here");
    GTEST_SKIP() << "no GPU here: " << what;
  }
  ASSERT_TRUE(sut_->activate("g"));
  auto a = sut_->attach("g");
  ASSERT_TRUE(a) << a.err().what();
  for (std::size_t i = 0; i < 2000; ++i) {
    const std::string text(1 + i % 700, static_cast<char>('a' + i % 26));
    auto r = a->request(bytes_of(text), k_wait_ns);
    ASSERT_TRUE(r) << i << ": " << r.err().what();
    ASSERT_EQ(text_of(*r), text) << i;
  }
  // The socket path does not reach the GPU: refused, saying so.
  auto sent = sut_->request("g", bytes_of("x"), k_wait_ns);
  ASSERT_FALSE(sent);
  EXPECT_NE(sent.err().what().find("serves attached clients' rings only"), std::string::npos) << sent.err().what();
  auto st = sut_->status("g");
  ASSERT_TRUE(st) << st.err().what();
  EXPECT_EQ(st->processed, 2000U);
  // vector_add on the GPU: a then b, the sums back.
  o.kernel_type = "vector_add_cuda";
  o.kernel_id = "v";
  ASSERT_TRUE(sut_->launch(o));
  ASSERT_TRUE(sut_->activate("v"));
  auto v = sut_->attach("v");
  ASSERT_TRUE(v) << v.err().what();
  std::vector<float> ab(2 * 1000);
  for (std::size_t i = 0; i < 1000; ++i) {
    ab[i] = static_cast<float>(i);
    ab[1000 + i] = 0.5F * static_cast<float>(i);
  }
  auto sums = v->request(std::as_bytes(std::span(ab)), k_wait_ns);
  ASSERT_TRUE(sums) << sums.err().what();
  ASSERT_EQ(sums->payload.size(), 4000U);
  for (std::size_t i = 0; i < 1000; i += 97) {
    float s = 0;
    std::memcpy(&s, sums->payload.data() + 4 * i, 4);
    EXPECT_EQ(s, 1.5F * static_cast<float>(i)) << i;
  }
  auto odd = v->request(std::as_bytes(std::span(ab.data(), 3)), k_wait_ns);
  ASSERT_FALSE(odd);
  EXPECT_NE(odd.err().what().find("the device handler failed"), std::string::npos) << odd.err().what();
  (void)a->detach();
  (void)v->detach();
  EXPECT_TRUE(sut_->terminate("g"));
  EXPECT_TRUE(sut_->terminate("v"));
}
#endif

}  // namespace
}  // namespace pdc::test
