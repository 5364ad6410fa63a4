// The runtime's promises against a real pdcd: dead letters instead of handler
// errors, senders that want no reply, named pools shared by kernels, a
// terminate that never holds the control thread, and a SIGTERM that drains
// every kernel and exits even when a handler never returns.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>

#include "harness.hpp"
#include "messages.hpp"
#include "pdc/client.hpp"
#include "pdc/core/clock.hpp"

namespace pdc::test {
namespace {

constexpr std::int64_t k_wait_ns = 20'000'000'000;
const std::string k_contract = std::string(PDC_TEST_PLUGINS_DIR) + "/pdc_test_contract.so";

launch_options echo_named(const char* id) {
  launch_options o;
  o.kernel_type = "echo";
  o.kernel_id = id;
  return o;
}

client connect(const daemon_process& d, const char* name) {
  auto c = client::connect(d.socket(), name);
  EXPECT_TRUE(c) << c.err().what();
  return std::move(c).value();
}

// A config file in its own folder (removed with it).
class config_file {
 public:
  explicit config_file(const std::string& toml) : path_(dir_.path() + "/pdcd.toml") { std::ofstream(path_) << toml; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  temp_dir dir_;
  std::string path_;
};

TEST(Runtime, AReplyWhoseSenderLeftIsADeadLetterForTheSubscribersNotAHandlerError) {
  daemon_process d{{"--load", "pdc_echo.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto admin = connect(d, "admin");
  ASSERT_TRUE(admin.launch(echo_named("echo")));
  ASSERT_TRUE(admin.subscribe("echo"));
  {
    auto leaving = connect(d, "leaving");
    ASSERT_TRUE(leaving.send("echo", bytes("for nobody")));  // queued: not active yet
  }                                                          // its session ends here

  ASSERT_TRUE(admin.activate("echo"));
  auto letter = admin.receive(k_wait_ns);

  ASSERT_TRUE(letter) << letter.err().what();
  EXPECT_EQ(text(*letter), "for nobody");
  ASSERT_TRUE(wait_until([&] { return admin.status("echo")->dead_letters == 1; }));
  const auto s = admin.status("echo");
  EXPECT_EQ(s->handler_errors, 0U);
  EXPECT_EQ(s->last_error, "");
}

TEST(Runtime, PdcctlSendWithoutWaitingMakesTheAnswerAnOutput) {
  daemon_process d{{"--load", "pdc_echo.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto watcher = connect(d, "watcher");
  ASSERT_EQ(d.pdcctl({"launch", "echo", "--id", "echo"}).exit_code, 0);
  ASSERT_TRUE(watcher.subscribe("echo"));

  ASSERT_EQ(d.pdcctl({"send", "echo", "--data", "later"}).exit_code, 0);
  ASSERT_EQ(d.pdcctl({"activate", "echo"}).exit_code, 0);

  auto out = watcher.receive(k_wait_ns);
  ASSERT_TRUE(out) << out.err().what();
  EXPECT_EQ(text(*out), "later");
  EXPECT_FALSE(out->is_reply());
  const auto status = d.pdcctl({"status", "echo"});
  EXPECT_NE(status.out.find("errors        0"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("dead letters  0"), std::string::npos) << status.out;
}

TEST(Runtime, KernelsShareANamedPoolAndKeepTheirOwnMetrics) {
  config_file cfg("[[pool]]\nname = \"workers\"\nthreads = 2\n");
  daemon_process d{{"--config", cfg.path(), "--load", "pdc_echo.so", "--load", "pdc_counter.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto c = connect(d, "pool-test");
  launch_options a;
  a.kernel_type = "echo";
  a.kernel_id = "a";
  a.tier = kernel_tier::pool;
  a.pool = "workers";
  a.workers = 2;
  ASSERT_TRUE(c.launch(a));
  launch_options b = a;
  b.kernel_type = "counter";
  b.kernel_id = "b";
  b.workers = 1;
  ASSERT_TRUE(c.launch(b));
  ASSERT_TRUE(c.activate("a"));
  ASSERT_TRUE(c.activate("b"));

  auto ra = c.attach("a");
  auto ra2 = c.attach("a");  // the second attachment lands on a's other agent
  auto rb = c.attach("b");
  ASSERT_TRUE(ra && ra2 && rb);
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(text(*ra->request(bytes("x"), k_wait_ns)), "x");
    ASSERT_EQ(text(*ra2->request(bytes("y"), k_wait_ns)), "y");
  }
  std::int64_t count = 0;
  for (int i = 0; i < 7; ++i) {
    auto r = rb->request(bytes("n"), k_wait_ns);
    ASSERT_TRUE(r) << r.err().what();
    std::memcpy(&count, r->payload.data(), sizeof count);
  }

  EXPECT_EQ(count, 7);
  EXPECT_EQ(c.status("a")->processed, 100U);
  EXPECT_EQ(c.status("a")->workers, 2U);
  EXPECT_EQ(c.status("a")->pool, "workers");
  EXPECT_EQ(c.status("b")->processed, 7U);
  auto pools = c.pools();
  ASSERT_TRUE(pools);
  ASSERT_EQ(pools->size(), 1U);
  EXPECT_EQ((*pools)[0].threads, 2U);
  EXPECT_EQ((*pools)[0].kernels, (std::vector<std::string>{"a", "b"}));
  const auto listed = d.pdcctl({"pools"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("workers"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("a,b"), std::string::npos) << listed.out;
}

TEST(Runtime, ALaunchOnAnUnknownPoolNamesThePoolsThereAre) {
  daemon_process d{{"--load", "pdc_echo.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  const auto r = d.pdcctl({"launch", "echo", "--id", "e", "--tier", "pool", "--pool", "gpu"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no pool named 'gpu' (pools: none"), std::string::npos) << r.err;
}

TEST(Runtime, TerminateOfABusyKernelDoesNotHoldOtherClientsBack) {
  daemon_process d{{"--load", k_contract}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto admin = connect(d, "admin");
  launch_options o;
  o.kernel_type = "contract";
  o.kernel_id = "busy";
  o.tier = kernel_tier::threaded;
  ASSERT_TRUE(admin.launch(o));
  ASSERT_TRUE(admin.activate("busy"));
  auto sender = connect(d, "sender");
  ASSERT_TRUE(sender.send("busy", bytes("sleep:2000")));
  ASSERT_TRUE(wait_until([&] { return admin.status("busy")->messages_in == 1; }));

  std::atomic<bool> terminated{false};
  std::thread t([&] {
    auto terminator = connect(d, "terminator");
    EXPECT_TRUE(terminator.terminate("busy", false, 10'000));
    terminated = true;
  });
  // While the handler sleeps and the terminate drains, the daemon answers.
  const bool seen = wait_until([&] {
    auto s = admin.status("busy");
    return s && s->state == kernel_state::terminating;
  });
  const bool was_pending = !terminated.load();
  t.join();

  EXPECT_TRUE(seen);
  EXPECT_TRUE(was_pending);
  auto reply = sender.receive(k_wait_ns);
  ASSERT_TRUE(reply) << reply.err().what();
  EXPECT_EQ(text(*reply), "slept");  // drained, not dropped
}

TEST(Runtime, SigtermDrainsEveryKernelAndExitsZero) {
  daemon_process d{{"--load", k_contract}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto c = connect(d, "drainer");
  for (const char* id : {"one", "two"}) {
    launch_options o;
    o.kernel_type = "contract";
    o.kernel_id = id;
    o.tier = kernel_tier::threaded;
    ASSERT_TRUE(c.launch(o));
    ASSERT_TRUE(c.activate(id));
    ASSERT_TRUE(c.send(id, bytes("sleep:300")));
  }
  ASSERT_TRUE(wait_until([&] { return c.status("one")->messages_in == 1 && c.status("two")->messages_in == 1; }));

  EXPECT_EQ(d.stop(SIGTERM), 0);

  const auto log = d.log();
  EXPECT_NE(log.find("kernel 'one' terminated (1 processed"), std::string::npos) << log;
  EXPECT_NE(log.find("kernel 'two' terminated (1 processed"), std::string::npos) << log;
}

// Launches a threaded contract kernel `id` and keeps its handler busy for ten minutes.
void busy_for_ever(client& c, const std::string& id) {
  launch_options o;
  o.kernel_type = "contract";
  o.kernel_id = id;
  o.tier = kernel_tier::threaded;
  ASSERT_TRUE(c.launch(o));
  ASSERT_TRUE(c.activate(id));
  ASSERT_TRUE(c.send(id, bytes("sleep:600000")));
  ASSERT_TRUE(wait_until([&] { return c.status(id)->messages_in == 1; }));
}

TEST(Runtime, AHandlerThatNeverReturnsDoesNotKeepSigtermWaiting) {
  config_file cfg("drain_timeout_ms = 300\n");
  daemon_process d{{"--config", cfg.path(), "--load", k_contract}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto c = connect(d, "stuck");
  ASSERT_NO_FATAL_FAILURE(busy_for_ever(c, "stuck"));

  EXPECT_EQ(d.stop(SIGTERM), 0);

  EXPECT_NE(d.log().find("kernels still running a handler"), std::string::npos) << d.log();
}

TEST(Runtime, ATerminateWhoseHandlerNeverReturnsReportsTheKernelStuck) {
  config_file cfg("drain_timeout_ms = 300\n");
  daemon_process d{{"--config", cfg.path(), "--load", k_contract}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto c = connect(d, "stuck");
  ASSERT_NO_FATAL_FAILURE(busy_for_ever(c, "stuck"));

  const auto r = c.terminate("stuck", false, 100);  // drains 100 ms, then the 2 s grace

  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), errc::timeout);
  EXPECT_NE(r.err().what().find("kernel 'stuck' is stuck: a handler has not returned"), std::string::npos)
      << r.err().what();
  const auto s = c.status("stuck");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->stuck);
  EXPECT_EQ(s->state, kernel_state::terminating);
  const auto m = c.metrics("stuck", metrics_format::prometheus);
  ASSERT_TRUE(m);
  EXPECT_NE(m->text.find("pdc_kernel_stuck{kernel=\"stuck\""), std::string::npos);
  EXPECT_NE(m->text.find("} 1\n", m->text.find("pdc_kernel_stuck{")), std::string::npos);
  EXPECT_NE(d.log().find("the kernel is stuck"), std::string::npos) << d.log();
  EXPECT_FALSE(c.request("stuck", bytes("x"), 1'000'000'000));  // it takes nothing new
  EXPECT_EQ(d.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace pdc::test
