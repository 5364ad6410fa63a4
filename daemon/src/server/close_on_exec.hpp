#pragma once

#include <fcntl.h>

namespace pdc::daemon {

// Marks `fd` close-on-exec. asio's accept leaves the flag off, and a
// descriptor without it would cross into every pdc-kernel-host started
// later (posix_spawn in process_executor also closes what is above the link).
inline void set_close_on_exec(int fd) noexcept {
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0 && (flags & FD_CLOEXEC) == 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

}  // namespace pdc::daemon
