// A pdcd that stops or restarts, seen from its clients: daemon_stopping
// versus a terminate, libpdc's reconnection (fail fast or wait, events,
// subscriptions renewed, attachments attached again) and pdcctl recv --follow.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"
#include "messages.hpp"
#include "pdc/client.hpp"
#include "pdc/pdc.h"

namespace pdc::test {
namespace {

constexpr std::int64_t k_wait_ns = 20'000'000'000;

// pdcd on a socket path that stays the same across restarts, with an `echo`
// kernel from its config file (so every pdcd started here has it).
class restartable {
 public:
  restartable() : socket_(dir_.path() + "/pdcd.sock"), config_(dir_.path() + "/pdcd.toml") {
    std::ofstream(config_) << "[[kernel]]\ntype = \"echo\"\nid = \"e\"\n";
  }
  std::unique_ptr<daemon_process> start() const {
    return std::make_unique<daemon_process>(
        std::vector<std::string>{"--config", config_, "--load", "pdc_echo.so", "--load", "pdc_test_crasher.so"},
        socket_);
  }
  [[nodiscard]] const std::string& socket() const { return socket_; }

 private:
  temp_dir dir_;
  std::string socket_;
  std::string config_;
};

send_options no_reply() {
  send_options o;
  o.no_reply = true;
  return o;
}

launch_options echo_like(const char* type, const char* id) {
  launch_options o;
  o.kernel_type = type;
  o.kernel_id = id;
  return o;
}

connect_options reconnecting(bool wait, std::vector<connection_event>* events) {
  connect_options o;
  o.client_name = "reconnect test";
  o.reconnect.enabled = true;
  o.reconnect.wait = wait;
  o.reconnect.initial_backoff_ns = 5'000'000;
  o.reconnect.max_backoff_ns = 50'000'000;
  if (events != nullptr) o.reconnect.on_event = [events](const connection_event& e) { events->push_back(e); };
  return o;
}

TEST(DaemonStopping, ASigtermIsReportedAsDaemonStoppingNotAsATerminate) {
  restartable r;
  auto d = r.start();
  ASSERT_TRUE(d->ready()) << d->log();
  auto c = client::connect(r.socket(), "stopping test");
  ASSERT_TRUE(c) << c.err().what();
  ASSERT_TRUE(c->launch(echo_like("echo", "gone")));
  ASSERT_TRUE(c->activate("gone"));
  auto on_e = c->attach("e");
  ASSERT_TRUE(on_e) << on_e.err().what();
  auto on_gone = c->attach("gone");
  ASSERT_TRUE(on_gone) << on_gone.err().what();
  ASSERT_TRUE(on_e->request(bytes("before"), k_wait_ns));

  // A terminate is a terminate...
  ASSERT_TRUE(c->terminate("gone"));
  EXPECT_EQ(on_gone->request(bytes("x"), k_wait_ns).code(), errc::terminated);
  // ...and a stopping pdcd is not.
  EXPECT_EQ(d->stop(SIGTERM), 0);

  auto attached = on_e->request(bytes("after"), k_wait_ns);
  ASSERT_FALSE(attached);
  EXPECT_EQ(attached.code(), errc::daemon_stopping) << attached.err().what();
  EXPECT_NE(attached.err().what().find("pdcd is stopping"), std::string::npos) << attached.err().what();
  auto over_socket = c->status("e");
  ASSERT_FALSE(over_socket);
  EXPECT_EQ(over_socket.code(), errc::daemon_stopping) << over_socket.err().what();
  EXPECT_TRUE(c->daemon_stopping());
  EXPECT_FALSE(c->connected());
}

TEST(DaemonStopping, AnIsolatedKernelsAttachmentHearsItToo) {
  restartable r;
  auto d = r.start();
  ASSERT_TRUE(d->ready()) << d->log();
  auto c = client::connect(r.socket(), "stopping test");
  ASSERT_TRUE(c);
  launch_options o = echo_like("crasher", "k");
  o.isolation = kernel_isolation::process;
  ASSERT_TRUE(c->launch(o));
  ASSERT_TRUE(c->activate("k"));
  auto a = c->attach("k");
  ASSERT_TRUE(a) << a.err().what();
  ASSERT_TRUE(a->request(bytes("count"), k_wait_ns));

  EXPECT_EQ(d->stop(SIGTERM), 0);

  EXPECT_EQ(a->request(bytes("count"), k_wait_ns).code(), errc::daemon_stopping);
}

TEST(Reconnect, WithoutTheOptionASessionEndsForGood) {
  restartable r;
  auto d = r.start();
  ASSERT_TRUE(d->ready()) << d->log();
  auto c = client::connect(r.socket(), "no reconnect");
  ASSERT_TRUE(c);
  d->stop(SIGKILL);
  auto next = r.start();
  ASSERT_TRUE(next->ready()) << next->log();

  EXPECT_EQ(c->status("e").code(), errc::peer_gone);
  EXPECT_EQ(c->status("e").code(), errc::peer_gone);
  EXPECT_EQ(c->sessions(), 1U);
}

TEST(Reconnect, FailsFastWhileDisconnectedThenReconnectsWhenPdcdIsBack) {
  restartable r;
  auto d = r.start();
  ASSERT_TRUE(d->ready()) << d->log();
  std::vector<connection_event> events;
  auto c = client::connect(r.socket(), reconnecting(false, &events));
  ASSERT_TRUE(c) << c.err().what();
  const auto first_session = c->session_id();
  d->stop(SIGKILL);

  // Nobody listens: each call fails at once, naming the reconnection (the
  // first finds the connection gone as it sends, and tries once).
  for (int i = 0; i < 3; ++i) {
    auto down = c->status("e");
    ASSERT_FALSE(down);
    EXPECT_EQ(down.code(), errc::peer_gone);
    EXPECT_NE(down.err().what().find("reconnecting to " + r.socket()), std::string::npos) << down.err().what();
  }
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].change, connection_change::disconnected);
  EXPECT_EQ(events[0].reason.code, errc::peer_gone);

  auto next = r.start();
  ASSERT_TRUE(next->ready()) << next->log();
  // Back: a call succeeds once the back-off lets the client try again.
  ASSERT_TRUE(wait_until([&] { return c->status("e").has_value(); }));
  EXPECT_TRUE(c->connected());
  EXPECT_EQ(c->sessions(), 2U);
  EXPECT_NE(c->session_id(), first_session);
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[1].change, connection_change::reconnected);
  EXPECT_GE(events[1].attempts, 1U);
}

// A process of another user that binds pdcd's path once pdcd is gone; it
// accepts and holds whatever connects until it is killed.
pid_t impostor_at(const std::string& path, uid_t uid) {
  int ready[2];
  if (::pipe(ready) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(ready[0]);
    if (::setgid(uid) != 0 || ::setuid(uid) != 0) std::_Exit(3);
    ::unlink(path.c_str());  // the dead pdcd's socket file
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.data(), path.size());
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 8) != 0) std::_Exit(4);
    (void)!::write(ready[1], "r", 1);
    std::vector<int> held;
    for (;;) held.push_back(::accept(fd, nullptr, nullptr));
  }
  ::close(ready[1]);
  char c = 0;
  const bool up = pid > 0 && ::read(ready[0], &c, 1) == 1;
  ::close(ready[0]);
  if (!up && pid > 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return -1;
  }
  return pid;
}

TEST(Reconnect, ProcessOfAnotherUserAtThePathIsNotTakenForPdcd) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to run the impostor as another user";
  restartable r;
  const std::string folder = std::filesystem::path(r.socket()).parent_path().string();
  auto d = r.start();
  ASSERT_TRUE(d->ready()) << d->log();
  auto c = client::connect(r.socket(), reconnecting(false, nullptr));
  ASSERT_TRUE(c) << c.err().what();
  // pdcd refuses to start in a folder others may write, but cannot stop one
  // being opened up later; then anyone may bind its path once it is gone.
  ASSERT_EQ(::chmod(folder.c_str(), 0777), 0);
  d->stop(SIGKILL);
  const pid_t impostor = impostor_at(r.socket(), 65534);
  ASSERT_GT(impostor, 0) << "the impostor could not bind " << r.socket();

  // Each attempt reaches the impostor, sees its user, and refuses it.
  for (int i = 0; i < 3; ++i) {
    auto down = c->status("e");
    ASSERT_FALSE(down);
    EXPECT_EQ(down.code(), errc::peer_gone);
    EXPECT_NE(down.err().what().find("runs as uid 65534, not uid 0 of the pdcd this client connected to"),
              std::string::npos)
        << down.err().what();
    std::this_thread::sleep_for(std::chrono::milliseconds(60));  // past the back-off: another attempt
  }
  EXPECT_FALSE(c->connected());

  ::kill(impostor, SIGKILL);
  ::waitpid(impostor, nullptr, 0);
  ::unlink(r.socket().c_str());
  ASSERT_EQ(::chmod(folder.c_str(), 0700), 0);
  auto next = r.start();
  ASSERT_TRUE(next->ready()) << next->log();
  ASSERT_TRUE(wait_until([&] { return c->status("e").has_value(); })) << "no reconnection to the real pdcd";
  EXPECT_EQ(c->sessions(), 2U);
}

TEST(Reconnect, WaitsForPdcdRenewsSubscriptionsAndReattaches) {
  restartable r;
  auto d = r.start();
  ASSERT_TRUE(d->ready()) << d->log();
  std::vector<connection_event> events;
  auto c = client::connect(r.socket(), reconnecting(true, &events));
  ASSERT_TRUE(c) << c.err().what();
  c->set_call_timeout_ns(k_wait_ns);
  ASSERT_TRUE(c->subscribe("e"));
  ASSERT_TRUE(c->subscribe("e"));  // twice: renewed once
  attach_options ao;
  ao.reattach = true;
  auto a = c->attach("e", ao);
  ASSERT_TRUE(a) << a.err().what();
  ASSERT_TRUE(a->request(bytes("one"), k_wait_ns));
  const auto first_attachment = a->id();

  d->stop(SIGKILL);
  auto next = r.start();
  ASSERT_TRUE(next->ready()) << next->log();

  // The next call waits for the new pdcd and goes through.
  auto s = c->status("e");
  ASSERT_TRUE(s) << s.err().what();
  EXPECT_EQ(s->subscribers, 1U);  // renewed, once
  EXPECT_EQ(c->sessions(), 2U);
  ASSERT_EQ(events.size(), 2U);
  EXPECT_TRUE(events[1].lost_subscriptions.empty());
  // Outputs arrive on the renewed subscription.
  ASSERT_TRUE(c->send("e", bytes("to subscribers"), no_reply()));
  auto out = c->receive(k_wait_ns);
  ASSERT_TRUE(out) << out.err().what();
  EXPECT_EQ(text(*out), "to subscribers");
  // The attachment: its request in flight, if pdcd's death is noticed during
  // it, is lost (peer_gone); then it is attached again to the new pdcd.
  auto on_ring = a->request(bytes("two"), k_wait_ns);
  if (!on_ring) {
    EXPECT_EQ(on_ring.code(), errc::peer_gone) << on_ring.err().what();
    on_ring = a->request(bytes("two"), k_wait_ns);
  }
  ASSERT_TRUE(on_ring) << on_ring.err().what();
  EXPECT_EQ(text(*on_ring), "two");
  EXPECT_NE(a->id(), first_attachment);
}

TEST(Reconnect, ASubscriptionToAKernelTheNewPdcdLacksIsReportedLost) {
  restartable r;
  auto d = r.start();
  ASSERT_TRUE(d->ready()) << d->log();
  std::vector<connection_event> events;
  auto c = client::connect(r.socket(), reconnecting(true, &events));
  ASSERT_TRUE(c);
  c->set_call_timeout_ns(k_wait_ns);
  ASSERT_TRUE(c->launch(echo_like("echo", "runtime-only")));
  ASSERT_TRUE(c->subscribe("runtime-only"));
  ASSERT_TRUE(c->subscribe("e"));

  d->stop(SIGKILL);
  auto next = r.start();
  ASSERT_TRUE(next->ready()) << next->log();
  ASSERT_TRUE(c->status("e"));

  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[1].lost_subscriptions, std::vector<std::string>{"runtime-only"});
  EXPECT_EQ(c->status("e")->subscribers, 1U);
}

TEST(Reconnect, TheCAbiReconnectsAndWaits) {
  restartable r;
  auto d = r.start();
  ASSERT_TRUE(d->ready()) << d->log();
  pdc_connect_options o;
  pdc_connect_options_init(&o);
  EXPECT_EQ(o.reconnect, 0U);
  o.reconnect = 1;
  o.reconnect_wait = 1;
  o.initial_backoff_ns = 5'000'000;
  o.client_name = "c reconnect";
  pdc_client* c = nullptr;
  ASSERT_EQ(pdc_connect_with(r.socket().c_str(), &o, &c), PDC_OK) << pdc_last_error(nullptr);
  const std::uint64_t first = pdc_session_id(c);
  char reply[64];
  std::size_t size = sizeof reply;
  ASSERT_EQ(pdc_request(c, "e", "one", 3, nullptr, k_wait_ns, reply, &size, nullptr), PDC_OK) << pdc_last_error(c);

  d->stop(SIGKILL);
  auto next = r.start();
  ASSERT_TRUE(next->ready()) << next->log();

  size = sizeof reply;
  ASSERT_EQ(pdc_request(c, "e", "two", 3, nullptr, k_wait_ns, reply, &size, nullptr), PDC_OK) << pdc_last_error(c);
  EXPECT_EQ(std::string(reply, size), "two");
  EXPECT_NE(pdc_session_id(c), first);
  pdc_close(c);
}

// pdcctl recv --follow in the background, its stdout and stderr in files.
class follower {
 public:
  follower(const std::string& socket, const std::string& kernel) {
    pid_ = ::fork();
    if (pid_ == 0) {
      const int out = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      const int err = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::execl(PDC_PDCCTL_PATH, PDC_PDCCTL_PATH, "--socket", socket.c_str(), "recv", kernel.c_str(), "--follow",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~follower() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  follower(const follower&) = delete;
  follower& operator=(const follower&) = delete;
  [[nodiscard]] std::string out() const { return read_small_file(out_); }
  [[nodiscard]] std::string err() const { return read_small_file(err_); }

 private:
  temp_dir dir_;
  std::string out_ = dir_.path() + "/out";
  std::string err_ = dir_.path() + "/err";
  pid_t pid_ = -1;
};

TEST(Reconnect, PdcctlRecvFollowCarriesOnAcrossAPdcdRestart) {
  restartable r;
  auto d = r.start();
  ASSERT_TRUE(d->ready()) << d->log();
  auto c = client::connect(r.socket(), "sender");
  ASSERT_TRUE(c);
  follower f(r.socket(), "e");
  ASSERT_TRUE(wait_until([&] { return c->status("e")->subscribers == 1; })) << f.err();
  ASSERT_TRUE(c->send("e", bytes("first line\n"), no_reply()));
  ASSERT_TRUE(wait_until([&] { return f.out().find("first line") != std::string::npos; })) << f.err();

  d->stop(SIGKILL);
  auto next = r.start();
  ASSERT_TRUE(next->ready()) << next->log();
  auto c2 = client::connect(r.socket(), "sender again");
  ASSERT_TRUE(c2);
  ASSERT_TRUE(wait_until([&] { return c2->status("e")->subscribers == 1; })) << f.err();
  ASSERT_TRUE(c2->send("e", bytes("second line\n"), no_reply()));

  ASSERT_TRUE(wait_until([&] { return f.out().find("second line") != std::string::npos; })) << f.err();
  EXPECT_NE(f.err().find("reconnecting"), std::string::npos) << f.err();
  EXPECT_NE(f.err().find("reconnected to pdcd"), std::string::npos) << f.err();
}

}  // namespace
}  // namespace pdc::test
