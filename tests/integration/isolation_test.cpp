// Process isolation against a real pdcd (docs/isolation.md): a kernel whose
// plugin crashes takes down only its pdc-kernel-host; its clients get
// kernel_restarted for what was in flight, then service again from a new
// host without re-attaching; a crash loop ends in `failed`; a crash in
// create() fails that launch alone; a hang is killed; everything else keeps
// being served, and nothing leaks.
#include <dirent.h>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "harness.hpp"
#include "messages.hpp"
#include "pdc/client.hpp"

namespace pdc::test {
namespace {

constexpr std::int64_t k_wait_ns = 20'000'000'000;

client connect(const daemon_process& d, const char* name) {
  auto c = client::connect(d.socket(), name);
  EXPECT_TRUE(c) << c.err().what();
  return std::move(c).value();
}

launch_options crasher(const char* id, kernel_tier tier, std::string config = {}) {
  launch_options o;
  o.kernel_type = "crasher";
  o.kernel_id = id;
  o.tier = tier;
  o.isolation = kernel_isolation::process;
  o.config = std::move(config);
  return o;
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

std::size_t open_fds(pid_t pid) {
  std::size_t n = 0;
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

// True once `pid` has ended (gone, or a zombie nobody reaped yet).
bool process_gone(int pid) {
  const char state = read_proc_stat(pid).state;
  return state == 0 || state == 'Z';
}

bool sanitized() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

struct crash_case {
  kernel_tier tier;
  const char* command;
  const char* exit_text;  // how pdcd describes the host's end (unsanitized builds)
};

std::string case_name(const testing::TestParamInfo<crash_case>& info) {
  return std::string(to_string(info.param.tier)) + "_" + info.param.command;
}

class CrashTest : public testing::TestWithParam<crash_case> {};

TEST_P(CrashTest, TheHostRestartsAloneAndTheSameAttachmentIsServedAgain) {
  const auto& c = GetParam();
  daemon_process d{{"--load", "pdc_test_crasher.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto admin = connect(d, "admin");
  auto launched = admin.launch(crasher("k", c.tier));
  ASSERT_TRUE(launched) << launched.err().what();
  ASSERT_TRUE(admin.activate("k"));
  auto a = admin.attach("k");
  ASSERT_TRUE(a) << a.err().what();
  auto first = a->request(bytes("count"), k_wait_ns);
  ASSERT_TRUE(first) << first.err().what();
  EXPECT_EQ(text(*first), "1");
  const auto pid_before = admin.status("k")->host_pid;
  EXPECT_GT(pid_before, 0);

  auto crashed = a->request(bytes(c.command), k_wait_ns);

  ASSERT_FALSE(crashed);
  EXPECT_EQ(crashed.code(), errc::kernel_restarted) << crashed.err().what();
  // The same attachment, without re-attaching, is served by a new host (with a new state).
  auto again = a->request(bytes("count"), k_wait_ns);
  ASSERT_TRUE(again) << again.err().what();
  EXPECT_EQ(text(*again), "1");
  ASSERT_TRUE(wait_until([&] { return admin.status("k")->state == kernel_state::active; }));
  const auto s = admin.status("k");
  EXPECT_EQ(s->restarts, 1U);
  EXPECT_NE(s->host_pid, pid_before);
  EXPECT_GT(s->recovery_ns, 0U);
  if (!sanitized()) {
    EXPECT_NE(s->last_exit.find(c.exit_text), std::string::npos) << s->last_exit;
  }
  EXPECT_NE(s->last_error.find("ended by"), std::string::npos) << s->last_error;
  // The socket path is served by the new host too.
  auto over_socket = admin.request("k", bytes("count"), k_wait_ns);
  ASSERT_TRUE(over_socket) << over_socket.err().what();
  EXPECT_EQ(text(*over_socket), "2");
}

INSTANTIATE_TEST_SUITE_P(EveryTierAndCrash, CrashTest,
                         testing::Values(crash_case{kernel_tier::async, "segv", "signal SIGSEGV"},
                                         crash_case{kernel_tier::async, "abort", "signal SIGABRT"},
                                         crash_case{kernel_tier::async, "exit3", "exit code 3"},
                                         crash_case{kernel_tier::threaded, "segv", "signal SIGSEGV"},
                                         crash_case{kernel_tier::threaded, "abort", "signal SIGABRT"},
                                         crash_case{kernel_tier::threaded, "exit3", "exit code 3"},
                                         crash_case{kernel_tier::spin, "segv", "signal SIGSEGV"},
                                         crash_case{kernel_tier::spin, "abort", "signal SIGABRT"},
                                         crash_case{kernel_tier::spin, "exit3", "exit code 3"}),
                         case_name);

TEST(Isolation, ASocketSenderWaitingOnACrashingHostGetsKernelRestarted) {
  daemon_process d{{"--load", "pdc_test_crasher.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto admin = connect(d, "admin");
  ASSERT_TRUE(admin.launch(crasher("k", kernel_tier::threaded)));
  ASSERT_TRUE(admin.activate("k"));

  auto crashed = admin.request("k", bytes("abort"), k_wait_ns);

  ASSERT_FALSE(crashed);
  EXPECT_EQ(crashed.code(), errc::kernel_restarted) << crashed.err().what();
  auto again = admin.request("k", bytes("echo me"), k_wait_ns);
  ASSERT_TRUE(again) << again.err().what();
  EXPECT_EQ(text(*again), "echo me");
}

TEST(Isolation, AnotherKernelsClientStreamsThroughEveryCrashWithoutOneError) {
  config_file cfg("[isolation]\nbackoff_initial_ms = 10\nmax_restarts = 100\n");
  daemon_process d{{"--config", cfg.path(), "--load", "pdc_test_crasher.so", "--load", "pdc_echo.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto admin = connect(d, "admin");
  ASSERT_TRUE(admin.launch(crasher("crashy", kernel_tier::async)));
  ASSERT_TRUE(admin.activate("crashy"));
  launch_options echo;
  echo.kernel_type = "echo";
  echo.kernel_id = "steady";
  echo.isolation = kernel_isolation::process;
  ASSERT_TRUE(admin.launch(echo));
  ASSERT_TRUE(admin.activate("steady"));

  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> replies{0}, errors{0};
  std::string first_error;
  std::thread honest([&] {
    auto c = client::connect(d.socket(), "honest");
    if (!c) {
      errors = 1;
      return;
    }
    auto a = c->attach("steady");
    if (!a) {
      errors = 1;
      return;
    }
    while (!done.load()) {
      auto r = a->request(bytes("ping"), k_wait_ns);
      if (r && text(*r) == "ping") {
        ++replies;
      } else if (errors++ == 0) {
        first_error = r ? "wrong reply " + text(*r) : r.err().what();
      }
    }
  });
  auto crashing = connect(d, "crashing");
  auto a = crashing.attach("crashy");
  ASSERT_TRUE(a) << a.err().what();
  for (int i = 0; i < 5; ++i) {
    auto r = a->request(bytes("segv"), k_wait_ns);
    EXPECT_EQ(r.code(), errc::kernel_restarted);
    auto ok = a->request(bytes("count"), k_wait_ns);  // waits for the new host
    EXPECT_TRUE(ok) << ok.err().what();
  }
  ASSERT_TRUE(wait_until([&] { return replies.load() > 100; }));
  done = true;
  honest.join();

  EXPECT_EQ(errors.load(), 0U) << first_error;
  EXPECT_EQ(admin.status("crashy")->restarts, 5U);
  EXPECT_EQ(admin.status("steady")->restarts, 0U);
}

TEST(Isolation, ACrashLoopEndsInFailedUntilAnAdministratorLaunchesItAgain) {
  config_file cfg("[isolation]\nbackoff_initial_ms = 10\nmax_restarts = 3\nrestart_window_ms = 60000\n");
  daemon_process d{{"--config", cfg.path(), "--load", "pdc_test_crasher.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto admin = connect(d, "admin");
  // Each host aborts 50 ms after its create(): it starts, then dies, again and again.
  ASSERT_TRUE(admin.launch(crasher("loop", kernel_tier::threaded, "crash_in:50")));
  ASSERT_TRUE(admin.activate("loop"));

  ASSERT_TRUE(wait_until([&] { return admin.status("loop")->state == kernel_state::failed; })) << d.log();
  const auto s = admin.status("loop");
  EXPECT_EQ(s->restarts, 3U);
  EXPECT_EQ(s->host_pid, 0);
  EXPECT_NE(s->last_error.find("failed: its host ended 4 times"), std::string::npos) << s->last_error;
  const auto listed = d.pdcctl({"list"});
  EXPECT_NE(listed.out.find("failed"), std::string::npos) << listed.out;
  auto refused = admin.attach("loop");
  EXPECT_EQ(refused.code(), errc::plugin_error);
  auto unanswered = admin.request("loop", bytes("x"), k_wait_ns);
  EXPECT_EQ(unanswered.code(), errc::plugin_error) << unanswered.err().what();

  ASSERT_TRUE(admin.terminate("loop"));
  ASSERT_TRUE(admin.launch(crasher("loop", kernel_tier::threaded)));
  ASSERT_TRUE(admin.activate("loop"));
  auto served = admin.request("loop", bytes("count"), k_wait_ns);
  ASSERT_TRUE(served) << served.err().what();
  EXPECT_EQ(text(*served), "1");
}

TEST(Isolation, ACrashInCreateFailsThatLaunchAloneWithAReason) {
  daemon_process d{{"--load", "pdc_test_crasher.so", "--load", "pdc_echo.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto admin = connect(d, "admin");

  auto launched = admin.launch(crasher("bad", kernel_tier::async, "crash"));

  ASSERT_FALSE(launched);
  EXPECT_EQ(launched.code(), errc::plugin_error);
  EXPECT_NE(launched.err().what().find("ended before it was ready"), std::string::npos) << launched.err().what();
  EXPECT_EQ(admin.status("bad").code(), errc::not_found);
  launch_options echo;
  echo.kernel_type = "echo";
  echo.kernel_id = "echo";
  ASSERT_TRUE(admin.launch(echo));
  ASSERT_TRUE(admin.activate("echo"));
  auto r = admin.request("echo", bytes("still here"), k_wait_ns);
  ASSERT_TRUE(r) << r.err().what();
  EXPECT_TRUE(children_of(d.pid()).empty());
}

TEST(Isolation, AHostThatStopsMakingProgressIsKilledAndRestarted) {
  config_file cfg("[isolation]\nhang_timeout_ms = 400\n");
  daemon_process d{{"--config", cfg.path(), "--load", "pdc_test_crasher.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto admin = connect(d, "admin");
  ASSERT_TRUE(admin.launch(crasher("stuck", kernel_tier::threaded)));
  ASSERT_TRUE(admin.activate("stuck"));
  auto a = admin.attach("stuck");
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->send(bytes("hang")));
  ASSERT_TRUE(a->send(bytes("waiting behind the hang")));

  ASSERT_TRUE(wait_until([&] { return admin.status("stuck")->restarts == 1; })) << d.log();
  ASSERT_TRUE(wait_until([&] { return admin.status("stuck")->state == kernel_state::active; }));
  if (!sanitized()) {
    EXPECT_EQ(admin.status("stuck")->last_exit, "signal SIGKILL");
  }
  // The restart notice in the ring predates this request: it is passed over.
  auto served = a->request(bytes("count"), k_wait_ns);
  ASSERT_TRUE(served) << served.err().what();
  EXPECT_EQ(text(*served), "1");
}

TEST(Isolation, TerminatingAnIsolatedKernelEndsItsHostAndLeaksNothing) {
  daemon_process d{{"--load", "pdc_test_crasher.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto admin = connect(d, "admin");
  // A first kernel and attachment settle the daemon's own descriptors.
  ASSERT_TRUE(admin.launch(crasher("warm", kernel_tier::async)));
  ASSERT_TRUE(admin.terminate("warm"));
  ASSERT_TRUE(wait_until([&] { return children_of(d.pid()).empty(); }));
  const std::size_t fds_before = open_fds(d.pid());

  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(admin.launch(crasher("k", kernel_tier::threaded)));
    ASSERT_TRUE(admin.activate("k"));
    {
      auto a = admin.attach("k");
      ASSERT_TRUE(a);
      EXPECT_EQ(a->request(bytes("segv"), k_wait_ns).code(), errc::kernel_restarted);
      ASSERT_TRUE(a->request(bytes("count"), k_wait_ns));
      EXPECT_EQ(children_of(d.pid()).size(), 1U);
      ASSERT_TRUE(a->detach());
    }
    auto t = admin.terminate("k");
    ASSERT_TRUE(t) << t.err().what();
  }

  ASSERT_TRUE(wait_until([&] { return children_of(d.pid()).empty(); }));
  EXPECT_TRUE(wait_until([&] { return open_fds(d.pid()) <= fds_before; }))
      << open_fds(d.pid()) << " descriptors, " << fds_before << " before";
  EXPECT_EQ(d.stop(SIGTERM), 0);
}

TEST(Isolation, SigtermEndsEveryHost) {
  daemon_process d{{"--load", "pdc_test_crasher.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto admin = connect(d, "admin");
  ASSERT_TRUE(admin.launch(crasher("a", kernel_tier::async)));
  ASSERT_TRUE(admin.launch(crasher("b", kernel_tier::spin)));
  ASSERT_TRUE(admin.activate("b"));
  const auto hosts = children_of(d.pid());
  ASSERT_EQ(hosts.size(), 2U);

  EXPECT_EQ(d.stop(SIGTERM), 0);
  for (const int h : hosts) EXPECT_TRUE(wait_until([&] { return ::kill(h, 0) != 0; })) << "host " << h << " lives";
}

TEST(Isolation, HostsOutliveAKilledPdcdAndTheNextOneAdoptsThemWithTheirState) {
  temp_dir socket_dir;
  const std::string socket = socket_dir.path() + "/pdcd.sock";
  auto first = std::make_unique<daemon_process>(std::vector<std::string>{"--load", "pdc_test_crasher.so"}, socket);
  ASSERT_TRUE(first->ready()) << first->log();
  auto admin = connect(*first, "admin");
  auto o = crasher("counter", kernel_tier::threaded);
  o.access = {"anyone=status"};
  ASSERT_TRUE(admin.launch(o));
  ASSERT_TRUE(admin.activate("counter"));
  auto a = admin.attach("counter");
  ASSERT_TRUE(a);
  for (int i = 1; i <= 3; ++i) ASSERT_EQ(text(*a->request(bytes("count"), k_wait_ns)), std::to_string(i));
  const int host = admin.status("counter")->host_pid;

  first->stop(SIGKILL);

  // No pdcd: the host serves the attachment still (the rings go to it directly).
  ASSERT_FALSE(process_gone(host));
  auto during = a->request(bytes("count"), k_wait_ns);
  ASSERT_TRUE(during) << during.err().what();
  EXPECT_EQ(text(*during), "4");
  // The next pdcd adopts it: the kernel, its state, its access list and the attachment.
  daemon_process second({"--load", "pdc_test_crasher.so"}, socket);
  ASSERT_TRUE(second.ready()) << second.log();
  EXPECT_TRUE(wait_until([&] { return second.log().find("kernel 'counter' adopted") != std::string::npos; }))
      << second.log();
  auto again = connect(second, "admin again");
  auto s = again.status("counter");
  ASSERT_TRUE(s) << s.err().what();
  EXPECT_EQ(s->state, kernel_state::active);
  EXPECT_EQ(s->host_pid, host);
  EXPECT_EQ(s->access, std::vector<std::string>{"anyone=status"});
  auto over_socket = again.request("counter", bytes("count"), k_wait_ns);
  ASSERT_TRUE(over_socket) << over_socket.err().what();
  EXPECT_EQ(text(*over_socket), "5");
  auto on_ring = a->request(bytes("count"), k_wait_ns);
  ASSERT_TRUE(on_ring) << on_ring.err().what();
  EXPECT_EQ(text(*on_ring), "6");
  // And supervises it: a crash restarts it under the new pdcd.
  EXPECT_EQ(again.request("counter", bytes("segv"), k_wait_ns).code(), errc::kernel_restarted);
  ASSERT_TRUE(wait_until([&] { return again.status("counter")->restarts == 1; }));
  auto restarted = again.request("counter", bytes("count"), k_wait_ns);
  ASSERT_TRUE(restarted) << restarted.err().what();
  EXPECT_EQ(text(*restarted), "1");

  EXPECT_EQ(second.stop(SIGTERM), 0);
  EXPECT_TRUE(wait_until([&] { return process_gone(host); }));
}

TEST(Isolation, AHostWhosePdcdStoppedCleanlyEndsWithIt) {
  daemon_process d{{"--load", "pdc_test_crasher.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto admin = connect(d, "admin");
  ASSERT_TRUE(admin.launch(crasher("k", kernel_tier::async)));
  const int host = admin.status("k")->host_pid;

  EXPECT_EQ(d.stop(SIGTERM), 0);

  EXPECT_TRUE(wait_until([&] { return process_gone(host); }));
}

// The socket inodes among `pid`'s open descriptors.
std::set<std::string> socket_inodes(pid_t pid) {
  std::set<std::string> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::array<char, 128> target{};
    const ssize_t n = ::readlink((dir + "/" + e->d_name).c_str(), target.data(), target.size() - 1);
    if (n > 0 && std::string_view(target.data(), static_cast<std::size_t>(n)).starts_with("socket:")) {
      out.emplace(target.data(), static_cast<std::size_t>(n));
    }
  }
  ::closedir(d);
  return out;
}

TEST(Isolation, AHostInheritsNoSocketOfPdcdAndAKilledPdcdIsSeenByItsClients) {
  daemon_process d{{"--load", "pdc_test_crasher.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto admin = connect(d, "admin");  // a session socket open in pdcd before the host starts
  auto other = connect(d, "other");
  ASSERT_TRUE(admin.launch(crasher("k", kernel_tier::async)));
  const int host = admin.status("k")->host_pid;
  ASSERT_GT(host, 0);
  // Before any attachment hands it a descriptor, the host shares no socket
  // with pdcd: not the listening socket, not a session, not a metrics one.
  const auto ours = socket_inodes(d.pid());
  ASSERT_FALSE(ours.empty());
  for (const auto& inode : socket_inodes(host)) EXPECT_EQ(ours.count(inode), 0U) << "the host holds pdcd's " << inode;

  // So a killed pdcd hangs up on its clients even while the host lives on.
  ::kill(d.pid(), SIGKILL);
  auto r = other.status("k");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), errc::peer_gone) << r.err().what();
  ::kill(host, SIGKILL);
}

// ---- confinement ----------------------------------------------------------------------

TEST(Confinement, ASeccompFilteredHostThatExecsEndsBySigsysAndRestarts) {
  daemon_process d{{"--load", "pdc_test_crasher.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto admin = connect(d, "admin");
  auto o = crasher("k", kernel_tier::threaded);
  o.seccomp = true;
  auto launched = admin.launch(o);
  ASSERT_TRUE(launched) << launched.err().what();
  ASSERT_TRUE(admin.activate("k"));
  EXPECT_TRUE(admin.status("k")->seccomp);

  EXPECT_EQ(admin.request("k", bytes("exec"), k_wait_ns).code(), errc::kernel_restarted);

  ASSERT_TRUE(wait_until([&] { return admin.status("k")->restarts == 1; }));
  EXPECT_EQ(admin.status("k")->last_exit, "signal SIGSYS");
  auto served = admin.request("k", bytes("count"), k_wait_ns);
  ASSERT_TRUE(served) << served.err().what();
}

TEST(Confinement, AHostsOpenFilesAndCpuTimeAreBounded) {
  daemon_process d{{"--load", "pdc_test_crasher.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto admin = connect(d, "admin");
  auto o = crasher("k", kernel_tier::threaded);
  o.max_open_files = 64;
  o.max_cpu_seconds = 1;
  ASSERT_TRUE(admin.launch(o));
  ASSERT_TRUE(admin.activate("k"));

  auto opened = admin.request("k", bytes("files:200"), k_wait_ns);
  ASSERT_TRUE(opened) << opened.err().what();
  EXPECT_LT(std::stoi(text(*opened)), 64);
  EXPECT_EQ(admin.request("k", bytes("burn"), k_wait_ns).code(), errc::kernel_restarted);
  ASSERT_TRUE(wait_until([&] { return admin.status("k")->restarts == 1; }));
  const auto s = admin.status("k");
  EXPECT_EQ(s->last_exit, "signal SIGXCPU");
  EXPECT_EQ(s->max_cpu_seconds, 1U);
  EXPECT_EQ(s->max_open_files, 64U);
}

TEST(Confinement, AHostsAddressSpaceIsBounded) {
  if (sanitized()) GTEST_SKIP() << "sanitizers reserve address space of their own";
  daemon_process d{{"--load", "pdc_test_crasher.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto admin = connect(d, "admin");
  auto o = crasher("k", kernel_tier::threaded);
  o.max_address_space_mb = 512;
  ASSERT_TRUE(admin.launch(o));
  ASSERT_TRUE(admin.activate("k"));

  auto small = admin.request("k", bytes("alloc:16"), k_wait_ns);
  ASSERT_TRUE(small) << small.err().what();
  auto big = admin.request("k", bytes("alloc:1024"), k_wait_ns);

  ASSERT_FALSE(big);
  EXPECT_EQ(big.code(), errc::plugin_error) << big.err().what();  // bad_alloc: a handler error, not a crash
  EXPECT_EQ(admin.status("k")->restarts, 0U);
}

TEST(Confinement, ARootPdcdRunsAHostAsAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  daemon_process d{{"--load", "pdc_test_crasher.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto admin = connect(d, "admin");
  auto o = crasher("k", kernel_tier::async);
  o.host_user = "nobody";
  auto launched = admin.launch(o);
  ASSERT_TRUE(launched) << launched.err().what();
  ASSERT_TRUE(admin.activate("k"));
  auto a = admin.attach("k");
  ASSERT_TRUE(a) << a.err().what();

  auto who = a->request(bytes("whoami"), k_wait_ns);

  ASSERT_TRUE(who) << who.err().what();
  EXPECT_EQ(text(*who), "65534");
  EXPECT_EQ(admin.status("k")->host_user, "nobody");
}

TEST(Confinement, IsRefusedWithAReasonWhereItCannotApply) {
  daemon_process d{{"--load", "pdc_test_crasher.so"}};
  ASSERT_TRUE(d.ready()) << d.log();
  auto admin = connect(d, "admin");
  auto in_pdcd = crasher("a", kernel_tier::async);
  in_pdcd.isolation = kernel_isolation::none;
  in_pdcd.seccomp = true;
  auto refused = admin.launch(in_pdcd);
  EXPECT_EQ(refused.code(), errc::invalid_argument);
  EXPECT_NE(refused.err().what().find("launch it with isolation process"), std::string::npos) << refused.err().what();
  auto nobody_known = crasher("b", kernel_tier::async);
  nobody_known.host_user = "no-such-user-here";
  EXPECT_EQ(admin.launch(nobody_known).code(), errc::not_found);
}

}  // namespace
}  // namespace pdc::test
