#include "runtime/doorbell.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "pdc/core/wait.hpp"

namespace pdc::daemon {

namespace {
// epoll_event.data of the bell's own eventfd; client descriptors carry 0.
constexpr std::uint64_t k_own_bell = 1;
constexpr int k_events_per_take = 64;
}  // namespace

doorbell::doorbell() noexcept
    : bell_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (!valid()) return;
  epoll_event ev{};
  ev.events = EPOLLIN;  // level: the daemon drains its own counter
  ev.data.u64 = k_own_bell;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, bell_fd_, &ev) != 0) {
    ::close(epoll_fd_);
    epoll_fd_ = -1;
  }
}

doorbell::~doorbell() {
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (bell_fd_ >= 0) ::close(bell_fd_);
}

void doorbell::ring() noexcept {
  pdc::detail::eventfd_signal(bell_fd_);
}

bool doorbell::watch(int client_fd) noexcept {
  epoll_event ev{};
  // Edge-triggered: each client write wakes the set once, and the daemon
  // never has to read the client's counter to quiet it.
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = 0;
  return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, client_fd, &ev) == 0;
}

void doorbell::unwatch(int client_fd) noexcept {
  epoll_event ev{};  // non-null for kernels before 2.6.9
  (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, client_fd, &ev);
}

void doorbell::take(int timeout_ms) noexcept {
  epoll_event events[k_events_per_take];
  int n = 0;
  do {
    n = ::epoll_wait(epoll_fd_, events, k_events_per_take, timeout_ms);
  } while (n < 0 && errno == EINTR);
  for (int i = 0; i < n; ++i) {
    if (events[i].data.u64 == k_own_bell) {
      std::uint64_t count = 0;
      (void)!::read(bell_fd_, &count, sizeof count);
    }
  }
}

void doorbell::wait(std::uint64_t timeout_ns) noexcept {
  take(static_cast<int>(std::min<std::uint64_t>(timeout_ns / 1'000'000 + 1, 1000)));
}

void doorbell::drain() noexcept {
  take(0);
}

}  // namespace pdc::daemon
