#include "plugins/plugin_loader.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <utility>

namespace pdc::daemon {
namespace {

// The ABI 2.0 struct sizes: the least a 2.x plugin may declare. Fields are
// only ever appended, so these stay fixed while sizeof() grows with minors.
constexpr std::uint32_t k_descriptor_size_2_0 =
    offsetof(pdc_plugin_descriptor, kernel_types) + sizeof(pdc_plugin_descriptor::kernel_types);
constexpr std::uint32_t k_kernel_type_size_2_0 = offsetof(pdc_kernel_type, run) + sizeof(pdc_kernel_type::run);
static_assert(k_descriptor_size_2_0 <= sizeof(pdc_plugin_descriptor));
static_assert(k_kernel_type_size_2_0 <= sizeof(pdc_kernel_type));

constexpr std::uint32_t k_cuda_kernel_size_2_2 = offsetof(pdc_cuda_kernel, launch) + sizeof(pdc_cuda_kernel::launch);
// A persistent loop holds its blocks resident: far fewer than a GPU's SMs
// times a few; and an H100's largest opt-in shared memory per block.
constexpr std::uint32_t k_max_cuda_grid = 4096;
constexpr std::uint32_t k_max_cuda_shared_bytes = 227 * 1024;

// Larger than any plausible future struct: such a size is garbage, not a newer minor.
constexpr std::uint32_t k_max_struct_size = 4096;
// A sanity bound on kernel_type_count, for the same reason.
constexpr std::uint32_t k_max_kernel_types = 1024;

constexpr std::uint32_t k_known_tiers = PDC_TIER_MASK_CPU | PDC_TIER_MASK(PDC_TIER_CUDA);
constexpr std::uint32_t k_known_flags = PDC_KERNEL_MAY_BLOCK | PDC_KERNEL_CONCURRENT | PDC_KERNEL_VOLATILE_PAYLOAD;

// Closes a dlopen handle; used while a plugin is still being checked.
struct dl_closer {
  void operator()(void* handle) const noexcept { dlclose(handle); }
};
using dl_handle = std::unique_ptr<void, dl_closer>;

std::string last_dl_error() {
  const char* e = dlerror();
  return e == nullptr ? std::string("unknown dlerror") : std::string(e);
}

std::string hex(std::uint32_t v) {
  std::array<char, 16> buf{};
  std::snprintf(buf.data(), buf.size(), "0x%x", v);
  return buf.data();
}

// " (must be <min> to <max>)" for size refusals.
std::string size_range(std::uint32_t min, std::uint32_t max) {
  return " (must be " + std::to_string(min) + " to " + std::to_string(max) + ")";
}

// Copies the first min(declared, sizeof(T)) bytes of a plugin struct into a
// zeroed host-sized T: fields an older plugin lacks read as zero (absent);
// fields of a newer layout that this host does not know are ignored.
template <typename T>
T normalized_copy(const void* raw, std::uint32_t declared_size) {
  T out{};
  std::memcpy(&out, raw, std::min<std::size_t>(declared_size, sizeof(T)));
  return out;
}

// Builds refusals: "cannot load plugin '<path>': <reason>".
class refusal {
 public:
  explicit refusal(const std::string& path) : prefix_("cannot load plugin '" + path + "': ") {}
  [[nodiscard]] error operator()(errc code, const std::string& reason) const {
    return make_error(code, prefix_ + reason);
  }

 private:
  std::string prefix_;
};

result<pdc_plugin_descriptor> read_descriptor(const pdc_plugin_descriptor* raw, const refusal& refuse) {
  if (raw == nullptr) return refuse(errc::plugin_error, "its entry point returned no descriptor (null)");
  // The four leading uint32 fields exist in every layout: read them before trusting struct_size.
  if (raw->abi_major != PDC_PLUGIN_ABI_MAJOR) {
    return refuse(errc::version_mismatch, "it was built for plugin ABI " + std::to_string(raw->abi_major) + ".x; " +
                                              "this daemon supports " + std::to_string(PDC_PLUGIN_ABI_MAJOR) +
                                              ".x (rebuild it against this pdc's pdc/plugin.h)");
  }
  if (raw->abi_minor > PDC_PLUGIN_ABI_MINOR) {
    return refuse(errc::version_mismatch, "it needs plugin ABI " + std::to_string(raw->abi_major) + "." +
                                              std::to_string(raw->abi_minor) + ", newer than this daemon's " +
                                              std::to_string(PDC_PLUGIN_ABI_MAJOR) + "." +
                                              std::to_string(PDC_PLUGIN_ABI_MINOR));
  }
  if (raw->struct_size < k_descriptor_size_2_0 || raw->struct_size > k_max_struct_size) {
    return refuse(errc::plugin_error, "bad descriptor struct_size " + std::to_string(raw->struct_size) +
                                          size_range(k_descriptor_size_2_0, k_max_struct_size));
  }
  if (raw->kernel_type_size < k_kernel_type_size_2_0 || raw->kernel_type_size > k_max_struct_size) {
    return refuse(errc::plugin_error, "bad kernel_type_size " + std::to_string(raw->kernel_type_size) +
                                          size_range(k_kernel_type_size_2_0, k_max_struct_size));
  }
  auto d = normalized_copy<pdc_plugin_descriptor>(raw, raw->struct_size);
  if (d.name == nullptr || *d.name == '\0') return refuse(errc::plugin_error, "its descriptor has no name");
  if (d.kernel_type_count == 0 || d.kernel_types == nullptr) {
    return refuse(errc::plugin_error, "plugin '" + std::string(d.name) + "' provides no kernel types");
  }
  if (d.kernel_type_count > k_max_kernel_types) {
    return refuse(errc::plugin_error, "implausible kernel_type_count " + std::to_string(d.kernel_type_count) +
                                          " (at most " + std::to_string(k_max_kernel_types) + ")");
  }
  return d;
}

// Checks a type's cuda entry: present exactly when the type declares the
// cuda tier, with a launch function and a shape a GPU can launch.
result<std::optional<pdc_cuda_kernel>> read_cuda_entry(const pdc_kernel_type& t, const std::string& named,
                                                       const refusal& refuse) {
  const bool on_cuda = (t.tiers & PDC_TIER_MASK(PDC_TIER_CUDA)) != 0;
  if (t.cuda == nullptr) {
    if (on_cuda) return refuse(errc::plugin_error, named + " declares the cuda tier but has no cuda entry");
    return std::optional<pdc_cuda_kernel>{};
  }
  if (!on_cuda) {
    return refuse(errc::plugin_error, named + " has a cuda entry but does not declare the cuda tier");
  }
  std::uint32_t declared = 0;
  std::memcpy(&declared, t.cuda, sizeof declared);
  if (declared < k_cuda_kernel_size_2_2 || declared > k_max_struct_size) {
    return refuse(errc::plugin_error, named + "'s cuda entry has bad struct_size " + std::to_string(declared) +
                                          size_range(k_cuda_kernel_size_2_2, k_max_struct_size));
  }
  const auto c = normalized_copy<pdc_cuda_kernel>(t.cuda, declared);
  if (c.launch == nullptr) return refuse(errc::plugin_error, named + "'s cuda entry has no launch function");
  if (c.grid < 1 || c.grid > k_max_cuda_grid) {
    return refuse(errc::plugin_error,
                  named + "'s cuda entry has grid " + std::to_string(c.grid) + size_range(1, k_max_cuda_grid));
  }
  if (c.block < 32 || c.block > 1024 || c.block % 32 != 0) {
    return refuse(errc::plugin_error, named + "'s cuda entry has block " + std::to_string(c.block) +
                                          " (must be a multiple of 32, from 32 to 1024)");
  }
  if (c.shared_bytes > k_max_cuda_shared_bytes) {
    return refuse(errc::plugin_error, named + "'s cuda entry asks for " + std::to_string(c.shared_bytes) +
                                          " bytes of shared memory" + size_range(0, k_max_cuda_shared_bytes));
  }
  return std::optional<pdc_cuda_kernel>{c};
}

// Checks one kernel type (the index'th, at `raw`) and builds its entry.
result<kernel_type_entry> read_kernel_type(const std::byte* raw, std::uint32_t index, std::uint32_t stride,
                                           const refusal& refuse) {
  std::uint32_t declared = 0;
  std::memcpy(&declared, raw, sizeof declared);  // struct_size leads every layout
  const std::string which = "kernel type #" + std::to_string(index);
  if (declared < k_kernel_type_size_2_0 || declared > stride) {
    return refuse(errc::plugin_error, which + " has bad struct_size " + std::to_string(declared) + " (must be " +
                                          std::to_string(k_kernel_type_size_2_0) + " to the kernel_type_size " +
                                          std::to_string(stride) + ")");
  }
  kernel_type_entry e;
  e.type = normalized_copy<pdc_kernel_type>(raw, declared);
  const pdc_kernel_type& t = e.type;
  if (t.name == nullptr || *t.name == '\0') return refuse(errc::plugin_error, which + " has no name");
  e.name = t.name;
  e.description = t.description == nullptr ? "" : t.description;
  const std::string named = "kernel type '" + e.name + "'";
  if ((t.tiers & ~k_known_tiers) != 0 || (t.flags & ~k_known_flags) != 0) {
    return refuse(errc::plugin_error, named + " uses unknown tier bits " + hex(t.tiers & ~k_known_tiers) +
                                          " or flag bits " + hex(t.flags & ~k_known_flags));
  }
  const bool on_cpu = (t.tiers & PDC_TIER_MASK_CPU) != 0;
  if (on_cpu && (t.on_message == nullptr) == (t.run == nullptr)) {
    return refuse(errc::plugin_error,
                  named + (t.run == nullptr ? " sets neither on_message nor run" : " sets both on_message and run") +
                      " (exactly one is required on the CPU tiers)");
  }
  if (auto cuda = read_cuda_entry(t, named, refuse); !cuda) {
    return std::move(cuda).err();
  } else {
    e.cuda = *cuda;
  }
  e.flags = t.flags;
  e.tiers = t.tiers;
  if (t.run != nullptr || (t.flags & PDC_KERNEL_MAY_BLOCK) != 0) e.tiers &= ~PDC_TIER_MASK(PDC_TIER_ASYNC);
  if (e.tiers == 0) {
    return refuse(errc::plugin_error,
                  named + " has no tier it can run on" +
                      (t.tiers == 0 ? std::string(" (tiers is 0)")
                                    : " (tiers " + hex(t.tiers) + "; run-style and may-block types cannot use async)"));
  }
  return e;
}

result<std::vector<kernel_type_entry>> read_kernel_types(const pdc_plugin_descriptor& d, const refusal& refuse) {
  std::vector<kernel_type_entry> types;
  types.reserve(d.kernel_type_count);
  std::set<std::string, std::less<>> seen;
  const auto* base = reinterpret_cast<const std::byte*>(d.kernel_types);
  for (std::uint32_t i = 0; i < d.kernel_type_count; ++i) {
    auto e = read_kernel_type(base + std::size_t{i} * d.kernel_type_size, i, d.kernel_type_size, refuse);
    if (!e) return std::move(e).err();
    if (!seen.insert(e->name).second) {
      return refuse(errc::already_exists, "kernel type '" + e->name + "' appears twice in the plugin");
    }
    types.push_back(std::move(e).value());
  }
  return types;
}

}  // namespace

result<checked_descriptor> check_descriptor(const pdc_plugin_descriptor* raw, const std::string& path) {
  const refusal refuse(path);
  auto descriptor = read_descriptor(raw, refuse);
  if (!descriptor) return std::move(descriptor).err();
  auto types = read_kernel_types(*descriptor, refuse);
  if (!types) return std::move(types).err();
  return checked_descriptor{descriptor->name, descriptor->version == nullptr ? "" : descriptor->version,
                            std::move(types).value()};
}

loaded_plugin::loaded_plugin(void* handle, std::string name, std::string version, std::string path,
                             std::vector<kernel_type_entry> types)
    : handle_(handle),
      name_(std::move(name)),
      version_(std::move(version)),
      path_(std::move(path)),
      types_(std::move(types)) {
  for (auto& t : types_) t.plugin = this;
}

loaded_plugin::~loaded_plugin() {
  if (handle_ != nullptr) dlclose(handle_);
}

plugin_info loaded_plugin::info() const {
  plugin_info out{name_, version_, path_, {}};
  out.kernel_types.reserve(types_.size());
  for (const auto& t : types_) out.kernel_types.push_back(t.name);
  return out;
}

plugin_loader::plugin_loader(const pdc_host_api* host) noexcept : host_(host) {}

result<plugin_info> plugin_loader::load(const std::string& path) {
  const refusal refuse(path);
  // RTLD_LOCAL: plugins cannot see (or clash on) each other's symbols.
  // RTLD_NOW: a missing symbol fails here, not in the middle of a handler.
  dl_handle handle(dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (!handle) return refuse(errc::plugin_error, "dlopen failed: " + last_dl_error());

  dlerror();  // clear any stale error so a null dlsym result can be told apart
  void* sym = dlsym(handle.get(), PDC_PLUGIN_ENTRY_SYMBOL);
  if (sym == nullptr) {
    return refuse(errc::plugin_error,
                  "no entry point '" PDC_PLUGIN_ENTRY_SYMBOL "' (export it with extern \"C\" and default visibility)");
  }
  // POSIX guarantees a data pointer from dlsym converts to a function pointer.
  const auto entry = reinterpret_cast<pdc_plugin_entry_fn>(sym);

  auto checked = check_descriptor(entry(host_), path);
  if (!checked) return std::move(checked).err();

  // A plugin that passed every check from here on owns the handle.
  std::shared_ptr<const loaded_plugin> plugin(new loaded_plugin(
      handle.get(), std::move(checked->name), std::move(checked->version), path, std::move(checked->types)));
  handle.release();
  if (auto free = check_names_free(*plugin); !free) return refuse(free.code(), free.err().message);

  for (const auto& t : plugin->kernel_types()) types_.emplace(t.name, type_slot{plugin, &t});
  plugins_.emplace(plugin->name(), plugin);
  return plugin->info();
}

result<void> plugin_loader::check_names_free(const loaded_plugin& candidate) const {
  if (auto it = plugins_.find(candidate.name()); it != plugins_.end()) {
    return make_error(errc::already_exists, "a plugin named '" + candidate.name() + "' is already loaded (from '" +
                                                it->second->path() + "')");
  }
  for (const auto& t : candidate.kernel_types()) {
    if (auto it = types_.find(t.name); it != types_.end()) {
      return make_error(errc::already_exists, "kernel type '" + t.name + "' is already provided by plugin '" +
                                                  it->second.entry->plugin->name() + "'");
    }
  }
  return ok();
}

result<void> plugin_loader::unload(std::string_view plugin_name) {
  const auto it = plugins_.find(plugin_name);
  if (it == plugins_.end()) {
    return make_error(errc::not_found, "cannot unload plugin '" + std::string(plugin_name) + "': no such plugin");
  }
  // The map holds one reference; every other one is a kernel_type_ref. Only
  // this thread can make new ones, so a count of 1 cannot grow behind our back.
  const auto users = it->second.use_count() - 1;
  if (users > 0) {
    return make_error(errc::illegal_state, "cannot unload plugin '" + it->first + "': " + std::to_string(users) +
                                               " kernel(s) of it still hold a reference; terminate them first");
  }
  for (const auto& t : it->second->kernel_types()) types_.erase(t.name);
  plugins_.erase(it);  // last reference: dlclose happens here
  return ok();
}

kernel_type_ref plugin_loader::find_type(std::string_view type_name) const {
  const auto it = types_.find(type_name);
  if (it == types_.end()) return nullptr;
  auto owner = it->second.plugin.lock();
  if (!owner) return nullptr;
  // Aliasing constructor: points at the entry, shares ownership of the plugin.
  return kernel_type_ref(std::move(owner), it->second.entry);
}

std::vector<plugin_info> plugin_loader::list() const {
  std::vector<plugin_info> out;
  out.reserve(plugins_.size());
  for (const auto& [name, plugin] : plugins_) out.push_back(plugin->info());
  return out;
}

}  // namespace pdc::daemon
