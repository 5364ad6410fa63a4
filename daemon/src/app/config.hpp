// pdcd configuration: a TOML file (docs/operations.md), overridden by flags.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pdc/core/result.hpp"
#include "runtime/launch_request.hpp"
#include "tiers/thread_pool.hpp"

namespace pdc::daemon {

/// A kernel the daemon launches at start.
struct startup_kernel {
  launch_request launch;
  bool activate = true;
};

/// What one client, and all of them, may make the daemon hold ([limits];
/// docs/security.md). Each bound refuses with a clear error and a counter.
struct daemon_limits {
  std::uint32_t max_sessions = 256;                 ///< Connected clients at once.
  std::uint32_t max_attachments_per_session = 64;   ///< Attachments one client holds.
  std::uint32_t max_attachments = 1024;             ///< Attachments in all.
  std::uint32_t max_kernels = 1024;                 ///< Kernels launched and not terminated.
  std::uint32_t max_kernel_threads = 256;           ///< Threads of threaded, spin and private-pool kernels, in all.
  std::uint64_t max_queue_bytes = 256ULL << 20;     ///< Per kernel: capacity times max_message_bytes.
  std::uint64_t session_buffer_bytes = 4ULL << 20;  ///< Bytes queued for a client that does not read.
};

/// How process-isolated kernels are hosted and supervised ([isolation];
/// docs/isolation.md).
struct isolation_config {
  /// The pdc-kernel-host executable ("": beside pdcd's own executable).
  std::string host_path;
  /// Restarts allowed within restart_window_ms; one more makes the kernel failed.
  std::uint32_t max_restarts = 5;
  std::uint32_t restart_window_ms = 60'000;
  /// Back-off before a restart: the first, doubling up to the last.
  std::uint32_t backoff_initial_ms = 100;
  std::uint32_t backoff_max_ms = 30'000;
  /// How long a host may take to load the plugin and run create().
  std::uint32_t start_timeout_ms = 10'000;
  /// How often a host reports its counters (and so shows it is alive).
  std::uint32_t stats_interval_ms = 100;
  /// A host whose kernel makes no progress this long while messages wait is
  /// killed and restarted (0: never).
  std::uint32_t hang_timeout_ms = 10'000;
  /// How long a host whose pdcd is gone keeps its kernel for the next pdcd
  /// to adopt (0: for ever); then it terminates the kernel and exits.
  std::uint32_t orphan_timeout_ms = 60'000;
  /// Set by pdcd, not the file: the socket where hosts whose pdcd died
  /// reconnect ("" : they end with it).
  std::string rendezvous_path;
};

/// This pdcd as a node of a NATS cluster ([cluster]; docs/cluster.md).
/// An empty node name: no cluster, and no bridge.
struct cluster_config {
  std::string node;               ///< This node's name: 1-64 of [A-Za-z0-9_:-].
  std::vector<std::string> urls;  ///< NATS servers ("nats://host:port"); more than one to fail over.
  std::string user;               ///< User/password credentials (optional).
  std::string password;
  std::string nkey;            ///< An nkey's public key ("U..."), with the file holding its seed.
  std::string nkey_seed_file;  ///< (optional; instead of user/password).
  /// Who of this node's clients, beside administrators, may send to other
  /// nodes' kernels: access entries whose right is "send".
  std::vector<std::string> access;
  /// How long a request to another node waits for its reply before it is
  /// forgotten (and counted as timed out).
  std::uint32_t request_timeout_ms = 30'000;
  /// Requests awaiting their reply, each way (beyond: refused with full).
  std::uint32_t max_pending = 65'536;
  /// Messages and bytes a slow kernel may leave waiting in the bridge's
  /// subscription before NATS drops (and the bridge counts) more.
  std::uint32_t max_incoming_messages = 65'536;
  std::uint32_t max_incoming_bytes = 64U << 20;
  /// JetStream: this node hosts at-least-once kernels, and looks up whether
  /// another node's kernel is one before its first message to it. Off: core
  /// NATS only (no lookups; an at-least-once launch is refused).
  bool jetstream = false;
  /// Servers holding each at-least-once kernel's JetStream stream (1-5).
  std::uint32_t replicas = 1;
  /// How long JetStream waits for an at-least-once message's acknowledgement
  /// before it delivers it again.
  std::uint32_t ack_wait_ms = 30'000;
  [[nodiscard]] bool enabled() const noexcept { return !node.empty(); }
};

struct daemon_config {
  std::string socket_path;                ///< Empty: the default path (docs/operations.md).
  std::vector<std::string> plugin_dirs;   ///< Searched for plugins named without a '/'.
  std::vector<std::string> plugins;       ///< Loaded at start, in order.
  std::string log_level = "info";         ///< trace, debug, info, warn, error.
  std::uint32_t default_capacity = 4096;  ///< Messages per kernel queue (seed default).
  std::uint32_t max_message_bytes = 64 * 1024;
  std::uint32_t block_timeout_ms = 5000;      ///< How long a `block` sender waits for room.
  std::uint32_t drain_timeout_ms = 5000;      ///< How long shutdown drains each kernel.
  std::uint32_t session_queue_limit = 65536;  ///< Deliveries buffered per slow client.
  /// Bytes agents may hand to the control thread (replies to socket senders,
  /// outputs to subscribers) before a handler's reply gets PDC_E_FULL.
  std::uint64_t max_in_flight_bytes = 64ULL << 20;
  daemon_limits limits;
  isolation_config isolation;
  /// [metrics] listen: the HTTP /metrics endpoint, "127.0.0.1:PORT",
  /// "[::1]:PORT" or "unix:/path"; empty (the default): off.
  std::string metrics_listen;
  std::vector<pool_config> pools;  ///< Named thread pools ([[pool]]).
  /// Members of this group are administrators, beside root and the daemon's user ("": none).
  std::string admin_group;
  cluster_config cluster;
  std::vector<startup_kernel> kernels;
  std::string source;  ///< File it came from ("" if none).
};

/// Parses TOML text; errors name `source_name`, the line and the reason.
result<daemon_config> parse_config(std::string_view text, std::string_view source_name);
/// Reads and parses a TOML file; relative plugin_dirs are taken relative to
/// the file's folder.
result<daemon_config> load_config_file(const std::string& path);
/// Checks limits and combinations (capacity >= 1, sizes within ceilings...).
result<void> validate(const daemon_config& cfg);
/// Checks a node name: 1-64 characters of [A-Za-z0-9_:-] (no '.': it parts NATS subject tokens).
result<void> check_node_name(std::string_view name);

}  // namespace pdc::daemon
