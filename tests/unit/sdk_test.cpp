// C++ plugin SDK, in-process: the descriptor PDC_PLUGIN builds, the context
// and message wrappers, each handler style, and the coroutine style.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "pdc/sdk.hpp"
#include "plugins/fake_host.hpp"

namespace {

using pdc::sdk::context;
using pdc::sdk::message;

// Uses every context call once; returns void (meaning PDC_OK).
class recording_kernel {
 public:
  recording_kernel(context& ctx, std::string_view config) : config_(config), id_(ctx.kernel_id()) {}

  void on_message(context& ctx, const message& msg) {
    ctx.emit_text("emitted:" + config_, 3);
    ctx.send_to("peer", msg.payload(), msg.type_id());
    ctx.log_info(id_ + " at " + std::to_string(ctx.now_ns()) + (ctx.is_active() ? " active" : " idle"));
    ctx.reply_text(msg, msg.text());
  }

 private:
  std::string config_;
  std::string id_;
};

class config_kernel {
 public:
  explicit config_kernel(std::string_view config) : config_(config) {}
  int on_message(context& ctx, const message& msg) { return ctx.reply_text(msg, config_); }

 private:
  std::string config_;
};

class blocking_kernel {
 public:
  int on_message(context& /*ctx*/, const message& /*msg*/) { return PDC_OK; }
};

class echo_loop_kernel {
 public:
  int run(context& ctx) {
    auto inbox = ctx.messages(std::chrono::milliseconds(5));
    for (const message& msg : inbox) ctx.reply(msg, msg.payload());
    return inbox.status();
  }
};

// Replies with the sum of each pair of int64 messages: a two-message
// protocol as straight-line code. co_return ends the pair; the SDK starts
// the coroutine again for the next message.
class pairs_kernel {
 public:
  pdc::sdk::task run(pdc::sdk::co_context& ctx) {
    const message first = co_await ctx.next_message();
    const auto a = pdc::sdk::read_le<std::int64_t>(first.payload());
    const message second = co_await ctx.next_message();
    const auto b = pdc::sdk::read_le<std::int64_t>(second.payload());
    if (!a || !b) {
      ctx.set_status(PDC_E_INVALID_ARGUMENT);
      co_return;
    }
    ++pairs_;
    ctx.reply(second, pdc::sdk::to_le_bytes(*a + *b + 1000 * (pairs_ - 1)));
  }

 private:
  std::int64_t pairs_ = 0;  // survives restarts: it lives in the kernel, not the frame
};

// Throws on "boom"; otherwise echoes, forever.
class flaky_coroutine {
 public:
  pdc::sdk::task run(pdc::sdk::co_context& ctx) {
    for (;;) {
      const message msg = co_await ctx.next_message();
      if (msg.text() == "boom") throw std::runtime_error("flaky: boom");
      ctx.reply(msg, msg.payload());
    }
  }
};

// A coroutine that never awaits: no message can ever reach it.
class idle_coroutine {
 public:
  pdc::sdk::task run(pdc::sdk::co_context& /*ctx*/) { co_return; }
};

enum type_index : std::size_t { k_recording, k_config, k_blocking, k_loop, k_pairs, k_flaky, k_idle, k_type_count };

}  // namespace

PDC_PLUGIN("sdk_test", "9.9.9", pdc::sdk::kernel_type<recording_kernel>("recording", "uses every context call"),
           pdc::sdk::kernel_type<config_kernel>("config", "replies with its config"),
           pdc::sdk::kernel_type<blocking_kernel>("blocking", "declares it may block", {.may_block = true}),
           pdc::sdk::kernel_type<echo_loop_kernel>("loop", "loop-style echo"),
           pdc::sdk::kernel_type<pairs_kernel>("pairs", "sums pairs (coroutine)",
                                               {.tiers = PDC_TIER_MASK(PDC_TIER_ASYNC) | PDC_TIER_MASK(PDC_TIER_SPIN)}),
           pdc::sdk::kernel_type<flaky_coroutine>("flaky", "coroutine that throws on 'boom'"),
           pdc::sdk::kernel_type<idle_coroutine>("idle", "coroutine that returns at once"));

namespace pdc::sdk {
namespace {

using test::bytes_of;
using test::kernel_instance;

const pdc_kernel_type& type_at(std::size_t index) {
  const pdc_plugin_descriptor* d = pdc_plugin_entry(test::fake_host());
  return d->kernel_types[index];
}

std::vector<std::byte> int64_payload(std::int64_t v) {
  return bytes_of(to_le_bytes(v));
}

// --- descriptor ---------------------------------------------------------------------------------------------------

TEST(SdkDescriptor, CarriesAbiVersionSizesAndEveryType) {
  const pdc_plugin_descriptor* sut = pdc_plugin_entry(test::fake_host());

  ASSERT_NE(sut, nullptr);
  EXPECT_EQ(sut->abi_major, PDC_PLUGIN_ABI_MAJOR);
  EXPECT_EQ(sut->abi_minor, PDC_PLUGIN_ABI_MINOR);
  EXPECT_EQ(sut->struct_size, sizeof(pdc_plugin_descriptor));
  EXPECT_EQ(sut->kernel_type_size, sizeof(pdc_kernel_type));
  EXPECT_STREQ(sut->name, "sdk_test");
  EXPECT_STREQ(sut->version, "9.9.9");
  ASSERT_EQ(sut->kernel_type_count, k_type_count);
  EXPECT_STREQ(sut->kernel_types[k_pairs].name, "pairs");
  EXPECT_STREQ(sut->kernel_types[k_pairs].description, "sums pairs (coroutine)");
  for (std::size_t i = 0; i < k_type_count; ++i) EXPECT_EQ(sut->kernel_types[i].struct_size, sizeof(pdc_kernel_type));
}

TEST(SdkDescriptor, EntryRefusesAHostTableSmallerThanTheSdkKnows) {
  pdc_host_api old_host = *test::fake_host();
  old_host.struct_size = 8;

  EXPECT_EQ(pdc_plugin_entry(&old_host), nullptr);
  EXPECT_EQ(pdc_plugin_entry(nullptr), nullptr);
}

TEST(SdkKernelType, ReactiveKernelRunsOnEveryCpuTierByDefault) {
  const pdc_kernel_type& sut = type_at(k_recording);

  EXPECT_EQ(sut.tiers, PDC_TIER_MASK_CPU);
  EXPECT_EQ(sut.flags, 0U);
  EXPECT_NE(sut.on_message, nullptr);
  EXPECT_EQ(sut.run, nullptr);
}

TEST(SdkKernelType, MayBlockKernelIsKeptOffTheAsyncTier) {
  const pdc_kernel_type& sut = type_at(k_blocking);

  EXPECT_EQ(sut.tiers, PDC_TIER_MASK(PDC_TIER_THREADED) | PDC_TIER_MASK(PDC_TIER_SPIN) | PDC_TIER_MASK(PDC_TIER_POOL));
  EXPECT_EQ(sut.flags, PDC_KERNEL_MAY_BLOCK);
}

TEST(SdkKernelType, LoopKernelRunsOnThreadedSpinAndPoolAndMayBlock) {
  const pdc_kernel_type& sut = type_at(k_loop);

  EXPECT_EQ(sut.tiers, PDC_TIER_MASK(PDC_TIER_THREADED) | PDC_TIER_MASK(PDC_TIER_SPIN) | PDC_TIER_MASK(PDC_TIER_POOL));
  EXPECT_EQ(sut.flags, PDC_KERNEL_MAY_BLOCK);
  EXPECT_EQ(sut.on_message, nullptr);
  EXPECT_NE(sut.run, nullptr);
}

TEST(SdkKernelType, CoroutineKernelIsReactiveAndHonoursExplicitTiers) {
  const pdc_kernel_type& sut = type_at(k_pairs);

  EXPECT_EQ(sut.tiers, PDC_TIER_MASK(PDC_TIER_ASYNC) | PDC_TIER_MASK(PDC_TIER_SPIN));
  EXPECT_EQ(sut.flags, 0U);
  EXPECT_NE(sut.on_message, nullptr);
  EXPECT_EQ(sut.run, nullptr);
}

// --- context and message ------------------------------------------------------------------------------------------

TEST(SdkContext, ForwardsEveryCallToTheHost) {
  kernel_instance sut(type_at(k_recording), "cfg");
  ASSERT_EQ(sut.create_rc(), PDC_OK);

  EXPECT_EQ(sut.send(bytes_of("hi"), 4), PDC_OK);

  ASSERT_EQ(sut.host.emitted.size(), 1U);
  EXPECT_EQ(sut.host.emitted[0].data, bytes_of("emitted:cfg"));
  EXPECT_EQ(sut.host.emitted[0].type_id, 3U);
  ASSERT_EQ(sut.host.sent.size(), 1U);
  EXPECT_EQ(sut.host.sent[0].target, "peer");
  EXPECT_EQ(sut.host.sent[0].type_id, 4U);
  EXPECT_EQ(sut.host.log_text(), "test-kernel at 123 active\n");
  EXPECT_EQ(sut.last_reply(), bytes_of("hi"));
}

TEST(SdkContext, KernelMayTakeOnlyItsConfig) {
  kernel_instance sut(type_at(k_config), "the config");

  EXPECT_EQ(sut.send("x"), PDC_OK);

  EXPECT_EQ(sut.last_reply(), bytes_of("the config"));
}

TEST(SdkContext, ReceivePassesTheTimeoutInNanoseconds) {
  test::fake_kernel host;
  const context sut(host.ctx(), test::fake_host());
  host.receive_statuses = {PDC_E_TIMEOUT};

  const received r = sut.receive(std::chrono::milliseconds(5));

  EXPECT_FALSE(r);
  EXPECT_TRUE(r.timed_out());
  EXPECT_EQ(host.last_timeout_ns, 5'000'000);
}

TEST(SdkMessage, ViewsTheCMessage) {
  const auto payload = bytes_of("abc");
  const message sut(test::make_message(payload, 77, 5));

  EXPECT_EQ(sut.text(), "abc");
  EXPECT_EQ(sut.size(), 3U);
  EXPECT_EQ(sut.payload().data(), payload.data());
  EXPECT_EQ(sut.type_id(), 5U);
  EXPECT_EQ(sut.message_id(), 77U);
  EXPECT_TRUE(sut.expects_reply());
  EXPECT_EQ(sut.priority(), 128);
}

TEST(SdkMessage, EmptyMessageHasAnEmptyPayload) {
  const message sut;

  EXPECT_TRUE(sut.empty());
  EXPECT_TRUE(sut.payload().empty());
  EXPECT_TRUE(sut.text().empty());
  EXPECT_FALSE(sut.expects_reply());
}

TEST(SdkBytes, LittleEndianRoundTripAndSizeCheck) {
  const auto bytes = to_le_bytes(std::int64_t{0x0102030405060708});

  EXPECT_EQ(bytes[0], std::byte{0x08});
  EXPECT_EQ(bytes[7], std::byte{0x01});
  EXPECT_EQ(read_le<std::int64_t>(bytes), 0x0102030405060708);
  EXPECT_EQ(read_le<std::int64_t>(std::span(bytes).first(4)), std::nullopt);
  EXPECT_EQ(read_le<float>(to_le_bytes(1.5F)), 1.5F);
}

// --- loop style ---------------------------------------------------------------------------------------------------

TEST(SdkLoop, MessagesEndsWhenTheHostReportsTermination) {
  kernel_instance sut(type_at(k_loop));
  sut.host.inbox = {bytes_of("a"), bytes_of("b")};

  EXPECT_EQ(sut.run(), PDC_OK);

  EXPECT_EQ(sut.host.replies.size(), 2U);
  EXPECT_EQ(sut.host.last_timeout_ns, 5'000'000);
}

TEST(SdkLoop, MessagesSkipsTimeoutsWhileTheKernelShouldRun) {
  kernel_instance sut(type_at(k_loop));
  sut.host.receive_statuses = {PDC_E_TIMEOUT, PDC_E_TIMEOUT};
  sut.host.inbox = {bytes_of("a")};

  EXPECT_EQ(sut.run(), PDC_OK);

  EXPECT_EQ(sut.host.replies.size(), 1U);
}

TEST(SdkLoop, MessagesEndsOnATimeoutOnceTheKernelShouldTerminate) {
  kernel_instance sut(type_at(k_loop));
  sut.host.receive_statuses = {PDC_E_TIMEOUT, PDC_E_INTERNAL};  // the second is never reached

  EXPECT_EQ(sut.run(), PDC_OK);

  EXPECT_EQ(sut.host.receive_statuses.size(), 1U);
}

TEST(SdkLoop, ReceiveErrorEndsTheLoopAndIsReturned) {
  kernel_instance sut(type_at(k_loop));
  sut.host.receive_statuses = {PDC_E_PEER_GONE};
  sut.host.inbox = {bytes_of("never read")};

  EXPECT_EQ(sut.run(), PDC_E_PEER_GONE);

  EXPECT_TRUE(sut.host.replies.empty());
}

// --- coroutine style ----------------------------------------------------------------------------------------------

TEST(SdkCoroutine, AwaitsMessagesAcrossHandlerCalls) {
  kernel_instance sut(type_at(k_pairs));
  ASSERT_EQ(sut.create_rc(), PDC_OK);

  EXPECT_EQ(sut.send(int64_payload(2)), PDC_OK);
  EXPECT_TRUE(sut.host.replies.empty());
  EXPECT_EQ(sut.send(int64_payload(3)), PDC_OK);

  ASSERT_EQ(sut.host.replies.size(), 1U);
  EXPECT_EQ(read_le<std::int64_t>(sut.last_reply()), 5);
  EXPECT_EQ(sut.host.replies[0].correlation_id, 2U) << "the reply answers the second message";
}

TEST(SdkCoroutine, StartsAgainAfterCoReturnKeepingKernelState) {
  kernel_instance sut(type_at(k_pairs));
  sut.send(int64_payload(1));
  sut.send(int64_payload(1));

  sut.send(int64_payload(10));
  EXPECT_EQ(sut.send(int64_payload(20)), PDC_OK);

  ASSERT_EQ(sut.host.replies.size(), 2U);
  EXPECT_EQ(read_le<std::int64_t>(sut.last_reply()), 1030);
}

TEST(SdkCoroutine, SetStatusFailsTheCurrentMessageOnly) {
  kernel_instance sut(type_at(k_pairs));
  sut.send(int64_payload(1));

  EXPECT_EQ(sut.send("bad"), PDC_E_INVALID_ARGUMENT);
  EXPECT_EQ(sut.send(int64_payload(1)), PDC_OK);
  EXPECT_EQ(sut.send(int64_payload(1)), PDC_OK);

  EXPECT_EQ(read_le<std::int64_t>(sut.last_reply()), 2);
}

TEST(SdkCoroutine, ExceptionFailsTheMessageAndTheNextOneStartsAfresh) {
  kernel_instance sut(type_at(k_flaky));
  ASSERT_EQ(sut.send("one"), PDC_OK);

  EXPECT_EQ(sut.send("boom"), PDC_E_PLUGIN);
  EXPECT_EQ(sut.send("two"), PDC_OK);

  EXPECT_EQ(sut.last_reply(), bytes_of("two"));
  EXPECT_TRUE(sut.host.logged("on_message failed: flaky: boom")) << sut.host.log_text();
}

TEST(SdkCoroutine, CoroutineThatNeverAwaitsFailsEachMessage) {
  kernel_instance sut(type_at(k_idle));
  ASSERT_EQ(sut.create_rc(), PDC_OK);

  EXPECT_EQ(sut.send("lost"), PDC_E_PLUGIN);

  EXPECT_TRUE(sut.host.logged("returned without awaiting a message")) << sut.host.log_text();
}

TEST(SdkCoroutine, DestroyWhileSuspendedReleasesTheFrame) {
  // Under ASan a leaked frame or kernel fails this test.
  kernel_instance sut(type_at(k_pairs));

  EXPECT_EQ(sut.send(int64_payload(1)), PDC_OK);
}

}  // namespace
}  // namespace pdc::sdk
