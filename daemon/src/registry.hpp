// The registry: loaded plugins and live kernels by id, and every lifecycle
// operation on them. Runs on the daemon's event-loop thread.
#pragma once

#include <asio/io_context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config.hpp"
#include "kernel.hpp"
#include "plugin_loader.hpp"

namespace pdc::daemon {

/// Where kernels' outputs go: implemented by the control server.
class delivery_sink {
 public:
  virtual ~delivery_sink() = default;
  virtual errc deliver(std::uint64_t session_id, const std::string& kernel_id, const envelope& env,
                       std::span<const std::byte> payload) = 0;
};

class registry final : public kernel_host {
 public:
  registry(asio::io_context& io, const daemon_config& cfg);
  ~registry() override;

  void set_sink(delivery_sink* sink) noexcept { sink_ = sink; }

  // ---- plugins ----
  /// Loads a plugin by path, or by file name searched in the plugin dirs.
  result<plugin_info> load_plugin(const std::string& name_or_path);
  result<void> unload_plugin(const std::string& name);
  [[nodiscard]] std::vector<plugin_info> plugins() const { return loader_.list(); }
  /// Live kernels using plugin `name`.
  [[nodiscard]] std::uint32_t live_kernels_of(const std::string& plugin_name) const;

  // ---- kernels ----
  result<void> launch(launch_request req);
  result<void> activate(const std::string& id);
  result<void> deactivate(const std::string& id);
  /// Terminates and forgets the kernel (its id can be reused).
  result<void> terminate(const std::string& id, bool drop, std::uint64_t timeout_ns);
  /// Terminates every kernel (shutdown), draining each within `timeout_ns`.
  void terminate_all(std::uint64_t timeout_ns);
  /// The kernel, or not_found naming the ids that exist.
  result<std::shared_ptr<kernel>> find(const std::string& id) const;
  [[nodiscard]] const std::map<std::string, std::shared_ptr<kernel>, std::less<>>& kernels() const noexcept {
    return kernels_;
  }
  /// Pipes `from`'s outputs into `to` (refused if it would close a cycle).
  result<void> connect(const std::string& from, const std::string& to);
  result<void> disconnect(const std::string& from, const std::string& to);
  /// Drops every subscription of a closed session.
  void forget_session(std::uint64_t session_id);

  [[nodiscard]] const daemon_config& config() const noexcept { return cfg_; }

  // ---- kernel_host ----
  errc deliver(std::uint64_t session_id, const std::string& kernel_id, const envelope& env,
               std::span<const std::byte> payload) override;
  errc route(const std::string& from_kernel, const std::string& to_kernel, const envelope& env,
             std::span<const std::byte> payload) override;
  void log(const std::string& kernel_id, int level, std::string_view text) override;
  void post(std::function<void()> fn) override;

 private:
  result<void> check_launch(const launch_request& req, const kernel_type_entry& type) const;

  asio::io_context& io_;
  const daemon_config& cfg_;
  plugin_loader loader_;
  std::map<std::string, std::shared_ptr<kernel>, std::less<>> kernels_;
  delivery_sink* sink_ = nullptr;
};

/// Checks a kernel id: 1-128 characters of [A-Za-z0-9_.:-].
result<void> check_kernel_id(const std::string& id);

}  // namespace pdc::daemon
