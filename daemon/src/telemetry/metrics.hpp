// A kernel's metrics and settings at one moment (kernel::snapshot), and the
// Prometheus text exposition of many. The wire form (KernelInfo) is built by
// the server's codec from the same snapshot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pdc/core/histogram.hpp"
#include "pdc/core/kinds.hpp"
#include "runtime/launch_request.hpp"

namespace pdc::daemon {

struct kernel_snapshot {
  std::string kernel_id;
  std::string kernel_type;
  std::string plugin;
  kernel_tier tier = kernel_tier::async;
  kernel_state state = kernel_state::created;
  bool stuck = false;  ///< Terminating, and a handler does not return.
  backpressure_policy policy = backpressure_policy::block;
  std::uint32_t capacity = 0;
  std::uint32_t max_message_bytes = 0;
  std::string pool;
  std::uint32_t workers = 0;
  bool latency_metrics = true;
  kernel_isolation isolation = kernel_isolation::none;
  std::int32_t host_pid = 0;      ///< Process isolation: the host process now (0: none).
  std::uint32_t restarts = 0;     ///< Process isolation: host restarts since launch.
  std::string last_exit;          ///< Process isolation: how the last host ended.
  std::uint64_t recovery_ns = 0;  ///< Process isolation: last crash to the new host's ready.
  host_confinement confinement;   ///< Process isolation: how its host is confined.
  bool exported = false;          ///< Reachable from other nodes of the cluster.
  bool at_least_once = false;     ///< Their messages come through JetStream.
  std::uint64_t uptime_ns = 0;
  std::uint64_t queue_depth = 0;     ///< Inbox messages plus attachments with unread requests (at least one each).
  std::uint64_t messages_in = 0;     ///< Accepted into the inbox or read from rings.
  std::uint64_t messages_out = 0;    ///< Replies, emits and sends delivered.
  std::uint64_t processed = 0;       ///< Handler invocations.
  std::uint64_t dropped = 0;         ///< Dropped by policy, or outputs refused by a full queue.
  std::uint64_t rejected = 0;        ///< Refused by policy, or a block wait that timed out.
  std::uint64_t dead_letters = 0;    ///< Replies whose sender was gone.
  std::uint64_t handler_errors = 0;  ///< Negative handler returns.
  std::uint64_t malformed = 0;       ///< Records refused because their envelope was malformed.
  std::uint32_t subscribers = 0;
  std::vector<std::string> connections;  ///< Kernels its outputs are piped into.
  std::uint32_t owner_uid = 0;           ///< Who launched it.
  std::vector<std::string> access;       ///< Its access list as written.
  std::uint64_t denied = 0;              ///< Requests its access list refused.
  std::string last_error;
  histogram queue_wait;  ///< Enqueue (or client send) to handler start, ns.
  histogram processing;  ///< Handler time per message, ns (measured per batch).
};

/// The daemon's own gauges.
struct daemon_snapshot {
  std::uint64_t denied = 0;          ///< Requests refused for want of rights.
  std::uint64_t handover_bytes = 0;  ///< Bytes agents handed to the control thread, not yet delivered.
  std::uint64_t handover_limit = 0;  ///< max_in_flight_bytes.
  std::uint64_t kernels = 0;
  std::uint64_t pools = 0;
  std::uint64_t sessions = 0;
  std::uint64_t attachments = 0;
  /// Operations refused at each [limits] bound: (limit name, count).
  std::vector<std::pair<std::string, std::uint64_t>> limit_refusals;
};

/// Prometheus text exposition (version 0.0.4) of every kernel's metrics and the daemon's gauges.
std::string prometheus_text(const std::vector<kernel_snapshot>& kernels, const daemon_snapshot& daemon);

}  // namespace pdc::daemon
