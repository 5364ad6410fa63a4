// Thin POSIX helpers for libpdc's socket: connect, wait with a deadline, errno text.
#pragma once

#include <string>

#include "pdc/core/clock.hpp"
#include "pdc/core/result.hpp"

namespace pdc::detail {

/// strerror text for `err` (thread-safe).
std::string errno_text(int err);

/// Connects a close-on-exec AF_UNIX SOCK_SEQPACKET socket to `path`. On failure the
/// message names the path and the reason, with a hint when nobody listens there.
result<int> connect_seqpacket(const std::string& path);

/// The user id of the process at the other end of the Unix socket `fd` (SO_PEERCRED).
result<unsigned> peer_uid(int fd);

/// Waits until `fd` reports one of `events` (poll flags) or `dl` passes; returns
/// revents, errc::timeout when the deadline passed, errc::system_error on poll failure.
result<short> wait_fd(int fd, short events, deadline dl);

}  // namespace pdc::detail
