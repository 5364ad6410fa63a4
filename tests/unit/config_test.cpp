#include <gtest/gtest.h>

#include "app/config.hpp"

namespace pdc::daemon {
namespace {

TEST(Config, EmptyTextGivesSeedDefaults) {
  auto sut = parse_config("", "empty.toml");
  ASSERT_TRUE(sut) << sut.err().what();
  EXPECT_EQ(sut->default_capacity, 4096U);
  EXPECT_EQ(sut->max_message_bytes, 65536U);
  EXPECT_EQ(sut->log_level, "info");
}

TEST(Config, ParsesEverySection) {
  auto sut = parse_config(R"(
socket = "/tmp/x.sock"
plugin_dirs = ["/opt/pdc/kernels"]
plugins = ["pdc_echo.so"]
log_level = "debug"
[defaults]
capacity = 128
max_message_bytes = 1024
block_timeout_ms = 50
[[kernel]]
type = "echo"
id = "e1"
backpressure = "reject"
capacity = 8
activate = false
)",
                          "full.toml");
  ASSERT_TRUE(sut) << sut.err().what();
  EXPECT_EQ(sut->socket_path, "/tmp/x.sock");
  EXPECT_EQ(sut->plugins.at(0), "pdc_echo.so");
  EXPECT_EQ(sut->default_capacity, 128U);
  EXPECT_EQ(sut->block_timeout_ms, 50U);
  ASSERT_EQ(sut->kernels.size(), 1U);
  EXPECT_EQ(sut->kernels[0].launch.kernel_id, "e1");
  EXPECT_EQ(sut->kernels[0].launch.policy, backpressure_policy::reject);
  EXPECT_EQ(sut->kernels[0].launch.capacity, 8U);
  EXPECT_FALSE(sut->kernels[0].activate);
}

TEST(Config, SyntaxErrorNamesFileAndLine) {
  auto sut = parse_config("log_level = \"info\"\ncapacity = = 3\n", "bad.toml");
  ASSERT_FALSE(sut);
  EXPECT_EQ(sut.code(), errc::invalid_argument);
  EXPECT_EQ(sut.err().what().rfind("bad.toml:2:", 0), 0U) << sut.err().what();
}

TEST(Config, UnknownKeyIsRefusedWithItsLine) {
  auto sut = parse_config("\n\nplugin_dir = [\"x\"]\n", "typo.toml");
  ASSERT_FALSE(sut);
  EXPECT_NE(sut.err().what().find("typo.toml:3"), std::string::npos) << sut.err().what();
  EXPECT_NE(sut.err().what().find("plugin_dir"), std::string::npos);
}

TEST(Config, ZeroCapacityIsRefused) {
  auto sut = parse_config("[defaults]\ncapacity = 0\n", "zero.toml");
  ASSERT_FALSE(sut);
  EXPECT_NE(sut.err().what().find("zero.toml:2"), std::string::npos) << sut.err().what();
}

TEST(Config, WrongTypesAndValuesAreRefused) {
  EXPECT_FALSE(parse_config("log_level = 3\n", "t.toml"));
  EXPECT_FALSE(parse_config("log_level = \"loud\"\n", "t.toml"));
  EXPECT_FALSE(parse_config("[[kernel]]\ntype = \"echo\"\nid = \"a\"\ntier = \"warp\"\n", "t.toml"));
  EXPECT_FALSE(parse_config("[[kernel]]\ntype = \"echo\"\n", "t.toml"));
  EXPECT_FALSE(parse_config("[defaults]\nmax_message_bytes = 100000000\n", "t.toml"));
}

TEST(Config, DuplicateKernelIdIsRefused) {
  auto sut =
      parse_config("[[kernel]]\ntype = \"echo\"\nid = \"a\"\n[[kernel]]\ntype = \"echo\"\nid = \"a\"\n", "d.toml");
  ASSERT_FALSE(sut);
  EXPECT_EQ(sut.code(), errc::already_exists);
}

TEST(Config, PolicyAndTierNamesParse) {
  EXPECT_EQ(*parse_backpressure("drop-oldest"), backpressure_policy::drop_oldest);
  EXPECT_EQ(*parse_tier("spin"), kernel_tier::spin);
  EXPECT_FALSE(parse_tier("gpu"));
}

}  // namespace
}  // namespace pdc::daemon
