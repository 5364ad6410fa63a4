// Kernel plugin loader: dlopen a plugin, check its descriptor against the
// ABI in pdc/plugin.h, and keep it loaded while any kernel of it lives.
// A refused plugin is closed again and changes nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pdc/core/result.hpp"
#include "pdc/plugin.h"

namespace pdc::daemon {

class loaded_plugin;

/// One kernel type of a loaded plugin, as the daemon uses it.
struct kernel_type_entry {
  std::string name;
  std::string description;
  /// PDC_TIER_MASK bits of the tiers the type may run on: those it declares,
  /// minus async for run-style or may-block types (the ABI rules tier 1 out for them).
  std::uint32_t tiers = 0;
  /// PDC_KERNEL_* bits.
  std::uint32_t flags = 0;
  /// The plugin's struct, normalized: host-sized, zero beyond the plugin's struct_size.
  pdc_kernel_type type{};
  /// The cuda tier's launch entry, checked and copied (set exactly when
  /// `tiers` has the cuda bit).
  std::optional<pdc_cuda_kernel> cuda;
  /// The plugin that provides it (non-owning; see kernel_type_ref).
  const loaded_plugin* plugin = nullptr;

  /// True for loop style (run), false for reactive style (on_message).
  [[nodiscard]] bool is_loop() const noexcept { return type.run != nullptr; }
};

/// A kernel type that also keeps its plugin loaded: while any copy lives the
/// .so stays mapped and plugin_loader::unload refuses. A kernel holds one for its lifetime.
using kernel_type_ref = std::shared_ptr<const kernel_type_entry>;

/// What `list` and `load` report about a plugin.
struct plugin_info {
  std::string name;
  std::string version;
  std::string path;
  std::vector<std::string> kernel_types;  ///< in the plugin's order
};

/// A plugin that passed every check. Owns the dlopen handle (closed in the
/// destructor, after the last kernel_type_ref is gone).
class loaded_plugin {
 public:
  ~loaded_plugin();
  loaded_plugin(const loaded_plugin&) = delete;
  loaded_plugin& operator=(const loaded_plugin&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const std::string& version() const noexcept { return version_; }
  /// The path it was loaded from, as given to load().
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] const std::vector<kernel_type_entry>& kernel_types() const noexcept { return types_; }
  [[nodiscard]] plugin_info info() const;

 private:
  friend class plugin_loader;
  loaded_plugin(void* handle, std::string name, std::string version, std::string path,
                std::vector<kernel_type_entry> types);

  void* handle_;
  std::string name_;
  std::string version_;
  std::string path_;
  std::vector<kernel_type_entry> types_;
};

/// What a plugin's descriptor says, once checked.
struct checked_descriptor {
  std::string name;
  std::string version;
  std::vector<kernel_type_entry> types;  ///< Their `plugin` is not set yet.
};
/// Checks the descriptor a plugin's entry point returned (versions, sizes,
/// names, handlers, tiers, flags) and copies what it describes; the refusal
/// names `path`. Reads no more of the plugin's structs than they declare.
result<checked_descriptor> check_descriptor(const pdc_plugin_descriptor* raw, const std::string& path);

/// Loads, indexes and unloads kernel plugins. Not thread-safe: the daemon
/// calls it from its control thread only (kernel_type_refs may be dropped on any thread).
class plugin_loader {
 public:
  /// `host` is handed to every plugin's entry point and must outlive every loaded plugin.
  explicit plugin_loader(const pdc_host_api* host) noexcept;
  plugin_loader(const plugin_loader&) = delete;
  plugin_loader& operator=(const plugin_loader&) = delete;

  /// dlopens `path` (RTLD_NOW | RTLD_LOCAL), checks its descriptor and
  /// registers its kernel types. A refusal is one line naming the path and
  /// the reason: errc::version_mismatch (ABI version), errc::already_exists
  /// (plugin or kernel-type name taken) or errc::plugin_error (anything else).
  result<plugin_info> load(const std::string& path);

  /// Unloads a plugin. errc::not_found if none has that name;
  /// errc::illegal_state while any kernel_type_ref of it lives.
  result<void> unload(std::string_view plugin_name);

  /// The kernel type with that name, holding its plugin loaded; null if unknown.
  [[nodiscard]] kernel_type_ref find_type(std::string_view type_name) const;

  /// Every loaded plugin, by name.
  [[nodiscard]] std::vector<plugin_info> list() const;

 private:
  struct type_slot {
    std::weak_ptr<const loaded_plugin> plugin;  // weak: the index must not count as a user
    const kernel_type_entry* entry = nullptr;
  };

  result<void> check_names_free(const loaded_plugin& candidate) const;

  const pdc_host_api* host_;
  std::map<std::string, std::shared_ptr<const loaded_plugin>, std::less<>> plugins_;
  std::map<std::string, type_slot, std::less<>> types_;
};

}  // namespace pdc::daemon
