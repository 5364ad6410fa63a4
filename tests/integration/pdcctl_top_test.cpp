// pdcctl top in a real terminal (tmux: send-keys, capture-pane) and as plain
// repeated output when stdout is not a terminal.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include "harness.hpp"
#include "pdc/client.hpp"

namespace pdc::test {
namespace {

// A tmux server of its own (-L) running one command in a 160x40 window.
class tmux_session {
 public:
  explicit tmux_session(const std::string& command) : server_("pdc-top-" + std::to_string(::getpid())) {
    started_ = tmux({"new-session", "-d", "-s", "top", "-x", "160", "-y", "40", command}).exit_code == 0;
  }
  ~tmux_session() { (void)tmux({"kill-server"}); }
  tmux_session(const tmux_session&) = delete;
  tmux_session& operator=(const tmux_session&) = delete;

  [[nodiscard]] bool started() const { return started_; }
  [[nodiscard]] std::string screen() const { return tmux({"capture-pane", "-p", "-t", "top"}).out; }
  void keys(const std::string& k) const { (void)tmux({"send-keys", "-t", "top", k}); }
  [[nodiscard]] bool alive() const { return tmux({"has-session", "-t", "top"}).exit_code == 0; }

 private:
  [[nodiscard]] run_result tmux(std::vector<std::string> args) const {
    std::vector<std::string> argv{"/usr/bin/env", "TERM=xterm-256color", "tmux", "-L", server_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, dir_.path());
  }
  temp_dir dir_;
  std::string server_;
  bool started_ = false;
};

bool tmux_available() {
  temp_dir d;
  return run_command({"/usr/bin/env", "tmux", "-V"}, d.path()).exit_code == 0;
}

class PdcctlTopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(sut_.ready()) << sut_.log();
    ASSERT_EQ(sut_.pdcctl({"launch", "echo", "--id", "busy"}).exit_code, 0);
    ASSERT_EQ(sut_.pdcctl({"activate", "busy"}).exit_code, 0);
    ASSERT_EQ(sut_.pdcctl({"launch", "echo", "--id", "idle"}).exit_code, 0);
  }
  // Keeps "busy" receiving messages while the test runs.
  void start_traffic() {
    traffic_ = std::thread([this] {
      auto c = client::connect(sut_.socket(), "traffic");
      if (!c) return;
      const std::string payload = "x";
      while (!stop_) (void)c->request("busy", std::as_bytes(std::span(payload)), 5'000'000'000);
    });
  }
  void TearDown() override {
    stop_ = true;
    if (traffic_.joinable()) traffic_.join();
  }
  daemon_process sut_{{"--load", "pdc_echo.so"}};
  std::atomic<bool> stop_{false};
  std::thread traffic_;
};

TEST_F(PdcctlTopTest, InATerminalItRedrawsInPlaceSortsOnAKeyAndQuitsOnQ) {
  if (!tmux_available()) GTEST_SKIP() << "tmux is not installed (scripts/install-deps.sh installs it)";
  start_traffic();
  tmux_session term(std::string(PDC_PDCCTL_PATH) + " --socket " + sut_.socket() + " top --interval 100");
  ASSERT_TRUE(term.started());

  // Sorted by messages in: the busy kernel first, with a rate.
  ASSERT_TRUE(wait_until([&] {
    const auto s = term.screen();
    const auto busy = s.find("busy");
    const auto idle = s.find("idle");
    return s.find("IN/S*") != std::string::npos && busy != std::string::npos && idle != std::string::npos &&
           busy < idle && s.find("sorted by in") != std::string::npos;
  })) << term.screen();
  const auto first = term.screen();
  EXPECT_EQ(first.find("pdcctl top"), 0U) << "drawn from the top left:\n" << first;
  // In place: one title on the screen, however many refreshes ran.
  ASSERT_TRUE(wait_until([&] { return term.screen() != first; })) << "refreshes";
  const auto later = term.screen();
  EXPECT_EQ(later.find("pdcctl top", 1), std::string::npos) << later;

  term.keys("s");
  EXPECT_TRUE(wait_until([&] { return term.screen().find("sorted by out") != std::string::npos; })) << term.screen();
  EXPECT_NE(term.screen().find("OUT/S*"), std::string::npos) << term.screen();
  term.keys("r");
  // Reversed: the idle kernel (0 msg/s out) above the busy one.
  EXPECT_TRUE(wait_until([&] {
    const auto s = term.screen();
    return s.find("(reversed)") != std::string::npos && s.find("idle") < s.find("busy");
  })) << term.screen();

  term.keys("q");
  EXPECT_TRUE(wait_until([&] { return !term.alive(); })) << "pdcctl top did not exit on q:\n" << term.screen();
}

TEST_F(PdcctlTopTest, OutsideATerminalItPrintsOneTablePerRefresh) {
  const auto r = sut_.pdcctl({"top", "-n", "3", "--interval", "50", "--sort", "kernel"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::size_t titles = 0;
  for (auto at = r.out.find("pdcctl top"); at != std::string::npos; at = r.out.find("pdcctl top", at + 1)) ++titles;
  EXPECT_EQ(titles, 3U) << r.out;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << "no escape codes when not a terminal";
  EXPECT_NE(r.out.find("KERNEL*"), std::string::npos) << r.out;
  EXPECT_LT(r.out.find("busy"), r.out.find("idle")) << r.out;
}

TEST_F(PdcctlTopTest, AnUnknownSortColumnIsAUsageError) {
  const auto r = sut_.pdcctl({"top", "--sort", "nonsense"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no column 'nonsense'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace pdc::test
