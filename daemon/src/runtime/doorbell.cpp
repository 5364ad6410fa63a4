#include "runtime/doorbell.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "pdc/core/wait.hpp"

namespace pdc::daemon {

doorbell::doorbell() noexcept : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

doorbell::~doorbell() {
  if (fd_ >= 0) ::close(fd_);
}

void doorbell::ring() noexcept {
  pdc::detail::eventfd_signal(fd_);
}

void doorbell::wait(std::uint64_t timeout_ns) noexcept {
  pollfd p{fd_, POLLIN, 0};
  const auto ms = static_cast<int>(std::min<std::uint64_t>(timeout_ns / 1'000'000 + 1, 1000));
  int rc = 0;
  do {
    rc = ::poll(&p, 1, ms);
  } while (rc < 0 && errno == EINTR);
  drain();
}

void doorbell::drain() noexcept {
  std::uint64_t count = 0;
  (void)!::read(fd_, &count, sizeof count);
}

}  // namespace pdc::daemon
