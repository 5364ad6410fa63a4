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
/// Same thread-safety as default_socket_path().
std::string resolve_socket_path(std::string_view flag);

}  // namespace pdc
