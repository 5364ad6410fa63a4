#include <gtest/gtest.h>

#include "app/config.hpp"
#include "runtime/access.hpp"

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

namespace pdc::daemon {
namespace {

TEST(Config, ClusterSectionNamesTheNodeItsServersAndExports) {
  auto sut = parse_config(R"(
[cluster]
node = "edge-1"
urls = ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"]
user = "edge-1"
password = "secret"
access = ["anyone=send"]
request_timeout_ms = 1500
[[kernel]]
type = "echo"
id = "e"
export = true
access = ["node:core=send", "node:*=send"]
)",
                          "c.toml");
  ASSERT_TRUE(sut) << sut.err().what();
  EXPECT_TRUE(sut->cluster.enabled());
  EXPECT_EQ(sut->cluster.node, "edge-1");
  EXPECT_EQ(sut->cluster.urls.size(), 2U);
  EXPECT_EQ(sut->cluster.user, "edge-1");
  EXPECT_EQ(sut->cluster.request_timeout_ms, 1500U);
  EXPECT_TRUE(sut->kernels.at(0).launch.exported);
  auto list = access_list::parse(sut->kernels.at(0).launch.access);
  ASSERT_TRUE(list) << list.err().what();
  EXPECT_TRUE(list->permits_node("core", kernel_right::send));
  EXPECT_TRUE(list->permits_node("other", kernel_right::send));  // node:*
  EXPECT_FALSE(list->permits_node("core", kernel_right::attach));
  // Without a [cluster], no bridge; a default URL when none is given.
  auto plain = parse_config("", "p.toml");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->cluster.enabled());
  auto local = parse_config("[cluster]\nnode = \"n\"\n", "l.toml");
  ASSERT_TRUE(local) << local.err().what();
  EXPECT_EQ(local->cluster.urls.at(0), "nats://127.0.0.1:4222");
}

TEST(Config, ABadClusterSectionIsRefusedSayingWhy) {
  const std::pair<const char*, const char*> cases[] = {
      {"[cluster]\nurls = [\"nats://x:1\"]\n", "needs 'node'"},
      {"[cluster]\nnode = \"a.b\"\n", "no '.'"},
      {"[cluster]\nnode = \"\"\n", "1-64 characters"},
      {"[cluster]\nnode = \"a\"\nnkey = \"UABC\"\n", "go together"},
      {"[cluster]\nnode = \"a\"\nnkey = \"UABC\"\nnkey_seed_file = \"/k\"\nuser = \"u\"\n", "not both"},
      {"[cluster]\nnode = \"a\"\nport = 4222\n", "port"},
  };
  for (const auto& [text, why] : cases) {
    auto sut = parse_config(text, "bad.toml");
    ASSERT_FALSE(sut) << text;
    EXPECT_NE(sut.err().what().find(why), std::string::npos) << text << " -> " << sut.err().what();
  }
}

TEST(Config, ANodeEntryOfAnAccessListGrantsNoLocalClient) {
  auto list = access_list::parse({"node:b=send"});
  ASSERT_TRUE(list) << list.err().what();
  peer_credentials local;
  local.uid = 4242;
  EXPECT_FALSE(list->permits(local, 1, kernel_right::send));
  EXPECT_TRUE(list->permits_node("b", kernel_right::send));
  EXPECT_FALSE(list->permits_node("c", kernel_right::send));
  auto anyone = access_list::parse({"anyone=send"});
  ASSERT_TRUE(anyone);
  EXPECT_FALSE(anyone->permits_node("b", kernel_right::send));  // anyone here, not another node
}

}  // namespace
}  // namespace pdc::daemon
