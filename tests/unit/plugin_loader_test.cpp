// Plugin loader: example plugins load and work, broken ones are refused with
// a clear reason and leave nothing behind, and unload respects live kernels.
#include <dlfcn.h>
#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "pdc/kernels/vector_add_generated.h"
#include "pdc/sdk.hpp"
#include "plugins/fake_host.hpp"
#include "plugins/plugin_loader.hpp"

namespace pdc::daemon {
namespace {

using test::bytes_of;

std::string kernel_path(const std::string& name) {
  return std::string(PDC_TEST_KERNELS_DIR) + "/pdc_" + name + ".so";
}
std::string test_plugin_path(const std::string& name) {
  return std::string(PDC_TEST_PLUGINS_DIR) + "/pdc_test_" + name + ".so";
}

/// True if the shared object at `path` is still mapped into this process.
bool is_mapped(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (h == nullptr) return false;
  dlclose(h);
  return true;
}

/// Checks that `r` failed with `code` and a message containing `reason`.
template <typename T>
void expect_error(const result<T>& r, errc code, std::string_view reason) {
  ASSERT_FALSE(r) << "expected " << name_of(code);
  EXPECT_EQ(r.code(), code) << r.err().what();
  EXPECT_NE(r.err().what().find(reason), std::string::npos) << r.err().what();
}

/// A kernel of a loaded type, holding the type (and so its plugin) while it lives.
test::kernel_instance instance_of(const kernel_type_ref& type, const char* config = "") {
  return test::kernel_instance(type->type, config, type);
}

class PluginLoaderTest : public ::testing::Test {
 protected:
  /// Loads a plugin that must load; returns the named kernel type.
  kernel_type_ref load_type(const std::string& path, const std::string& type_name) {
    auto loaded = sut.load(path);
    EXPECT_TRUE(loaded) << loaded.err().what();
    auto type = sut.find_type(type_name);
    EXPECT_NE(type, nullptr) << type_name;
    return type;
  }

  plugin_loader sut{test::fake_host()};
};

// --- example plugins load and expose their types ---------------------------------------------------------------

struct example_case {
  const char* plugin;
  std::uint32_t tiers;
  std::uint32_t flags;
  bool loop;
};

void PrintTo(const example_case& c, std::ostream* os) {
  *os << c.plugin;
}

class ExamplePluginTest : public PluginLoaderTest, public ::testing::WithParamInterface<example_case> {};

TEST_P(ExamplePluginTest, LoadsAndExposesItsKernelType) {
  const example_case& c = GetParam();

  auto loaded = sut.load(kernel_path(c.plugin));

  ASSERT_TRUE(loaded) << loaded.err().what();
  EXPECT_EQ(loaded->name, c.plugin);
  EXPECT_EQ(loaded->version, "1.0.0");
  EXPECT_EQ(loaded->path, kernel_path(c.plugin));
  EXPECT_EQ(loaded->kernel_types, std::vector<std::string>{c.plugin});
  const auto type = sut.find_type(c.plugin);
  ASSERT_NE(type, nullptr);
  EXPECT_EQ(type->name, c.plugin);
  EXPECT_FALSE(type->description.empty());
  EXPECT_EQ(type->tiers, c.tiers);
  EXPECT_EQ(type->flags, c.flags);
  EXPECT_EQ(type->is_loop(), c.loop);
  EXPECT_EQ(type->plugin->name(), c.plugin);
  EXPECT_NE(type->type.create, nullptr);
  EXPECT_NE(type->type.destroy, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Examples, ExamplePluginTest,
                         ::testing::Values(example_case{"echo", PDC_TIER_MASK_CPU, PDC_KERNEL_CONCURRENT, false},
                                           example_case{"double", PDC_TIER_MASK_CPU, PDC_KERNEL_CONCURRENT, false},
                                           example_case{"vector_add", PDC_TIER_MASK_CPU, PDC_KERNEL_CONCURRENT, false},
                                           example_case{"counter", PDC_TIER_MASK_CPU, 0, false},
                                           example_case{"echo_loop",
                                                        PDC_TIER_MASK(PDC_TIER_THREADED) |
                                                            PDC_TIER_MASK(PDC_TIER_SPIN) | PDC_TIER_MASK(PDC_TIER_POOL),
                                                        PDC_KERNEL_MAY_BLOCK | PDC_KERNEL_CONCURRENT, true}),
                         [](const auto& param_info) { return std::string(param_info.param.plugin); });

TEST_F(PluginLoaderTest, ListsEveryLoadedPluginByName) {
  for (const char* name : {"vector_add", "echo", "counter"}) ASSERT_TRUE(sut.load(kernel_path(name)));

  const auto plugins = sut.list();

  ASSERT_EQ(plugins.size(), 3U);
  EXPECT_EQ(plugins[0].name, "counter");
  EXPECT_EQ(plugins[1].name, "echo");
  EXPECT_EQ(plugins[2].name, "vector_add");
  EXPECT_EQ(plugins[2].kernel_types, std::vector<std::string>{"vector_add"});
}

TEST_F(PluginLoaderTest, FindTypeOfUnknownNameIsNull) {
  EXPECT_EQ(sut.find_type("nope"), nullptr);
}

TEST_F(PluginLoaderTest, ReadsKernelTypesAtTheDeclaredStrideOfAWiderLayout) {
  auto loaded = sut.load(test_plugin_path("padded_stride"));

  ASSERT_TRUE(loaded) << loaded.err().what();
  EXPECT_EQ(loaded->kernel_types, (std::vector<std::string>{"padded_a", "padded_b"}));
  const auto b = sut.find_type("padded_b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->tiers, PDC_TIER_MASK_CPU);
  auto kernel = instance_of(b);
  const auto payload = bytes_of("raw");
  EXPECT_EQ(kernel.send(payload), PDC_OK);
  EXPECT_EQ(kernel.last_reply(), payload);
}

TEST_F(PluginLoaderTest, KeepsACudaTypesLaunchEntryBesideItsCpuHandler) {
  auto loaded = sut.load(test_plugin_path("cuda_ok"));

  ASSERT_TRUE(loaded) << loaded.err().what();
  const auto t = sut.find_type("raw_cuda");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->tiers, PDC_TIER_MASK_CPU | PDC_TIER_MASK(PDC_TIER_CUDA));
  ASSERT_TRUE(t->cuda.has_value());
  EXPECT_EQ(t->cuda->grid, 1U);
  EXPECT_EQ(t->cuda->block, 32U);
  ASSERT_NE(t->cuda->launch, nullptr);
  const char* name = nullptr;
  pdc_cuda_launch_args args{};
  EXPECT_EQ(t->cuda->launch(&args, &name), 209) << "the entry is the plugin's own function";
  EXPECT_STREQ(name, "cudaErrorNoKernelImageForDevice");
  // A CPU-only type has no entry.
  ASSERT_TRUE(sut.load(kernel_path("echo")));
  EXPECT_FALSE(sut.find_type("echo")->cuda.has_value());
}

TEST_F(PluginLoaderTest, LoadsAPluginWrittenInC) {
  auto loaded = sut.load(test_plugin_path("failing_create"));

  ASSERT_TRUE(loaded) << loaded.err().what();
  EXPECT_NE(sut.find_type("failing_create"), nullptr);
}

// --- refusals -----------------------------------------------------------------------------------------------------

struct refusal_case {
  const char* plugin;  // under tests/plugins
  errc code;
  const char* reason;  // must appear in the message
};

void PrintTo(const refusal_case& c, std::ostream* os) {
  *os << c.plugin;
}

class RefusedPluginTest : public PluginLoaderTest, public ::testing::WithParamInterface<refusal_case> {};

TEST_P(RefusedPluginTest, IsRefusedWithItsReasonAndLeavesNothingBehind) {
  const refusal_case& c = GetParam();
  const std::string path = test_plugin_path(c.plugin);

  auto loaded = sut.load(path);

  expect_error(loaded, c.code, c.reason);
  ASSERT_FALSE(loaded);
  const std::string what = loaded.err().what();
  EXPECT_NE(what.find(path), std::string::npos) << what;
  EXPECT_EQ(what.find('\n'), std::string::npos) << "one line: " << what;
  EXPECT_TRUE(sut.list().empty());
  EXPECT_EQ(sut.find_type("raw_echo"), nullptr);
  EXPECT_FALSE(is_mapped(path)) << "a refused plugin must be dlclosed";
  auto echo = sut.load(kernel_path("echo"));
  EXPECT_TRUE(echo) << "the loader still works after a refusal: " << echo.err().what();
}

INSTANTIATE_TEST_SUITE_P(
    Broken, RefusedPluginTest,
    ::testing::Values(
        refusal_case{"no_entry", errc::plugin_error, "no entry point 'pdc_plugin_entry'"},
        refusal_case{"null_entry", errc::plugin_error, "returned no descriptor"},
        refusal_case{"abi_major", errc::version_mismatch, "it was built for plugin ABI 1.x; this daemon supports 2.x"},
        refusal_case{"abi_minor", errc::version_mismatch, "newer than this daemon's"},
        refusal_case{"small_struct", errc::plugin_error, "bad descriptor struct_size 8"},
        refusal_case{"huge_struct", errc::plugin_error, "bad descriptor struct_size 1000000"},
        refusal_case{"small_type_size", errc::plugin_error, "bad kernel_type_size 16"},
        refusal_case{"empty_name", errc::plugin_error, "descriptor has no name"},
        refusal_case{"no_types", errc::plugin_error, "provides no kernel types"},
        refusal_case{"dup_within", errc::already_exists, "kernel type 'twin' appears twice"},
        refusal_case{"both_handlers", errc::plugin_error, "sets both on_message and run"},
        refusal_case{"no_handler", errc::plugin_error, "sets neither on_message nor run"},
        refusal_case{"no_tiers", errc::plugin_error, "has no tier it can run on (tiers is 0)"},
        refusal_case{"unknown_tier", errc::plugin_error, "uses unknown tier bits 0x100"},
        refusal_case{"small_type_struct", errc::plugin_error, "kernel type #0 has bad struct_size 8"},
        refusal_case{"loop_async_only", errc::plugin_error, "has no tier it can run on"},
        refusal_case{"cuda_no_entry", errc::plugin_error, "declares the cuda tier but has no cuda entry"},
        refusal_case{"cuda_entry_no_tier", errc::plugin_error, "has a cuda entry but does not declare the cuda tier"},
        refusal_case{"cuda_no_launch", errc::plugin_error, "cuda entry has no launch function"},
        refusal_case{"cuda_bad_block", errc::plugin_error,
                     "cuda entry has block 48 (must be a multiple of 32, from 32 to 1024)"}),
    [](const auto& param_info) { return std::string(param_info.param.plugin); });

TEST_F(PluginLoaderTest, RefusesFileThatIsNotThereWithTheDlerror) {
  auto loaded = sut.load(test_plugin_path("missing"));

  expect_error(loaded, errc::plugin_error, "dlopen failed");
  expect_error(loaded, errc::plugin_error, "No such file");
}

TEST_F(PluginLoaderTest, RefusesFileThatIsNotASharedObject) {
  auto loaded = sut.load(std::string(PDC_TEST_SOURCE_DIR) + "/unit/plugin_loader_test.cpp");

  expect_error(loaded, errc::plugin_error, "invalid ELF header");
}

TEST_F(PluginLoaderTest, RefusesSecondPluginWithTheSameName) {
  ASSERT_TRUE(sut.load(kernel_path("echo")));

  auto again = sut.load(kernel_path("echo"));

  expect_error(again, errc::already_exists, "a plugin named 'echo' is already loaded");
  EXPECT_EQ(sut.list().size(), 1U);
  EXPECT_NE(sut.find_type("echo"), nullptr);
}

TEST_F(PluginLoaderTest, RefusesKernelTypeNameAnotherPluginProvides) {
  ASSERT_TRUE(sut.load(kernel_path("echo")));

  auto dup = sut.load(test_plugin_path("dup_echo"));

  expect_error(dup, errc::already_exists, "kernel type 'echo' is already provided by plugin 'echo'");
  ASSERT_EQ(sut.list().size(), 1U);
  EXPECT_EQ(sut.find_type("echo")->plugin->name(), "echo");
  EXPECT_FALSE(is_mapped(test_plugin_path("dup_echo")));
}

// --- unload -------------------------------------------------------------------------------------------------------

TEST_F(PluginLoaderTest, UnloadRefusesWhileAKernelHoldsItsTypeAndSucceedsAfter) {
  ASSERT_TRUE(sut.load(kernel_path("echo")));
  auto held = sut.find_type("echo");

  auto refused = sut.unload("echo");

  expect_error(refused, errc::illegal_state, "1 kernel(s) of it still hold a reference");
  EXPECT_NE(sut.find_type("echo"), nullptr);

  held.reset();
  auto unloaded = sut.unload("echo");

  EXPECT_TRUE(unloaded) << unloaded.err().what();
  EXPECT_EQ(sut.find_type("echo"), nullptr);
  EXPECT_TRUE(sut.list().empty());
  EXPECT_FALSE(is_mapped(kernel_path("echo")));
}

TEST_F(PluginLoaderTest, UnloadCountsEveryHolder) {
  ASSERT_TRUE(sut.load(kernel_path("echo")));
  auto first = sut.find_type("echo");
  auto second = sut.find_type("echo");

  auto refused = sut.unload("echo");

  expect_error(refused, errc::illegal_state, "2 kernel(s)");
}

TEST_F(PluginLoaderTest, UnloadOfUnknownPluginIsNotFound) {
  EXPECT_EQ(sut.unload("nope").code(), errc::not_found);
}

TEST_F(PluginLoaderTest, PluginCanBeLoadedAgainAfterUnload) {
  ASSERT_TRUE(sut.load(kernel_path("double")));
  ASSERT_TRUE(sut.unload("double"));

  auto again = sut.load(kernel_path("double"));

  EXPECT_TRUE(again) << again.err().what();
}

TEST_F(PluginLoaderTest, KernelTypeRefKeepsPluginLoadedPastTheLoader) {
  kernel_type_ref held;
  {
    plugin_loader loader(test::fake_host());
    ASSERT_TRUE(loader.load(kernel_path("echo")));
    held = loader.find_type("echo");
  }
  ASSERT_TRUE(is_mapped(kernel_path("echo")));
  auto kernel = instance_of(held);
  const auto payload = bytes_of("still here");

  EXPECT_EQ(kernel.send(payload), PDC_OK);
  EXPECT_EQ(kernel.last_reply(), payload);
}

// --- example handlers, driven through the loaded descriptor ---------------------------------------------------------

std::vector<std::byte> int64_payload(std::int64_t v) {
  return bytes_of(sdk::to_le_bytes(v));
}
std::optional<std::int64_t> int64_of(const std::vector<std::byte>& bytes) {
  return sdk::read_le<std::int64_t>(bytes);
}

TEST_F(PluginLoaderTest, EchoRepliesWithThePayloadUnchanged) {
  auto kernel = instance_of(load_type(kernel_path("echo"), "echo"));
  ASSERT_EQ(kernel.create_rc(), PDC_OK);
  const auto payload = bytes_of("hello, ring");

  EXPECT_EQ(kernel.send(payload, 9), PDC_OK);

  ASSERT_EQ(kernel.host.replies.size(), 1U);
  EXPECT_EQ(kernel.host.replies[0].data, payload);
  EXPECT_EQ(kernel.host.replies[0].type_id, 9U);
  EXPECT_EQ(kernel.host.replies[0].correlation_id, 1U);
}

TEST_F(PluginLoaderTest, EchoRepliesToAnEmptyPayload) {
  auto kernel = instance_of(load_type(kernel_path("echo"), "echo"));

  EXPECT_EQ(kernel.send(""), PDC_OK);

  ASSERT_EQ(kernel.host.replies.size(), 1U);
  EXPECT_TRUE(kernel.host.replies[0].data.empty());
}

TEST_F(PluginLoaderTest, DoubleRepliesWithTwiceTheValue) {
  auto kernel = instance_of(load_type(kernel_path("double"), "double"));

  ASSERT_EQ(kernel.send(int64_payload(21)), PDC_OK);
  EXPECT_EQ(int64_of(kernel.last_reply()), 42);
  ASSERT_EQ(kernel.send(int64_payload(-5)), PDC_OK);
  EXPECT_EQ(int64_of(kernel.last_reply()), -10);
}

TEST_F(PluginLoaderTest, DoubleRefusesPayloadOfWrongSizeAndSaysWhichSize) {
  auto kernel = instance_of(load_type(kernel_path("double"), "double"));

  const int rc = kernel.send(bytes_of("abc"));

  EXPECT_LT(rc, 0);
  EXPECT_TRUE(kernel.host.replies.empty());
  EXPECT_TRUE(kernel.host.logged("got 3 bytes")) << kernel.host.log_text();
}

std::vector<std::byte> vector_add_request(const std::vector<float>& a, const std::vector<float>& b) {
  flatbuffers::FlatBufferBuilder fbb;
  const auto va = fbb.CreateVector(a);
  const auto vb = fbb.CreateVector(b);
  fbb.Finish(kernels::CreateVectorAddRequest(fbb, va, vb));
  return bytes_of(std::as_bytes(std::span(fbb.GetBufferPointer(), fbb.GetSize())));
}

std::optional<std::vector<float>> vector_add_sum(const std::vector<std::byte>& reply) {
  const auto* data = reinterpret_cast<const std::uint8_t*>(reply.data());
  flatbuffers::Verifier verifier(data, reply.size());
  if (!verifier.VerifyBuffer<kernels::VectorAddResponse>(nullptr)) return std::nullopt;
  const auto* sum = flatbuffers::GetRoot<kernels::VectorAddResponse>(data)->sum();
  if (sum == nullptr) return std::vector<float>{};
  return std::vector<float>(sum->begin(), sum->end());
}

TEST_F(PluginLoaderTest, VectorAddRepliesWithTheElementWiseSum) {
  auto kernel = instance_of(load_type(kernel_path("vector_add"), "vector_add"));

  ASSERT_EQ(kernel.send(vector_add_request({1.0F, 2.0F}, {3.0F, 4.0F})), PDC_OK);

  EXPECT_EQ(vector_add_sum(kernel.last_reply()), (std::vector<float>{4.0F, 6.0F}));
}

TEST_F(PluginLoaderTest, VectorAddAcceptsAPayloadAtAnOddAddress) {
  auto kernel = instance_of(load_type(kernel_path("vector_add"), "vector_add"));
  const auto request = vector_add_request({0.5F}, {0.25F});
  std::vector<std::byte> shifted(request.size() + 1);
  std::memcpy(shifted.data() + 1, request.data(), request.size());

  ASSERT_EQ(kernel.send(std::span(shifted).subspan(1)), PDC_OK);

  EXPECT_EQ(vector_add_sum(kernel.last_reply()), (std::vector<float>{0.75F}));
}

TEST_F(PluginLoaderTest, VectorAddRefusesVectorsOfUnequalLength) {
  auto kernel = instance_of(load_type(kernel_path("vector_add"), "vector_add"));

  EXPECT_LT(kernel.send(vector_add_request({1.0F, 2.0F}, {3.0F})), 0);

  EXPECT_TRUE(kernel.host.replies.empty());
  EXPECT_TRUE(kernel.host.logged("a has 2, b has 1")) << kernel.host.log_text();
}

TEST_F(PluginLoaderTest, VectorAddRefusesABufferThatFailsVerification) {
  auto kernel = instance_of(load_type(kernel_path("vector_add"), "vector_add"));
  auto request = vector_add_request({1.0F}, {2.0F});
  request.resize(request.size() / 2);

  EXPECT_LT(kernel.send(request), 0);
  EXPECT_LT(kernel.send(bytes_of("not a flatbuffer")), 0);

  EXPECT_TRUE(kernel.host.replies.empty());
  EXPECT_TRUE(kernel.host.logged("not a valid VectorAddRequest")) << kernel.host.log_text();
}

TEST_F(PluginLoaderTest, CounterCountsMessagesPerKernel) {
  const auto type = load_type(kernel_path("counter"), "counter");
  auto first = instance_of(type);
  auto second = instance_of(type);

  for (std::int64_t expected = 1; expected <= 3; ++expected) {
    ASSERT_EQ(first.send(""), PDC_OK);
    EXPECT_EQ(int64_of(first.last_reply()), expected);
  }
  ASSERT_EQ(second.send(""), PDC_OK);
  EXPECT_EQ(int64_of(second.last_reply()), 1);
}

TEST_F(PluginLoaderTest, CounterStartsFromItsConfig) {
  auto kernel = instance_of(load_type(kernel_path("counter"), "counter"), "10");

  ASSERT_EQ(kernel.send(""), PDC_OK);

  EXPECT_EQ(int64_of(kernel.last_reply()), 11);
}

TEST_F(PluginLoaderTest, CounterCreateFailsOnABadConfigAndSaysWhy) {
  auto kernel = instance_of(load_type(kernel_path("counter"), "counter"), "ten");

  EXPECT_EQ(kernel.create_rc(), PDC_E_PLUGIN);
  EXPECT_TRUE(kernel.host.logged("got 'ten'")) << kernel.host.log_text();
}

TEST_F(PluginLoaderTest, EchoLoopEchoesEveryQueuedMessageThenReturnsOnTermination) {
  auto kernel = instance_of(load_type(kernel_path("echo_loop"), "echo_loop"));
  for (const char* text : {"a", "bb", "ccc"}) kernel.host.inbox.push_back(bytes_of(text));

  EXPECT_EQ(kernel.run(), PDC_OK);

  ASSERT_EQ(kernel.host.replies.size(), 3U);
  EXPECT_EQ(kernel.host.replies[2].data, bytes_of("ccc"));
  EXPECT_EQ(kernel.host.replies[2].correlation_id, 3U);
}

// --- failures inside plugins ----------------------------------------------------------------------------------------

TEST_F(PluginLoaderTest, FailingCreateReportsPluginErrorAndLogsWhy) {
  auto kernel = instance_of(load_type(test_plugin_path("failing_create"), "failing_create"));

  EXPECT_EQ(kernel.create_rc(), PDC_E_PLUGIN);
  EXPECT_TRUE(kernel.host.logged("create always fails")) << kernel.host.log_text();
}

class SdkFaultsTest : public PluginLoaderTest {
 protected:
  void SetUp() override { ASSERT_TRUE(sut.load(test_plugin_path("sdk_faults"))); }
};

TEST_F(SdkFaultsTest, HandlerExceptionBecomesPluginErrorWithALogLine) {
  auto kernel = instance_of(sut.find_type("throwing_handler"));

  EXPECT_EQ(kernel.send(bytes_of("x")), PDC_E_PLUGIN);
  EXPECT_EQ(kernel.send(bytes_of("y")), PDC_E_PLUGIN) << "the kernel survives its exception";

  EXPECT_TRUE(kernel.host.logged("on_message failed: throwing_handler: boom")) << kernel.host.log_text();
}

TEST_F(SdkFaultsTest, NonStandardExceptionBecomesPluginError) {
  auto kernel = instance_of(sut.find_type("throwing_unknown"));

  EXPECT_EQ(kernel.send(""), PDC_E_PLUGIN);
  EXPECT_TRUE(kernel.host.logged("not derived from std::exception")) << kernel.host.log_text();
}

TEST_F(SdkFaultsTest, HandlerErrorCodeIsPassedThrough) {
  auto kernel = instance_of(sut.find_type("error_handler"));

  EXPECT_EQ(kernel.send(""), PDC_E_INVALID_ARGUMENT);
  EXPECT_TRUE(kernel.host.replies.empty());
}

TEST_F(SdkFaultsTest, ConstructorExceptionFailsCreate) {
  auto kernel = instance_of(sut.find_type("throwing_create"));

  EXPECT_EQ(kernel.create_rc(), PDC_E_PLUGIN);
  EXPECT_TRUE(kernel.host.logged("create failed: throwing_create: no state")) << kernel.host.log_text();
}

TEST_F(SdkFaultsTest, RunExceptionBecomesPluginError) {
  auto kernel = instance_of(sut.find_type("throwing_run"));

  EXPECT_EQ(kernel.run(), PDC_E_PLUGIN);
  EXPECT_TRUE(kernel.host.logged("run failed: throwing_run: boom")) << kernel.host.log_text();
}

}  // namespace
}  // namespace pdc::daemon
