// systemd integration (docs/operations.md, "systemd"): readiness, status,
// reload and stop notifications (Type=notify), the watchdog, and socket
// activation. Each is a no-op outside systemd or in a build without
// libsystemd.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "pdc/core/result.hpp"

namespace pdc::daemon {

/// Sends `state` (e.g. "READY=1\nSTATUS=...") to $NOTIFY_SOCKET when set.
void notify_systemd(const std::string& state) noexcept;

/// "RELOADING=1" with MONOTONIC_USEC, as systemd wants it before a reload.
void notify_reloading() noexcept;

/// The interval at which systemd expects WATCHDOG=1 (WatchdogSec=), if it
/// asked this process for it.
std::optional<std::chrono::microseconds> watchdog_interval() noexcept;

/// A listening socket handed over by systemd (socket activation: LISTEN_FDS).
struct inherited_socket {
  int fd = -1;       ///< The listening descriptor (SOCK_SEQPACKET, AF_UNIX).
  std::string path;  ///< Its path, from getsockname.
};

/// The socket systemd passed, if any (and unsets LISTEN_FDS/LISTEN_PID, so
/// children do not see them). More than one socket, or one that is not a
/// listening AF_UNIX SOCK_SEQPACKET socket with a path, is an error.
result<std::optional<inherited_socket>> take_inherited_socket();

}  // namespace pdc::daemon
