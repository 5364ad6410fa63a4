// What a launch asks for (from the wire, the config file or a test). Zeros
// and empty strings mean "the daemon's default"; the registry fills them in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pdc/core/kinds.hpp"

namespace pdc::daemon {

/// What a process-isolated kernel's host may do (docs/isolation.md,
/// "Confinement"). Zero, empty and false mean no bound.
struct host_confinement {
  std::string user;                        ///< Run the host as this user (a root pdcd only).
  std::uint32_t max_address_space_mb = 0;  ///< RLIMIT_AS.
  std::uint32_t max_cpu_seconds = 0;       ///< RLIMIT_CPU: past it SIGXCPU ends the host (then a restart).
  std::uint32_t max_open_files = 0;        ///< RLIMIT_NOFILE.
  bool seccomp = false;                    ///< The system-call filter.
  [[nodiscard]] bool any() const noexcept {
    return !user.empty() || max_address_space_mb != 0 || max_cpu_seconds != 0 || max_open_files != 0 || seccomp;
  }
};

struct launch_request {
  std::string kernel_type;
  std::string kernel_id;
  kernel_tier tier = kernel_tier::async;
  std::uint32_t capacity = 0;  ///< Inbox capacity, messages.
  backpressure_policy policy = backpressure_policy::block;
  std::uint32_t max_message_bytes = 0;  ///< Payload limit.
  std::uint32_t block_timeout_ms = 0;   ///< How long a `block` sender waits for room.
  std::string config;                   ///< Handed to the type's create().
  std::uint32_t workers = 0;            ///< Pool tier: agents (private pool: threads).
  std::int32_t cpu = -1;                ///< threaded/spin: CPU to pin the thread to.
  /// Microseconds an idle worker polls before it parks (0: the tier's default).
  std::uint32_t idle_spin_us = 0;
  std::string pool;             ///< Pool tier: a named pool (config [[pool]]); empty: a private one.
  bool latency_metrics = true;  ///< Record the queue-wait and processing histograms.
  /// Access list entries ("group:pdc=send,attach", docs/security.md); the
  /// owner and administrators have every right anyway.
  std::vector<std::string> access;
  std::uint32_t owner_uid = 0;  ///< Who launched it (set by the daemon, not the client).
  /// Where its handlers run: inside pdcd, or in a supervised host process (docs/isolation.md).
  kernel_isolation isolation = kernel_isolation::none;
  /// How its host process is confined (isolation = process only).
  host_confinement confinement;
  /// Reachable from other nodes of the cluster as `node/kernel_id`
  /// (docs/cluster.md); their senders need a node: entry in `access`.
  bool exported = false;
  /// Exported only: other nodes' messages to it travel through JetStream,
  /// acknowledged once its handler ran (delivery = "at_least_once").
  bool at_least_once = false;
};

}  // namespace pdc::daemon
