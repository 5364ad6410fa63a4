// Which plugin files pdcd agrees to open (docs/security.md, "Plugins"). A
// plugin runs as the daemon's user, so only files that nobody but root and
// that user can change are loaded, and only from the configured plugin
// folders: a client never makes the daemon dlopen a path of its choosing.
#pragma once

#include <string>
#include <vector>

#include "pdc/core/result.hpp"

namespace pdc::daemon {

/// The canonical path of the plugin `name_or_path` names: a file name
/// (searched in `dirs`, in order) or an absolute path inside one of them.
/// Checked before anything is opened: not_found (no such file in the
/// folders), invalid_argument (a relative path), permission_denied (outside
/// the folders; the file, or a folder above it, owned or writable by someone
/// other than root and the daemon's user, sticky folders excepted).
result<std::string> trusted_plugin_path(const std::string& name_or_path, const std::vector<std::string>& dirs);

}  // namespace pdc::daemon
