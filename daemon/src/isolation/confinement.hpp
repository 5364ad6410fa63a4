// Confinement of a kernel host (docs/isolation.md, "Confinement"): resource
// limits, another user, a system-call filter. Applied by pdc-kernel-host to
// itself before it loads the plugin, so the plugin's own constructors run
// confined too.
#pragma once

#include "pdc/core/result.hpp"
#include "runtime/launch_request.hpp"

namespace pdc::daemon {

/// Sets the limits, switches to the user (its groups too) and loads the
/// seccomp filter, in that order; the first step that fails fails it all.
result<void> confine(const host_confinement& c);

}  // namespace pdc::daemon
