// systemd readiness notification (Type=notify); a no-op outside systemd.
#pragma once

namespace pdc::daemon {

/// Sends `state` (e.g. "READY=1") to $NOTIFY_SOCKET when set.
void notify_systemd(const char* state) noexcept;

}  // namespace pdc::daemon
