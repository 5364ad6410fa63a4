// Each attack of pdc-hostile (tests/security/hostile.cpp) against a real
// pdcd, and what must hold afterwards (docs/security.md): an honest client
// still gets its echo replies, over the socket and through an attachment;
// the daemon's CPU returns to idle; its memory and descriptors stay bounded;
// SIGTERM still makes it exit 0. The bounds are generous on purpose (a slow
// shared machine, sanitizer builds): they catch a frozen, spinning or
// leaking daemon, not a slow one.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/harness.hpp"
#include "integration/messages.hpp"
#include "pdc/client.hpp"

namespace pdc::test {
namespace {

constexpr std::int64_t k_reply_bound_ns = 10'000'000'000;  // an honest reply, even on a loaded machine
constexpr double k_idle_cpu_share = 0.35;                  // of one core, over a second
constexpr long k_max_rss_kib = 768 * 1024;                 // sanitizer builds included
constexpr std::size_t k_max_fds = 400;
constexpr auto k_exit_bound = std::chrono::seconds(15);

// pdc-hostile running one attack; its stdout is read line by line.
class hostile {
 public:
  hostile(const std::string& socket, const std::string& attack, const std::string& kernel,
          std::vector<std::string> extra = {}) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      std::vector<std::string> argv{PDC_HOSTILE_PATH, socket, attack, kernel};
      argv.insert(argv.end(), extra.begin(), extra.end());
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(out[1]);
    out_ = ::fdopen(out[0], "r");
  }
  ~hostile() {
    stop();
    if (out_ != nullptr) std::fclose(out_);
  }
  hostile(const hostile&) = delete;
  hostile& operator=(const hostile&) = delete;

  /// Reads lines until one starts with "ready" (true) or the program ends (false).
  bool wait_ready() { return wait_for("ready"); }
  /// Reads lines until one starts with `prefix` (true) or the program ends (false).
  bool wait_for(std::string_view prefix) {
    char line[4096];
    while (std::fgets(line, sizeof line, out_) != nullptr) {
      seen_ += line;
      if (std::string_view(line).rfind(prefix, 0) == 0) return true;
    }
    return false;
  }
  /// Everything it printed so far.
  [[nodiscard]] const std::string& seen() const { return seen_; }
  /// Kills it (a client that dies at any instant) and reaps it.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  std::string seen_;
};

// CPU time (user + system) of a process, in seconds.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close_paren = text.rfind(')');
  std::istringstream fields(text.substr(close_paren + 2));
  std::string f;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  // After the name: state is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && (fields >> f); ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

std::size_t open_fds(pid_t pid) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
    ++n;
  return n;
}

class HostileTest : public ::testing::Test {
 protected:
  // pdcd with echo, vector_add and the contract kernel loaded, small limits
  // where a test says so, and two kernels: "honest" (async) and "victim".
  void start(const std::string& limits = "", const std::string& victim_type = "echo",
             kernel_tier victim_tier = kernel_tier::threaded, backpressure_policy policy = backpressure_policy::block,
             std::uint32_t capacity = 0) {
    std::ofstream(cfg_.path() + "/pdcd.toml") << "drain_timeout_ms = 500\n" << limits;
    // Under AddressSanitizer freed memory waits in a quarantine (256 MiB by
    // default) before it is reused, which would read as growth: keep it
    // small for the daemon, so its RSS says what it really holds. (Nothing
    // reads the variable in other builds.)
    const char* asan = std::getenv("ASAN_OPTIONS");
    const bool had_options = asan != nullptr;
    const std::string saved = had_options ? asan : "";
    ::setenv("ASAN_OPTIONS", (saved + (saved.empty() ? "" : ":") + "quarantine_size_mb=8").c_str(), 1);
    daemon_ = std::make_unique<daemon_process>(
        std::vector<std::string>{"--config", cfg_.path() + "/pdcd.toml", "--load", "pdc_echo.so", "--load",
                                 "pdc_vector_add.so", "--load", "pdc_echo_loop.so", "--load", "pdc_test_contract.so"});
    if (had_options) {
      ::setenv("ASAN_OPTIONS", saved.c_str(), 1);
    } else {
      ::unsetenv("ASAN_OPTIONS");
    }
    ASSERT_TRUE(daemon_->ready()) << daemon_->log();
    // Others may reach the socket (take-over runs as nobody).
    ::chmod(daemon_->dir().c_str(), 0755);
    ::chmod(daemon_->socket().c_str(), 0666);
    auto c = client::connect(daemon_->socket(), "honest");
    ASSERT_TRUE(c) << c.err().what();
    honest_.emplace(std::move(c).value());
    launch_options h;
    h.kernel_type = "echo";
    h.kernel_id = "honest";
    ASSERT_TRUE(honest_->launch(h));
    ASSERT_TRUE(honest_->activate("honest"));
    launch_options v;
    v.kernel_type = victim_type;
    v.kernel_id = "victim";
    v.tier = victim_tier;
    v.backpressure = policy;
    v.capacity = capacity;
    auto launched = honest_->launch(v);
    ASSERT_TRUE(launched) << launched.err().what();
    ASSERT_TRUE(honest_->activate("victim"));
  }

  // The daemon is unharmed: honest replies (socket, and an attachment to
  // `attach_to` if given), idle CPU, bounded memory and descriptors.
  void expect_unharmed(const std::string& attach_to = "victim", std::size_t max_fds = k_max_fds) {
    ASSERT_TRUE(daemon_ && honest_);
    auto reply = honest_->request("honest", bytes("ping"), k_reply_bound_ns);
    ASSERT_TRUE(reply) << reply.err().what() << "\n" << daemon_->log();
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(reply->payload.data()), reply->payload.size()), "ping");
    if (!attach_to.empty()) {
      auto att = honest_->attach(attach_to);
      ASSERT_TRUE(att) << att.err().what();
      auto r = att->request(bytes("still here"), k_reply_bound_ns);
      ASSERT_TRUE(r) << r.err().what() << "\n" << daemon_->log();
    }
    // A new client connects and is served too.
    auto fresh = client::connect(daemon_->socket(), "fresh");
    ASSERT_TRUE(fresh) << fresh.err().what();
    EXPECT_TRUE(fresh->request("honest", bytes("new"), k_reply_bound_ns));

    const pid_t pid = daemon_->pid();
    const double before = cpu_seconds(pid);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const double used = cpu_seconds(pid) - before;
    EXPECT_LT(used, k_idle_cpu_share) << "pdcd used " << used << " s of CPU in an idle second";
    EXPECT_LT(rss_kib(pid), k_max_rss_kib);
    EXPECT_LT(open_fds(pid), max_fds);
  }

  void expect_clean_exit() {
    ASSERT_TRUE(daemon_);
    honest_.reset();
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(daemon_->stop(SIGTERM), 0) << daemon_->log();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, k_exit_bound);
  }

  temp_dir cfg_;
  std::unique_ptr<daemon_process> daemon_;
  std::optional<client> honest_;
};

TEST_F(HostileTest, AWriteIndexBehindTheReadIndexDetachesThatAttachmentAlone) {
  start();
  hostile h(daemon_->socket(), "padding-freeze", "victim");
  ASSERT_TRUE(h.wait_ready()) << h.seen();

  expect_unharmed();  // while the attacker stays attached
  EXPECT_TRUE(wait_until([&] { return daemon_->log().find("corrupt") != std::string::npos; })) << daemon_->log();
  EXPECT_GE(honest_->status("victim")->malformed, 1U);  // counted
  expect_clean_exit();
}

TEST_F(HostileTest, AShedCounterStormOnAThreadedKernelCostsBoundedWork) {
  start("", "echo", kernel_tier::threaded, backpressure_policy::drop_oldest, 64);
  hostile h(daemon_->socket(), "shed-storm", "victim", {"--seconds", "1"});
  ASSERT_TRUE(h.wait_ready()) << h.seen();
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // the storm is over, the attacker holds on

  expect_unharmed();
  expect_clean_exit();
}

TEST_F(HostileTest, AShedCounterStormOnALoopKernelLetsItsWorkerIdle) {
  start("", "echo_loop", kernel_tier::threaded, backpressure_policy::drop_oldest, 64);
  hostile h(daemon_->socket(), "shed-storm", "victim", {"--seconds", "1"});
  ASSERT_TRUE(h.wait_ready()) << h.seen();
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));

  expect_unharmed();
  expect_clean_exit();
}

TEST_F(HostileTest, ABlockingDrainedWakeUpDescriptorHarmsNoOtherAttachment) {
  start();
  hostile h(daemon_->socket(), "doorbell", "victim");
  ASSERT_TRUE(h.wait_ready()) << h.seen();

  // The honest client attaches next (the attach that used to block) to the same kernel.
  expect_unharmed("victim");
  auto att = honest_->attach("victim");
  ASSERT_TRUE(att);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(att->request(bytes("again"), k_reply_bound_ns)) << i;
  expect_clean_exit();
}

TEST_F(HostileTest, AnUndrainedWakeUpSocketNeverBlocksTheKernelThatWritesIt) {
  start();
  hostile h(daemon_->socket(), "wake-socket", "victim", {"--seconds", "60"});
  ASSERT_TRUE(h.wait_ready()) << h.seen();
  // What the client wrote into its end reached nobody: pdcd's end is shut for reading.
  EXPECT_NE(h.seen().find("write refused"), std::string::npos) << h.seen();
  // Every reply was still made, each with a byte sent (or refused as full)
  // into a socket nobody read: the kernel went on, and lost nothing.
  EXPECT_NE(h.seen().find("ready: sent 5000 replied 5000"), std::string::npos) << h.seen();
  expect_unharmed("victim");
  expect_clean_exit();
}

TEST_F(HostileTest, AnotherUserCannotLoadCodeOrTouchOthersKernels) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the attacker runs as uid 65534";
  temp_dir marks;
  ::chmod(marks.path().c_str(), 0777);
  const std::string marker = marks.path() + "/evil-ran";
  ::setenv("PDC_EVIL_MARKER", marker.c_str(), 1);  // inherited by the daemon started next
  start();
  ::unsetenv("PDC_EVIL_MARKER");
  hostile h(daemon_->socket(), "take-over", PDC_EVIL_PLUGIN, {"--as", "65534"});
  ASSERT_TRUE(h.wait_ready()) << h.seen();

  const auto& seen = h.seen();
  EXPECT_NE(seen.find("load permission_denied: uid 65534 may not load plugin"), std::string::npos) << seen;
  EXPECT_NE(seen.find("load-bare permission_denied"), std::string::npos) << seen;
  EXPECT_NE(seen.find("terminate permission_denied: uid 65534 may not terminate kernel 'honest'"), std::string::npos)
      << seen;
  EXPECT_NE(seen.find("attach permission_denied: uid 65534 may not attach kernel 'honest'"), std::string::npos) << seen;
  EXPECT_NE(seen.find("subscribe permission_denied"), std::string::npos) << seen;
  EXPECT_NE(seen.find("connect permission_denied"), std::string::npos) << seen;
  EXPECT_FALSE(std::filesystem::exists(marker)) << "the library's constructor ran inside pdcd";
  // Not even an administrator may load it: it lies outside the plugin folders.
  const auto admin_load = honest_->plugin_load(PDC_EVIL_PLUGIN);
  ASSERT_FALSE(admin_load);
  EXPECT_EQ(admin_load.code(), errc::permission_denied);
  EXPECT_FALSE(std::filesystem::exists(marker));
  expect_unharmed();
  expect_clean_exit();
}

TEST_F(HostileTest, LengthsFlippedWhileAHandlerRunsNeverMakeItReadPastTheRequest) {
  start("", "vector_add", kernel_tier::threaded);
  hostile h(daemon_->socket(), "payload-flip", "victim", {"--seconds", "2"});
  ASSERT_TRUE(h.wait_ready()) << h.seen();
  ASSERT_TRUE(h.wait_for("sent ")) << h.seen();  // its report, once the flipping is over

  EXPECT_NE(h.seen().find("foreign 0\n"), std::string::npos) << h.seen();
  expect_unharmed("honest");
  expect_clean_exit();
}

TEST_F(HostileTest, AClientThatNeverReadsCannotMakeTheDaemonBufferWithoutBound) {
  start("[limits]\nsession_buffer_bytes = 1048576\n");
  hostile h(daemon_->socket(), "never-read", "honest", {"--seconds", "3"});
  ASSERT_TRUE(h.wait_ready()) << h.seen();

  EXPECT_NE(h.seen().find("blocked"), std::string::npos) << h.seen();
  EXPECT_LT(rss_kib(daemon_->pid()), 256 * 1024) << h.seen();
  expect_unharmed();
  expect_clean_exit();
}

TEST_F(HostileTest, LaunchesThatAskForTooMuchAreRefusedAtTheLimits) {
  start("[limits]\nmax_kernels = 40\nmax_kernel_threads = 130\n");
  hostile h(daemon_->socket(), "huge-launches", "victim");
  ASSERT_TRUE(h.wait_ready()) << h.seen();

  const auto& seen = h.seen();
  EXPECT_NE(seen.find("capacity limit_reached: cannot launch kernel 'huge': capacity 4294967295 x "
                      "max_message_bytes 65536"),
            std::string::npos)
      << seen;
  EXPECT_NE(seen.find("pool 2 limit_reached: cannot launch kernel 'pool2': it needs 64 thread(s)"), std::string::npos)
      << seen;
  EXPECT_NE(seen.find("limit_reached: cannot launch kernel 'k"), std::string::npos) << seen;
  EXPECT_NE(seen.find("its limit ([limits] max_kernels)"), std::string::npos) << seen;
  auto metrics = honest_->metrics("", metrics_format::prometheus);
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->text.find("pdc_daemon_limit_refusals_total{limit=\"kernels\"} 1"), std::string::npos);
  EXPECT_NE(metrics->text.find("pdc_daemon_limit_refusals_total{limit=\"queue_bytes\"} 1"), std::string::npos);
  expect_unharmed();
  expect_clean_exit();
}

TEST_F(HostileTest, ATerminateWithTheLongestTimeoutNeitherStallsOthersNorSigterm) {
  start("", "contract", kernel_tier::threaded);
  hostile h(daemon_->socket(), "terminate-forever", "victim");
  ASSERT_TRUE(h.wait_ready()) << h.seen();

  expect_unharmed("");  // the victim is draining: nothing to attach to
  expect_clean_exit();
}

TEST_F(HostileTest, DescriptorsAClientSendsAreRefusedAndClosed) {
  start();
  hostile h(daemon_->socket(), "send-fds", "victim");
  ASSERT_TRUE(h.wait_ready()) << h.seen();

  EXPECT_NE(h.seen().find("first protocol_error: frame carried 200 file descriptors; pdcd accepts none from clients"),
            std::string::npos)
      << h.seen();
  EXPECT_NE(h.seen().find("refused 50"), std::string::npos) << h.seen();
  EXPECT_TRUE(wait_until([&] { return open_fds(daemon_->pid()) < 100; }));  // all 10,000 closed
  expect_unharmed();
  expect_clean_exit();
}

TEST_F(HostileTest, ConnectionsBeyondTheLimitAreRefusedAndTheOthersServed) {
  start("[limits]\nmax_sessions = 16\n");
  hostile h(daemon_->socket(), "connect-flood", "victim");
  ASSERT_TRUE(h.wait_ready()) << h.seen();

  EXPECT_NE(h.seen().find("limit_reached: pdcd serves 16 clients, its limit ([limits] max_sessions)"),
            std::string::npos)
      << h.seen();
  // The honest client, connected before, is served; once the flood ends, newcomers are too.
  auto reply = honest_->request("honest", bytes("ping"), k_reply_bound_ns);
  ASSERT_TRUE(reply) << reply.err().what();
  h.stop();
  ASSERT_TRUE(wait_until([&] { return client::connect(daemon_->socket()).has_value(); }));
  expect_unharmed();
  expect_clean_exit();
}

TEST_F(HostileTest, AttachmentsBeyondTheLimitsAreRefused) {
  start("[limits]\nmax_attachments_per_session = 8\nmax_attachments = 12\n");
  hostile h(daemon_->socket(), "attach-flood", "victim");
  ASSERT_TRUE(h.wait_ready()) << h.seen();

  EXPECT_NE(h.seen().find("attach 8 limit_reached: cannot attach to kernel 'victim': this connection holds 8"),
            std::string::npos)
      << h.seen();
  EXPECT_NE(h.seen().find("attach 12 limit_reached: cannot attach to kernel 'victim': pdcd has 12 attachments"),
            std::string::npos)
      << h.seen();
  h.stop();  // its attachments go with it
  expect_unharmed();
  expect_clean_exit();
}

TEST_F(HostileTest, GarbageFramesAreAnsweredAndChangeNothing) {
  start();
  hostile h(daemon_->socket(), "garbage", "victim");
  ASSERT_TRUE(h.wait_ready()) << h.seen();

  EXPECT_NE(h.seen().find("answered 2000"), std::string::npos) << h.seen();
  expect_unharmed();
  expect_clean_exit();
}

TEST_F(HostileTest, AThousandKernelsListAndExport) {
  start("[limits]\nmax_kernels = 1100\n");
  for (int i = 0; i < 1000; ++i) {
    launch_options o;
    o.kernel_type = "echo";
    o.kernel_id = "many-" + std::to_string(1000 + i);
    ASSERT_TRUE(honest_->launch(o)) << i;
  }

  const auto listed = honest_->list();
  ASSERT_TRUE(listed) << listed.err().what();
  EXPECT_EQ(listed->size(), 1002U);
  const auto structured = honest_->metrics();
  ASSERT_TRUE(structured) << structured.err().what();
  EXPECT_EQ(structured->kernels.size(), 1002U);
  const auto text = honest_->metrics("", metrics_format::prometheus);
  ASSERT_TRUE(text) << text.err().what();
  EXPECT_GT(text->text.size(), 100'000U);
  EXPECT_NE(text->text.find("pdc_kernel_processed_total{kernel=\"many-1999\""), std::string::npos);
  EXPECT_NE(text->text.find("pdc_daemon_kernels 1002"), std::string::npos);
  // One family per name: the pages are one text, not texts glued together.
  std::size_t headers = 0;
  for (std::size_t at = 0; (at = text->text.find("# TYPE pdc_kernel_processed_total ", at)) != std::string::npos;
       ++at) {
    ++headers;
  }
  EXPECT_EQ(headers, 1U);
  expect_unharmed("victim", k_max_fds + 3 * 1000);  // an async kernel holds three: its doorbell's two and the loop's
  expect_clean_exit();
}

}  // namespace
}  // namespace pdc::test
