// A plugin written against the raw C ABI (no SDK), compiled once per
// PDC_TEST_* variant in CMakeLists.txt: each variant breaks the descriptor in
// one way the loader must refuse (or, for the padded stride, must accept).
#include <array>
#include <cstdint>

#include "pdc/plugin.h"

#define PDC_TEST_STR2(x) #x
#define PDC_TEST_STR(x) PDC_TEST_STR2(x)

#ifndef PDC_TEST_ABI_MAJOR
#define PDC_TEST_ABI_MAJOR PDC_PLUGIN_ABI_MAJOR
#endif
#ifndef PDC_TEST_ABI_MINOR
#define PDC_TEST_ABI_MINOR PDC_PLUGIN_ABI_MINOR
#endif
#ifndef PDC_TEST_STRUCT_SIZE
#define PDC_TEST_STRUCT_SIZE sizeof(pdc_plugin_descriptor)
#endif
#ifndef PDC_TEST_KERNEL_TYPE_SIZE
#define PDC_TEST_KERNEL_TYPE_SIZE sizeof(type_slot)
#endif
#ifndef PDC_TEST_PLUGIN_NAME
#define PDC_TEST_PLUGIN_NAME raw
#endif
#ifndef PDC_TEST_TYPE_NAME
#define PDC_TEST_TYPE_NAME raw_echo
#endif
#ifndef PDC_TEST_SECOND_TYPE_NAME
#define PDC_TEST_SECOND_TYPE_NAME raw_echo_2
#endif
#ifndef PDC_TEST_TYPE_COUNT
#define PDC_TEST_TYPE_COUNT 1
#endif
#ifndef PDC_TEST_HANDLERS  // 0: neither, 1: on_message, 2: run, 3: both
#define PDC_TEST_HANDLERS 1
#endif
#ifndef PDC_TEST_TIERS
#define PDC_TEST_TIERS PDC_TIER_MASK_CPU
#endif
#ifndef PDC_TEST_TYPE_STRUCT_SIZE
#define PDC_TEST_TYPE_STRUCT_SIZE sizeof(pdc_kernel_type)
#endif
#ifndef PDC_TEST_TYPE_PAD  // extra bytes after each kernel type, as a newer layout would have
#define PDC_TEST_TYPE_PAD 0
#endif

#ifndef PDC_TEST_CUDA  // 0: no cuda entry, 1: a valid one, 2: no launch function, 3: block 48
#define PDC_TEST_CUDA 0
#endif

namespace {

const pdc_host_api* g_host = nullptr;

// A cuda entry whose launch always fails (these plugins carry no device code).
[[maybe_unused]] int no_launch(const pdc_cuda_launch_args* /*args*/, const char** error_name) {
  *error_name = "cudaErrorNoKernelImageForDevice";
  return 209;
}
[[maybe_unused]] constexpr pdc_cuda_kernel k_cuda{sizeof(pdc_cuda_kernel), 1, PDC_TEST_CUDA == 3 ? 48U : 32U, 0,
                                                  PDC_TEST_CUDA == 2 ? nullptr : &no_launch};

[[maybe_unused]] int echo(void* /*state*/, pdc_kernel_ctx* ctx, const pdc_message* msg) {
  return g_host->reply(ctx, msg, msg->payload, msg->payload_len, msg->type_id);
}

[[maybe_unused]] int loop(void* /*state*/, pdc_kernel_ctx* ctx) {
  pdc_message msg{};
  while (g_host->should_terminate(ctx) == 0) {
    if (g_host->receive(ctx, &msg, 1'000'000) == PDC_OK) echo(nullptr, ctx, &msg);
  }
  return PDC_OK;
}

struct type_slot {
  pdc_kernel_type type;
#if PDC_TEST_TYPE_PAD > 0
  std::array<std::uint8_t, PDC_TEST_TYPE_PAD> future_fields;
#endif
};

constexpr type_slot make_type(const char* name) {
  type_slot s{};
  s.type.struct_size = PDC_TEST_TYPE_STRUCT_SIZE;
  s.type.tiers = PDC_TEST_TIERS;
  s.type.name = name;
  s.type.description = "raw C ABI test kernel";
  if ((PDC_TEST_HANDLERS & 1) != 0) s.type.on_message = &echo;
  if ((PDC_TEST_HANDLERS & 2) != 0) s.type.run = &loop;
  if (PDC_TEST_CUDA != 0) s.type.cuda = &k_cuda;
  return s;
}

constexpr std::array<type_slot, 2> k_types{make_type(PDC_TEST_STR(PDC_TEST_TYPE_NAME)),
                                           make_type(PDC_TEST_STR(PDC_TEST_SECOND_TYPE_NAME))};

constexpr pdc_plugin_descriptor make_descriptor() {
  pdc_plugin_descriptor d{};
  d.abi_major = PDC_TEST_ABI_MAJOR;
  d.abi_minor = PDC_TEST_ABI_MINOR;
  d.struct_size = PDC_TEST_STRUCT_SIZE;
  d.kernel_type_size = PDC_TEST_KERNEL_TYPE_SIZE;
#ifdef PDC_TEST_EMPTY_NAME
  d.name = "";
#else
  d.name = PDC_TEST_STR(PDC_TEST_PLUGIN_NAME);
#endif
  d.version = "0.0.1";
  d.kernel_type_count = PDC_TEST_TYPE_COUNT;
  d.kernel_types = &k_types[0].type;
  return d;
}

constexpr pdc_plugin_descriptor k_descriptor = make_descriptor();

}  // namespace

#ifdef PDC_TEST_NO_ENTRY
// Exported, but under the wrong name: the loader finds no entry point.
extern "C" __attribute__((visibility("default"))) const pdc_plugin_descriptor* pdc_plugin_entry_v0(
    const pdc_host_api* host) {
  g_host = host;
  return &k_descriptor;
}
#else
extern "C" __attribute__((visibility("default"))) const pdc_plugin_descriptor* pdc_plugin_entry(
    const pdc_host_api* host) {
  g_host = host;
#ifdef PDC_TEST_ENTRY_RETURNS_NULL
  (void)k_descriptor;
  return nullptr;
#else
  return &k_descriptor;
#endif
}
#endif
