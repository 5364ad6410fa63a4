// libFuzzer target: the plugin descriptor reader (docs/security.md,
// "Fuzzing"). The input describes a descriptor and its kernel types:
//   16 bytes  abi_major, abi_minor, struct_size, kernel_type_size
//   1 byte    kernel_type_count; 1 byte: name/version present (bits 0/1)
//   per type  struct_size, tiers, flags (4 bytes each), handlers (1 byte:
//             create/destroy/on_message/run), name index (1 byte)
//   the rest  strings, separated by NUL bytes
// Plugins are trusted to lay out their own memory as they declare it, so
// the buffers are as large as the sizes the reader accepts; everything else
// is the fuzzer's to choose.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_input.hpp"
#include "plugins/plugin_loader.hpp"

namespace {

using pdc::fuzz::take;

int fake_create(pdc_kernel_ctx*, const char*, void**) {
  return 0;
}
void fake_destroy(void*) {}
int fake_on_message(void*, pdc_kernel_ctx*, const pdc_message*) {
  return 0;
}
int fake_run(void*, pdc_kernel_ctx*) {
  return 0;
}

constexpr std::size_t k_max_struct = 4096;
constexpr std::size_t k_max_types = 1024;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::uint8_t* p = data;
  std::size_t left = size;
  // The descriptor: as large as any struct_size the reader accepts.
  static std::vector<std::byte> desc_mem(k_max_struct);
  std::memset(desc_mem.data(), 0, desc_mem.size());
  auto* d = reinterpret_cast<pdc_plugin_descriptor*>(desc_mem.data());
  d->abi_major = take<std::uint32_t>(p, left);
  d->abi_minor = take<std::uint32_t>(p, left);
  d->struct_size = take<std::uint32_t>(p, left);
  d->kernel_type_size = take<std::uint32_t>(p, left);
  d->kernel_type_count = take<std::uint8_t>(p, left);
  const auto present = take<std::uint8_t>(p, left);

  struct type_in {
    std::uint32_t struct_size, tiers, flags;
    std::uint8_t handlers, name;
  };
  std::vector<type_in> types;
  for (std::uint32_t i = 0; i < d->kernel_type_count; ++i) {
    type_in t{};
    t.struct_size = take<std::uint32_t>(p, left);
    t.tiers = take<std::uint32_t>(p, left);
    t.flags = take<std::uint32_t>(p, left);
    t.handlers = take<std::uint8_t>(p, left);
    t.name = take<std::uint8_t>(p, left);
    types.push_back(t);
  }
  std::vector<std::string> strings;
  std::string current;
  for (; left > 0; --left, ++p) {
    if (*p == 0) {
      strings.push_back(current);
      current.clear();
    } else {
      current += static_cast<char>(*p);
    }
  }
  strings.push_back(current);
  auto text = [&](std::size_t i) -> const char* { return i < strings.size() ? strings[i].c_str() : nullptr; };
  d->name = (present & 1) != 0 ? text(0) : nullptr;
  d->version = (present & 2) != 0 ? text(1) : nullptr;

  // The kernel types, at the stride the descriptor declares.
  const std::size_t stride = d->kernel_type_size <= k_max_struct ? d->kernel_type_size : 0;
  static std::vector<std::byte> type_mem(k_max_struct * k_max_types);
  const std::size_t used = stride * types.size();
  std::memset(type_mem.data(), 0, used);
  for (std::size_t i = 0; i < types.size() && stride >= sizeof(std::uint32_t); ++i) {
    pdc_kernel_type t{};
    t.struct_size = types[i].struct_size;
    t.tiers = types[i].tiers;
    t.flags = types[i].flags;
    t.name = text(types[i].name);
    t.description = text(types[i].name + 1U);
    if ((types[i].handlers & 1) != 0) t.create = fake_create;
    if ((types[i].handlers & 2) != 0) t.destroy = fake_destroy;
    if ((types[i].handlers & 4) != 0) t.on_message = fake_on_message;
    if ((types[i].handlers & 8) != 0) t.run = fake_run;
    std::memcpy(type_mem.data() + i * stride, &t, stride < sizeof t ? stride : sizeof t);
  }
  d->kernel_types = types.empty() ? nullptr : reinterpret_cast<const pdc_kernel_type*>(type_mem.data());

  auto checked = pdc::daemon::check_descriptor(d, "fuzz.so");
  (void)checked;
  return 0;
}
