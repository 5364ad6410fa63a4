// Where pdcd's control socket lives: one rule shared by the daemon, libpdc and pdcctl.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

namespace pdc {

/// The default control socket path: `PDC_SOCKET` when set and non-empty;
/// else `/run/pdcd/pdcd.sock` for root (effective uid 0); else
/// `$XDG_RUNTIME_DIR/pdcd/pdcd.sock` when XDG_RUNTIME_DIR is set and non-empty;
/// else `/tmp/pdcd-<uid>/pdcd.sock`. Reads the environment: do not call while
/// another thread modifies it (setenv/unsetenv).
std::string default_socket_path();

/// default_socket_path() as computed for a process whose effective uid is
/// `euid` (the rule above without asking the OS; lets tests cover every branch).
std::string default_socket_path_for(uid_t euid);

/// `flag` when non-empty (an explicit --socket wins), else default_socket_path().
/// Same thread-safety as default_socket_path(). This is the daemon's rule.
std::string resolve_socket_path(std::string_view flag);

/// The system daemon's socket (pdcd.service, pdcd.socket).
inline constexpr std::string_view system_socket_path = "/run/pdcd/pdcd.sock";

/// Where a client connects by default: default_socket_path(), except that
/// a user who is not root, has no `PDC_SOCKET`, and has no socket at the
/// per-user path gets the system daemon's socket when its folder exists
/// (a member of group pdcd reaches the packaged pdcd without --socket; a
/// non-member is then refused with "permission denied", naming that path).
/// Same thread-safety as default_socket_path().
std::string default_client_socket_path();

/// default_client_socket_path() for effective uid `euid`, with `system_path`
/// standing for /run/pdcd/pdcd.sock (lets tests cover every branch).
std::string default_client_socket_path_for(uid_t euid, std::string_view system_path);

/// `flag` when non-empty, else default_client_socket_path(): libpdc's and
/// pdcctl's rule.
std::string resolve_client_socket_path(std::string_view flag);

}  // namespace pdc
