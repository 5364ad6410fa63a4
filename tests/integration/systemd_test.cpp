// pdcd under systemd, without systemd: notifications read from our own
// NOTIFY_SOCKET (READY, STATUS, RELOADING with MONOTONIC_USEC, WATCHDOG,
// STOPPING), socket activation from a fake LISTEN_FDS, and journal priority
// prefixes under JOURNAL_STREAM.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "harness.hpp"
#include "pdc/client.hpp"

namespace pdc::test {
namespace {

std::uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000U + static_cast<std::uint64_t>(ts.tv_nsec) / 1'000U;
}

sockaddr_un address_of(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  return addr;
}

// A NOTIFY_SOCKET of our own: the datagrams pdcd sends, as systemd would get them.
class notify_socket {
 public:
  notify_socket() : path_(dir_.path() + "/notify") {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const auto addr = address_of(path_);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  }
  ~notify_socket() { ::close(fd_); }
  notify_socket(const notify_socket&) = delete;
  notify_socket& operator=(const notify_socket&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

  // The next datagram containing `needle`, waiting up to 20 s; "" if none came.
  std::string wait_for(const std::string& needle) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      std::string msg(buf, static_cast<std::size_t>(n));
      seen_.push_back(msg);
      if (msg.find(needle) != std::string::npos) return msg;
    }
    return {};
  }
  [[nodiscard]] std::string seen() const {
    std::string all;
    for (const auto& m : seen_) all += "[" + m + "] ";
    return all;
  }

 private:
  temp_dir dir_;
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> seen_;
};

// Sets environment variables for the pdcd processes started in its scope.
class scoped_env {
 public:
  explicit scoped_env(std::vector<std::pair<std::string, std::string>> vars) : vars_(std::move(vars)) {
    for (const auto& [k, v] : vars_) ::setenv(k.c_str(), v.c_str(), 1);
  }
  ~scoped_env() {
    for (const auto& [k, v] : vars_) ::unsetenv(k.c_str());
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  std::vector<std::pair<std::string, std::string>> vars_;
};

TEST(Systemd, NotifiesReadyStatusReloadWatchdogAndStop) {
  notify_socket notify;
  temp_dir conf_dir;
  const std::string conf = conf_dir.path() + "/pdcd.toml";
  std::ofstream(conf) << "log_level = \"info\"\n";
  std::unique_ptr<daemon_process> d;
  {
    scoped_env env({{"NOTIFY_SOCKET", notify.path()}, {"WATCHDOG_USEC", "200000"}});
    d = std::make_unique<daemon_process>(std::vector<std::string>{"--config", conf, "--load", "pdc_echo.so"});
  }
  ASSERT_TRUE(d->ready()) << d->log();

  const auto ready = notify.wait_for("READY=1");
  ASSERT_FALSE(ready.empty()) << notify.seen();
  EXPECT_NE(ready.find("STATUS=serving 0 kernels on " + d->socket()), std::string::npos) << ready;
  // The watchdog: WATCHDOG=1 at half the interval, again and again.
  EXPECT_FALSE(notify.wait_for("WATCHDOG=1").empty()) << notify.seen();
  EXPECT_FALSE(notify.wait_for("WATCHDOG=1").empty()) << notify.seen();

  // SIGHUP: RELOADING=1 with the monotonic time, then READY=1 again.
  const auto before = monotonic_usec();
  ::kill(d->pid(), SIGHUP);
  const auto reloading = notify.wait_for("RELOADING=1");
  const auto after = monotonic_usec();
  ASSERT_FALSE(reloading.empty()) << notify.seen();
  const auto at = reloading.find("MONOTONIC_USEC=");
  ASSERT_NE(at, std::string::npos) << reloading;
  const auto usec = std::stoull(reloading.substr(at + 15));
  EXPECT_GE(usec, before);
  EXPECT_LE(usec, after + 20'000'000);
  EXPECT_FALSE(notify.wait_for("READY=1").empty()) << notify.seen();

  EXPECT_EQ(d->stop(SIGTERM), 0);
  const auto stopping = notify.wait_for("STOPPING=1");
  ASSERT_FALSE(stopping.empty()) << notify.seen();
  EXPECT_NE(stopping.find("STATUS=stopping"), std::string::npos) << stopping;
}

TEST(Systemd, UnderTheJournalEachLineStartsWithItsPriority) {
  std::unique_ptr<daemon_process> d;
  {
    scoped_env env(std::vector<std::pair<std::string, std::string>>{{"JOURNAL_STREAM", "8:12345"}});
    d = std::make_unique<daemon_process>(std::vector<std::string>{"--load", "no-such-plugin.so"});
  }
  ASSERT_TRUE(d->ready()) << d->log();
  // Served once: pdcd runs (its signal handlers are in place) before the stop.
  ASSERT_EQ(d->pdcctl({"list"}).exit_code, 0) << d->log();
  EXPECT_EQ(d->stop(SIGTERM), 0);
  const auto log = d->log();
  EXPECT_NE(log.find("<6>[info] pdcd listening on"), std::string::npos) << log;
  EXPECT_NE(log.find("<3>[error] plugin no-such-plugin.so not loaded"), std::string::npos) << log;
  EXPECT_EQ(log.rfind("<", 0), 0U) << "no timestamp first under the journal: " << log;
}

// A listening socket as a pdcd.socket unit would make it, and pdcd processes
// started on it with LISTEN_FDS=1 / LISTEN_PID, as systemd starts them.
class activation_socket {
 public:
  activation_socket() : path_(dir_.path() + "/pdcd.sock") {
    fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    const auto addr = address_of(path_);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
  }
  ~activation_socket() { ::close(fd_); }
  activation_socket(const activation_socket&) = delete;
  activation_socket& operator=(const activation_socket&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

  // Starts pdcd on this socket; its stderr goes to `log`.
  pid_t start(const std::string& log) const {
    const pid_t pid = ::fork();
    if (pid == 0) {
      // SD_LISTEN_FDS_START. dup2 clears close-on-exec, except when the
      // socket is descriptor 3 already: then clear it here.
      if (fd_ != 3) ::dup2(fd_, 3);
      ::fcntl(3, F_SETFD, 0);
      const int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      ::dup2(err, 2);
      ::setenv("LISTEN_FDS", "1", 1);
      ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
      ::execl(PDC_PDCD_PATH, PDC_PDCD_PATH, "--plugin-dir", PDC_KERNELS_DIR, "--load", "pdc_echo.so",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return pid;
  }

 private:
  temp_dir dir_;
  std::string path_;
  int fd_ = -1;
};

// Kills and reaps `pid` at scope exit unless it was reaped already (pid 0).
struct reaper {
  pid_t pid;
  ~reaper() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(Systemd, SocketActivationServesSystemdsSocketAndClientsWaitThroughARestart) {
  activation_socket sock;
  temp_dir logs;
  const pid_t first = sock.start(logs.path() + "/1.log");
  reaper reap_first{first};
  auto c = client::connect(sock.path(), "activated");
  ASSERT_TRUE(c) << c.err().what() << "\n" << read_small_file(logs.path() + "/1.log");
  ASSERT_TRUE(c->list());
  EXPECT_NE(read_small_file(logs.path() + "/1.log").find("taken from systemd"), std::string::npos);

  ::kill(first, SIGTERM);
  EXPECT_EQ(wait_exit(first), 0);
  reap_first.pid = 0;
  // pdcd did not remove systemd's socket, and a client connecting now waits
  // in its backlog for the next pdcd instead of being refused.
  struct stat st {};
  ASSERT_EQ(::lstat(sock.path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  const int early = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  const auto addr = address_of(sock.path());
  ASSERT_EQ(::connect(early, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0)
      << "refused while no pdcd runs: " << std::strerror(errno);
  const pid_t second = sock.start(logs.path() + "/2.log");
  reaper reap_second{second};
  // The connection made while no pdcd ran is the next pdcd's first session.
  auto during = client::adopt(early, "during the restart");
  ASSERT_TRUE(during) << during.err().what() << "\n" << read_small_file(logs.path() + "/2.log");
  EXPECT_TRUE(during->list());
}

}  // namespace
}  // namespace pdc::test
