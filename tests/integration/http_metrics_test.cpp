// The optional HTTP /metrics endpoint, scraped by a real HTTP client (curl),
// over loopback TCP and a Unix socket; refusals of what it must not do.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <fstream>
#include <string>

#include "harness.hpp"
#include "pdc/client.hpp"

namespace pdc::test {
namespace {

// pdcd with `[metrics] listen = LISTEN`, an echo kernel "e" launched.
class HttpMetricsTest : public ::testing::Test {
 protected:
  void start(const std::string& listen) {
    std::ofstream(conf_) << "[metrics]\nlisten = \"" << listen << "\"\n"
                         << "[[kernel]]\ntype = \"echo\"\nid = \"e\"\n";
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
  temp_dir dir_;
  std::string conf_ = dir_.path() + "/pdcd.toml";
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

}  // namespace
}  // namespace pdc::test
