// pdcctl's program: parse the command line, connect, run one command, map the
// outcome to an exit code.
#pragma once

#include <iosfwd>

namespace pdc::ctl {

/// Exit codes of pdcctl.
enum exit_code : int {
  exit_ok = 0,           ///< The command succeeded.
  exit_failed = 1,       ///< The daemon refused or failed the command (or a wait timed out).
  exit_usage = 2,        ///< The command line or a local input (file, hex) is invalid.
  exit_unreachable = 3,  ///< pdcd could not be reached, or went away mid-command.
};

/// Runs pdcctl with `argv`; results go to `out`, the one-line error
/// ("pdcctl: error: ...") to `err`. Returns the exit code.
int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace pdc::ctl
