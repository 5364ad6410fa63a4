#include "app/sd_notify.hpp"

#ifdef PDC_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace pdc::daemon {

void notify_systemd(const char* state) noexcept {
#ifdef PDC_HAVE_LIBSYSTEMD
  sd_notify(0, state);
#else
  (void)state;
#endif
}

}  // namespace pdc::daemon
