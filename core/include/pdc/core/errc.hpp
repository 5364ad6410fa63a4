// pdc error codes: one enum shared by the core, the wire protocol and the C ABI.
#pragma once

#include <cstdint>
#include <string_view>

namespace pdc {

// Numeric values are part of the wire protocol and of the C ABI (which
// returns them negated). Never renumber; append only.
enum class errc : std::int32_t {
  ok = 0,                  ///< Success.
  invalid_argument = 1,    ///< A parameter is out of range or malformed.
  not_found = 2,           ///< No kernel, plugin, kernel type or attachment with that name/id.
  already_exists = 3,      ///< The name or id is already taken.
  illegal_state = 4,       ///< The operation is not allowed in the object's current state.
  message_too_large = 5,   ///< The message exceeds the configured size limit; nothing was sent.
  full = 6,                ///< A bounded queue has no room now (an outcome, not a fault).
  empty = 7,               ///< A queue has nothing to read now (an outcome, not a fault).
  timeout = 8,             ///< The deadline passed before the operation could complete.
  peer_gone = 9,           ///< The other side (daemon, client or kernel) is gone.
  terminated = 10,         ///< The kernel was terminated; no further messages are accepted.
  protocol_error = 11,     ///< A frame failed verification or broke the protocol.
  version_mismatch = 12,   ///< A layout, ABI or protocol version is not supported.
  corrupt_segment = 13,    ///< A shared-memory segment has a bad magic, size or layout.
  system_error = 14,       ///< An operating-system call failed (see the message for errno).
  plugin_error = 15,       ///< A plugin failed to load, or its create/handler failed.
  permission_denied = 16,  ///< The caller is not allowed to do this.
  rejected = 17,           ///< Refused by the kernel's backpressure policy (queue full).
  not_supported = 18,      ///< The operation is not supported here (e.g. a style on a tier).
  shutting_down = 19,      ///< The daemon is shutting down and accepts no new work.
  internal = 20,           ///< A bug in pdc; please report it.
  dropped = 21,            ///< The message was dropped by the kernel's backpressure policy.
  limit_reached = 22,      ///< A configured limit of the daemon is reached (the message names it).
  kernel_restarted = 23,   ///< The kernel's host process died and was restarted: requests in flight are lost.
  daemon_stopping = 24,    ///< pdcd is stopping (SIGTERM): the session and its attachments end; not a kernel terminate.
};

/// Short human-readable description of `e` (static storage, never null).
std::string_view to_string(errc e) noexcept;

/// Name of the enumerator, e.g. "message_too_large" (static storage).
std::string_view name_of(errc e) noexcept;

/// Converts a wire/C ABI code to errc; unknown values map to errc::internal.
errc errc_from_int(std::int32_t v) noexcept;

}  // namespace pdc
