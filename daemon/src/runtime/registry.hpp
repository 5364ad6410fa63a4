// The registry: loaded plugins, named pools and live kernels by id, every
// lifecycle operation on them, and the kernel_host the kernels talk to the
// daemon through. It runs on the control thread (the daemon's event loop);
// kernels' agents reach it only through route() and deliver(), which are
// thread-safe.
#pragma once

#include <array>
#include <asio/io_context.hpp>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "isolation/rendezvous.hpp"
#include "plugins/plugin_loader.hpp"
#include "runtime/kernel.hpp"
#include "tiers/thread_pool.hpp"
#include "tiers/tier_table.hpp"

namespace pdc::daemon {

class cluster_bridge;

/// Where deliveries to sessions go: implemented by the control server.
class delivery_sink {
 public:
  virtual ~delivery_sink() = default;
  /// ok, full (the client does not read) or peer_gone. Control thread.
  virtual errc deliver(std::uint64_t session_id, const std::string& kernel_id, const envelope& env,
                       std::span<const std::byte> payload) = 0;
};

/// The bounds of [limits] that refuse an operation (each counted).
enum class daemon_limit : std::uint8_t { sessions, attachments, kernels, kernel_threads, queue_bytes, count };
/// "sessions", "attachments", "kernels", "kernel_threads", "queue_bytes".
std::string_view to_string(daemon_limit l) noexcept;

class registry final : public kernel_host {
 public:
  registry(asio::io_context& io, const daemon_config& cfg);
  ~registry() override;
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  void set_sink(delivery_sink* sink) noexcept { sink_ = sink; }
  /// The cluster bridge, when this pdcd is a node of one (docs/cluster.md);
  /// set before the first kernel launches, cleared before it is destroyed.
  void set_bridge(cluster_bridge* b) noexcept { bridge_ = b; }
  [[nodiscard]] cluster_bridge* bridge() const noexcept { return bridge_; }
  /// True when a local client may send to other nodes' kernels
  /// (administrators, and [cluster] access entries granting send).
  [[nodiscard]] bool may_send_remote(const peer_credentials& peer) const noexcept {
    return peer.admin || cluster_access_.permits(peer, ~0U, kernel_right::send);
  }
  /// Offers a message from node `from` of the cluster to exported kernel
  /// `id`, by its access list and backpressure policy (a block policy waits
  /// here, on the bridge's thread, up to the kernel's block timeout). Any thread.
  result<void> offer_remote(std::string_view id, std::string_view from, queued_message& m);
  /// Delivers a reply from another node to a session (control thread).
  void deliver_remote_reply(std::uint64_t session_id, const std::string& address, const envelope& env,
                            std::span<const std::byte> payload) {
    if (sink_ != nullptr) (void)sink_->deliver(session_id, address, env, payload);
  }
  /// Resolves the config's admin_group (not_found when there is no such group).
  result<void> resolve_admin_group();
  /// Resolves the [cluster] access entries (users and groups looked up now).
  result<void> resolve_cluster_access();
  /// The administrators' group, if the config names one.
  [[nodiscard]] std::optional<std::uint32_t> admin_gid() const noexcept { return admin_gid_; }
  /// Counts a request refused for want of rights (control thread).
  void count_denied() noexcept { denied_.add(); }
  [[nodiscard]] std::uint64_t denied() const noexcept { return denied_.get(); }
  /// Counts an operation refused at a bound and returns the limit_reached
  /// error saying so (`what` names the bound and how to get under it).
  error refuse_at(daemon_limit l, const std::string& what);
  [[nodiscard]] std::uint64_t refused_at(daemon_limit l) const noexcept {
    return limit_refusals_[static_cast<std::size_t>(l)].get();
  }
  /// Clients connected (the control server keeps it up to date).
  void note_sessions(std::size_t n) noexcept { sessions_ = n; }
  [[nodiscard]] std::size_t sessions() const noexcept { return sessions_; }
  /// Attachments open on every kernel (control thread).
  [[nodiscard]] std::size_t attachment_count() const;
  [[nodiscard]] const daemon_config& config() const noexcept { return cfg_; }

  // ---- pools ----
  /// Starts the configured named pools; the first that cannot start fails it.
  result<void> start_pools();
  [[nodiscard]] const pool_registry& pools() const noexcept { return pools_; }

  // ---- plugins ----
  /// Loads a plugin: a file name searched in the plugin dirs, or an absolute
  /// path inside one of them. Refused before anything is opened when the
  /// file lies outside them, or it or a folder above it may be changed by
  /// users other than root and the daemon's own (docs/security.md).
  result<plugin_info> load_plugin(const std::string& name_or_path);
  result<void> unload_plugin(const std::string& name);
  [[nodiscard]] std::vector<plugin_info> plugins() const { return loader_.list(); }
  /// Live kernels using plugin `name`.
  [[nodiscard]] std::uint32_t live_kernels_of(const std::string& plugin_name) const;

  // ---- kernels ----
  result<void> launch(launch_request req);
  /// Takes over a kernel whose host an earlier pdcd started (the host
  /// reconnected at the rendezvous socket, docs/isolation.md). Refused (and
  /// the host told so, so it ends the kernel) when the id is taken, the type
  /// cannot be loaded, or an attachment's segment is not one.
  result<void> adopt_host(adoption a);
  result<void> activate(const std::string& id);
  result<void> deactivate(const std::string& id);
  /// Terminates the kernel and forgets it (its id can be reused); `done`
  /// runs on the control thread when it is over (at once on a refusal).
  void terminate(const std::string& id, bool drop, std::uint64_t timeout_ns, std::function<void(result<void>)> done);
  /// Terminates every kernel in parallel, each draining within `timeout_ns`;
  /// `done` runs once no kernel is left.
  void terminate_all(std::uint64_t timeout_ns, std::function<void()> done);
  /// The kernel, or not_found naming the ids that exist.
  [[nodiscard]] result<std::shared_ptr<kernel>> find(std::string_view id) const;
  /// Every kernel by id (control thread).
  [[nodiscard]] const std::map<std::string, std::shared_ptr<kernel>, std::less<>>& kernels() const noexcept {
    return kernels_;
  }
  /// Pipes `from`'s outputs into `to` (refused if it would close a cycle).
  result<void> connect(const std::string& from, const std::string& to);
  result<void> disconnect(const std::string& from, const std::string& to);
  /// Drops every subscription of a closed session.
  void forget_session(std::uint64_t session_id);

  // ---- kernel_host ----
  errc deliver(std::uint64_t session_id, kernel& from, delivery what, const envelope& env,
               std::span<const std::byte> payload) override;
  errc route(kernel& from, std::string_view to, const envelope& env, std::span<const std::byte> payload) override;
  void settle(std::uint64_t settle_id) override;
  void log(const kernel& k, int level, std::string_view text) override;
  void post(std::function<void()> fn) override;
  void post_after(std::uint64_t delay_ns, std::function<void()> fn) override;
  [[nodiscard]] bool on_control_thread() const noexcept override;

  /// Bytes handed from agents to the control thread and not yet delivered.
  [[nodiscard]] std::uint64_t bytes_in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }

 private:
  result<const tier_row*> check_launch(const launch_request& req, const kernel_type_entry& type) const;
  void deliver_now(std::uint64_t session_id, kernel& from, delivery what, const envelope& env,
                   std::span<const std::byte> payload);
  void forget(const std::shared_ptr<kernel>& k);

  asio::io_context& io_;
  const daemon_config& cfg_;
  plugin_loader loader_;
  pool_registry pools_;
  executor_env env_;
  // Written on the control thread under a unique lock; read there without
  // one, and by agents (route) under a shared lock.
  mutable std::shared_mutex kernels_mu_;
  std::map<std::string, std::shared_ptr<kernel>, std::less<>> kernels_;
  delivery_sink* sink_ = nullptr;
  cluster_bridge* bridge_ = nullptr;
  access_list cluster_access_;  // [cluster] access: who may send to other nodes
  std::atomic<std::uint64_t> in_flight_{0};
  std::vector<std::function<void()>> on_empty_;  // terminate_all waiters
  std::optional<std::uint32_t> admin_gid_;
  published_counter denied_;
  std::size_t sessions_ = 0;
  std::array<published_counter, static_cast<std::size_t>(daemon_limit::count)> limit_refusals_;
};

/// Checks a kernel id: 1-128 characters of [A-Za-z0-9_.:-].
result<void> check_kernel_id(const std::string& id);

}  // namespace pdc::daemon
