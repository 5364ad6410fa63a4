// The optional HTTP /metrics endpoint, scraped by a real HTTP client (curl),
// over loopback TCP and a Unix socket; refusals of what it must not do.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "harness.hpp"
#include "pdc/client.hpp"

namespace pdc::test {
namespace {

// A raw stream connection to the metrics socket, for what curl will not do:
// stay silent, never read, or open many at once.
class raw_connection {
 public:
  explicit raw_connection(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    // Reads give up after 30 s: far past the 5 s deadline, so a read that
    // times out means pdcd did not close the connection.
    timeval tv{30, 0};
    if (fd_ >= 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~raw_connection() { close(); }
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  [[nodiscard]] bool connected() const { return connected_; }
  bool send(const std::string& text) const {
    return ::send(fd_, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
  }
  // Everything until pdcd closes the connection; `closed` is false when the
  // read timed out or failed instead.
  std::string read_to_end(bool& closed) const {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      closed = n == 0;
      return out;
    }
  }
  // Waits (20 s at most) until the other end has closed, without reading.
  [[nodiscard]] bool wait_hangup() const {
    return wait_until([&] {
      pollfd p{fd_, POLLRDHUP, 0};
      return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP)) != 0;
    });
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  bool connected_ = false;
};

// One whole scrape over a raw connection: the answer, or "" when closed unanswered.
std::string raw_scrape(const std::string& path) {
  raw_connection c(path);
  if (!c.connected() || !c.send("GET /metrics HTTP/1.0\r\n\r\n")) return {};
  bool closed = false;
  return c.read_to_end(closed);
}

// pdcd with `[metrics] listen = LISTEN`, an echo kernel "e" launched.
class HttpMetricsTest : public ::testing::Test {
 protected:
  // `kernels` echo kernels: "e", then "e1", "e2", ... (to make the answer big).
  void start(const std::string& listen, int kernels = 1) {
    std::ofstream out(conf_);
    out << "[metrics]\nlisten = \"" << listen << "\"\n";
    for (int i = 0; i < kernels; ++i) {
      out << "[[kernel]]\ntype = \"echo\"\nid = \"e" << (i == 0 ? std::string() : std::to_string(i)) << "\"\n";
    }
    out.close();
    d_ = std::make_unique<daemon_process>(std::vector<std::string>{"--config", conf_, "--load", "pdc_echo.so"});
  }
  // The address pdcd logged ("127.0.0.1:PORT").
  [[nodiscard]] std::string logged_address() const {
    const auto log = d_->log();
    const auto at = log.find("metrics over HTTP at ");
    if (at == std::string::npos) return {};
    const auto from = at + 21;
    return log.substr(from, log.find("/metrics", from) - from);
  }
  run_result curl(std::vector<std::string> args) const {
    std::vector<std::string> argv{"/usr/bin/env", "curl", "-s", "-S", "--max-time", "20"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, dir_.path());
  }
  static bool curl_available() {
    temp_dir d;
    return run_command({"/usr/bin/env", "curl", "--version"}, d.path()).exit_code == 0;
  }
  // pdcd with its metrics on the Unix socket metrics_path_, listening.
  void start_unix(int kernels = 1) {
    start("unix:" + metrics_path_, kernels);
    ASSERT_TRUE(d_->ready()) << d_->log();
    // Listening, not only bound: the socket file exists from bind(), and a
    // connect before listen() is refused (seen once under load in CI-like runs).
    ASSERT_TRUE(wait_until([&] { return d_->log().find("metrics over HTTP at") != std::string::npos; })) << d_->log();
  }
  temp_dir dir_;
  std::string conf_ = dir_.path() + "/pdcd.toml";
  std::string metrics_path_ = dir_.path() + "/metrics.sock";
  std::unique_ptr<daemon_process> d_;
};

TEST_F(HttpMetricsTest, LoopbackTcpServesThePrometheusTextToCurl) {
  if (!curl_available()) GTEST_SKIP() << "curl is not installed (scripts/install-deps.sh installs it)";
  start("127.0.0.1:0");
  ASSERT_TRUE(d_->ready()) << d_->log();
  ASSERT_TRUE(wait_until([&] { return !logged_address().empty(); })) << d_->log();
  const auto addr = logged_address();

  const auto ok = curl({"-i", "http://" + addr + "/metrics"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out.rfind("HTTP/1.0 200 OK", 0), 0U) << ok.out;
  EXPECT_NE(ok.out.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("pdc_daemon_kernels 1"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("kernel=\"e\""), std::string::npos) << ok.out;
  // The same metrics pdcctl gives (their values move: pdcctl's own session).
  const auto body = ok.out.substr(ok.out.find("\r\n\r\n") + 4);
  const auto ctl = d_->pdcctl({"metrics", "--prometheus"});
  const auto help_lines = [](const std::string& text) {
    std::string out;
    for (auto at = text.find("# HELP"); at != std::string::npos; at = text.find("# HELP", at + 1)) {
      out += text.substr(at, text.find('\n', at) - at) + "\n";
    }
    return out;
  };
  EXPECT_FALSE(help_lines(body).empty());
  EXPECT_EQ(help_lines(body), help_lines(ctl.out));

  EXPECT_EQ(curl({"-o", "/dev/null", "-w", "%{http_code}", "http://" + addr + "/other"}).out, "404");
  EXPECT_EQ(curl({"-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "http://" + addr + "/metrics"}).out, "405");
  // An oversized request is answered and closed, and pdcd carries on.
  const auto huge = curl({"-o", "/dev/null", "-w", "%{http_code}", "-H", "X-Filler: " + std::string(9000, 'a'),
                          "http://" + addr + "/metrics"});
  EXPECT_EQ(huge.out, "431") << huge.err;
  EXPECT_EQ(curl({"-o", "/dev/null", "-w", "%{http_code}", "http://" + addr + "/metrics"}).out, "200");
  EXPECT_EQ(d_->pdcctl({"list"}).exit_code, 0);
}

TEST_F(HttpMetricsTest, AUnixSocketServesTooWithTheControlSocketsMode) {
  if (!curl_available()) GTEST_SKIP() << "curl is not installed (scripts/install-deps.sh installs it)";
  const std::string path = dir_.path() + "/metrics.sock";
  start("unix:" + path);
  ASSERT_TRUE(d_->ready()) << d_->log();
  struct stat st {};
  // It listens once pdcd is past its control socket: wait for it.
  ASSERT_TRUE(wait_until([&] { return ::stat(path.c_str(), &st) == 0; })) << d_->log();
  EXPECT_EQ(st.st_mode & 0777, 0660U);

  const auto r = curl({"--unix-socket", path, "http://localhost/metrics"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("pdc_daemon_kernels 1"), std::string::npos) << r.out;

  EXPECT_EQ(d_->stop(SIGTERM), 0);
  EXPECT_NE(::lstat(path.c_str(), &st), 0) << "the socket is removed at stop";
}

TEST_F(HttpMetricsTest, AnAddressOtherThanLoopbackIsRefusedAtStart) {
  start("0.0.0.0:9464");
  EXPECT_TRUE(wait_until([&] { return d_->exited(); }));
  EXPECT_NE(d_->exit_code(), 0);
  EXPECT_NE(d_->log().find("only a loopback address"), std::string::npos) << d_->log();
}

TEST_F(HttpMetricsTest, AConnectionThatSendsNoWholeRequestIsClosedByTheDeadline) {
  start_unix();
  raw_connection idle(metrics_path_);
  ASSERT_TRUE(idle.connected());
  ASSERT_TRUE(idle.send("GET /metrics HTTP/1.0\r\n"));  // and never the blank line
  bool closed = false;
  const auto got = idle.read_to_end(closed);
  EXPECT_TRUE(closed) << "pdcd kept a silent connection open past its 5 s deadline (read: " << std::strerror(errno)
                      << ")";
  EXPECT_EQ(got, "") << "a request never finished is not answered";
  EXPECT_EQ(raw_scrape(metrics_path_).rfind("HTTP/1.0 200 OK", 0), 0U);
}

TEST_F(HttpMetricsTest, AScraperThatNeverReadsHoldsUpNobodyAndIsCutOffAtTheDeadline) {
  // Enough kernels that the answer outgrows a socket's send buffer, so
  // pdcd's write to the stalled scraper cannot finish.
  start_unix(256);
  const auto whole = raw_scrape(metrics_path_);
  ASSERT_EQ(whole.rfind("HTTP/1.0 200 OK", 0), 0U) << whole.substr(0, 200);
  const auto send_buffer = std::stoul(read_small_file("/proc/sys/net/core/wmem_default"));
  ASSERT_GT(whole.size(), 2 * send_buffer) << "the answer must not fit in pdcd's socket buffer";
  raw_connection stalled(metrics_path_);
  ASSERT_TRUE(stalled.connected());
  ASSERT_TRUE(stalled.send("GET /metrics HTTP/1.0\r\n\r\n"));

  // While it does not read, others are served, over HTTP and the control socket.
  for (int i = 0; i < 3; ++i) {
    const auto other = raw_scrape(metrics_path_);
    EXPECT_EQ(other.rfind("HTTP/1.0 200 OK", 0), 0U) << other.substr(0, 200);
    EXPECT_NE(other.find("kernel=\"e255\""), std::string::npos);
  }
  EXPECT_EQ(d_->pdcctl({"list"}).exit_code, 0);
  // pdcd gives up on it (the 5 s deadline): the connection hangs up with
  // the answer unfinished, and what it holds is what fitted in the buffers.
  EXPECT_TRUE(stalled.wait_hangup()) << "the stalled connection was never closed";
  bool closed = false;
  const auto got = stalled.read_to_end(closed);
  EXPECT_TRUE(closed);
  EXPECT_LT(got.size(), whole.size());
  EXPECT_EQ(got.rfind("HTTP/1.0 200 OK", 0), 0U);
  EXPECT_EQ(raw_scrape(metrics_path_).rfind("HTTP/1.0 200 OK", 0), 0U);
}

TEST_F(HttpMetricsTest, PastSixteenConnectionsMoreAreClosedUnansweredUntilOneEnds) {
  start_unix();
  std::vector<std::unique_ptr<raw_connection>> held;
  for (int i = 0; i < 16; ++i) {
    held.push_back(std::make_unique<raw_connection>(metrics_path_));
    ASSERT_TRUE(held.back()->connected());
    ASSERT_TRUE(held.back()->send("GET /metrics HTTP/1.0\r\n"));  // open, unfinished
  }
  // The seventeenth is accepted and closed at once, with no answer.
  EXPECT_EQ(raw_scrape(metrics_path_), "");
  EXPECT_EQ(d_->pdcctl({"list"}).exit_code, 0) << "the control socket is not affected";
  // One of the sixteen ends: a scrape is served again.
  held.front()->close();
  EXPECT_TRUE(wait_until([&] { return raw_scrape(metrics_path_).rfind("HTTP/1.0 200 OK", 0) == 0; }));
}

}  // namespace
}  // namespace pdc::test
