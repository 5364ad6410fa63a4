// pdcd driven by real pdcctl processes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "harness.hpp"

namespace pdc::test {
namespace {

class PdcctlTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(sut_.ready()) << sut_.log(); }
  void TearDown() override {
    if (HasFailure())
      ADD_FAILURE() << "pdcd (exited: " << sut_.exited() << ", code " << sut_.exit_code() << ") log:\n" << sut_.log();
  }
  daemon_process sut_{{"--load", "pdc_echo.so", "--load", "pdc_double.so", "--load", "pdc_counter.so"}};
};

TEST_F(PdcctlTest, LaunchActivateSendAndGetTheReply) {
  EXPECT_EQ(sut_.pdcctl({"launch", "echo", "--id", "e1"}).exit_code, 0);
  EXPECT_EQ(sut_.pdcctl({"activate", "e1"}).exit_code, 0);
  const auto r = sut_.pdcctl({"send", "e1", "--data", "hello pdc", "--wait-reply", "--timeout", "20000"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("hello pdc"), std::string::npos) << r.out;
}

TEST_F(PdcctlTest, Int64RequestPrintsTheIntegerReply) {
  ASSERT_EQ(sut_.pdcctl({"launch", "double", "--id", "processor"}).exit_code, 0);
  ASSERT_EQ(sut_.pdcctl({"activate", "processor"}).exit_code, 0);
  const auto r = sut_.pdcctl({"send", "processor", "--int64", "21", "--wait-reply", "--timeout", "20000"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("42"), std::string::npos) << r.out;
}

TEST_F(PdcctlTest, IllegalTransitionFailsWithOneLineNamingTheState) {
  ASSERT_EQ(sut_.pdcctl({"launch", "echo", "--id", "e1"}).exit_code, 0);
  const auto r = sut_.pdcctl({"deactivate", "e1"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("it is launched"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(PdcctlTest, UnknownKernelIsNotFound) {
  const auto r = sut_.pdcctl({"activate", "ghost"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("ghost"), std::string::npos);
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
}

TEST_F(PdcctlTest, DuplicateKernelIdIsRefused) {
  ASSERT_EQ(sut_.pdcctl({"launch", "echo", "--id", "same"}).exit_code, 0);
  const auto r = sut_.pdcctl({"launch", "counter", "--id", "same"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
}

TEST_F(PdcctlTest, LoopStyleKernelIsRefusedOnTierOne) {
  ASSERT_EQ(sut_.pdcctl({"plugin", "load", "pdc_echo_loop.so"}).exit_code, 0);
  const auto r = sut_.pdcctl({"launch", "echo_loop", "--id", "l1"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("loop-style"), std::string::npos) << r.err;
}

TEST_F(PdcctlTest, BrokenPluginIsRefusedAndTheDaemonCarriesOn) {
  for (const char* broken :
       {"pdc_test_no_entry.so", "pdc_test_abi_major.so", "pdc_test_abi_minor.so", "pdc_test_null_entry.so"}) {
    const auto r = sut_.pdcctl({"plugin", "load", std::string(PDC_TEST_PLUGINS_DIR) + "/" + broken});
    EXPECT_NE(r.exit_code, 0) << broken;
    EXPECT_FALSE(r.err.empty()) << broken;
  }
  const auto list = sut_.pdcctl({"plugin", "list"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find("echo"), std::string::npos);
  EXPECT_EQ(sut_.pdcctl({"launch", "echo", "--id", "still-fine"}).exit_code, 0);
}

TEST_F(PdcctlTest, JsonOutputIsMachineReadable) {
  ASSERT_EQ(sut_.pdcctl({"launch", "echo", "--id", "e1"}).exit_code, 0);
  const auto r = sut_.pdcctl({"--json", "status", "e1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"kernel_id\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"e1\""), std::string::npos) << r.out;
}

TEST_F(PdcctlTest, PrometheusMetricsNameEveryKernel) {
  ASSERT_EQ(sut_.pdcctl({"launch", "echo", "--id", "e1"}).exit_code, 0);
  ASSERT_EQ(sut_.pdcctl({"launch", "counter", "--id", "c1"}).exit_code, 0);
  const auto r = sut_.pdcctl({"metrics", "--prometheus"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("pdc_kernel_messages_in_total{kernel=\"e1\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("kernel=\"c1\""), std::string::npos);
}

TEST_F(PdcctlTest, TerminateRemovesTheKernelAndFreesItsId) {
  ASSERT_EQ(sut_.pdcctl({"launch", "echo", "--id", "e1"}).exit_code, 0);
  ASSERT_EQ(sut_.pdcctl({"terminate", "e1"}).exit_code, 0);
  EXPECT_NE(sut_.pdcctl({"status", "e1"}).exit_code, 0);
  EXPECT_EQ(sut_.pdcctl({"launch", "echo", "--id", "e1"}).exit_code, 0);
}

TEST(PdcdProcess, SigtermShutsDownCleanly) {
  daemon_process sut{{"--load", "pdc_echo.so"}};
  ASSERT_TRUE(sut.ready()) << sut.log();
  ASSERT_EQ(sut.pdcctl({"launch", "echo", "--id", "e1"}).exit_code, 0);
  ASSERT_EQ(sut.pdcctl({"activate", "e1"}).exit_code, 0);
  EXPECT_EQ(sut.stop(SIGTERM), 0) << sut.log();
  EXPECT_FALSE(std::filesystem::exists(sut.socket())) << "socket left behind";
  EXPECT_NE(sut.log().find("kernel 'e1' terminated"), std::string::npos) << sut.log();
}

TEST(PdcdProcess, SecondDaemonOnALiveSocketRefusesToStart) {
  daemon_process first;
  ASSERT_TRUE(first.ready()) << first.log();
  const auto r = run_command({PDC_PDCD_PATH, "--socket", first.socket()}, first.dir());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("already listening"), std::string::npos) << r.err;
  EXPECT_TRUE(first.ready()) << "the first daemon must be untouched";
}

TEST(PdcdProcess, StaleSocketOfADeadDaemonIsReplaced) {
  daemon_process dead;
  ASSERT_TRUE(dead.ready());
  dead.stop(SIGKILL);  // leaves the socket file behind
  ASSERT_TRUE(std::filesystem::exists(dead.socket()));
  daemon_process next{{}, dead.socket()};
  EXPECT_TRUE(next.ready()) << next.log();
  EXPECT_NE(next.log().find("stale socket"), std::string::npos) << next.log();
}

TEST(PdcdProcess, InvalidConfigIsRefusedWithFileAndLine) {
  temp_dir dir;
  const std::string cfg = dir.path() + "/bad.toml";
  std::ofstream(cfg) << "log_level = \"info\"\n[defaults]\ncapacity = 0\n";
  const auto r = run_command({PDC_PDCD_PATH, "--config", cfg, "--socket", dir.path() + "/s.sock"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.toml:3"), std::string::npos) << r.err;
}

TEST(PdcdProcess, ConfigLaunchesAndActivatesKernelsAtStart) {
  temp_dir dir;
  const std::string cfg = dir.path() + "/pdcd.toml";
  std::ofstream(cfg) << "plugins = [\"pdc_double.so\"]\n[[kernel]]\ntype = \"double\"\nid = \"processor\"\n";
  daemon_process sut{{"--config", cfg}};
  ASSERT_TRUE(sut.ready()) << sut.log();
  const auto r = sut.pdcctl({"send", "processor", "--int64", "5", "--wait-reply", "--timeout", "20000"});
  EXPECT_EQ(r.exit_code, 0) << r.err << sut.log();
  EXPECT_NE(r.out.find("10"), std::string::npos) << r.out;
}

TEST(PdcctlAlone, UnreachableDaemonExitsWithAClearMessage) {
  temp_dir dir;
  const auto r = run_command({PDC_PDCCTL_PATH, "--socket", dir.path() + "/nobody.sock", "list"}, dir.path());
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("nobody.sock"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace pdc::test
