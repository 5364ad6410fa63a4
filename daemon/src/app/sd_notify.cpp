#include "app/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#ifdef PDC_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace pdc::daemon {

void notify_systemd(const std::string& state) noexcept {
#ifdef PDC_HAVE_LIBSYSTEMD
  (void)sd_notify(0, state.c_str());
#else
  (void)state;
#endif
}

void notify_reloading() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const auto usec = static_cast<unsigned long long>(ts.tv_sec) * 1'000'000ULL +
                    static_cast<unsigned long long>(ts.tv_nsec) / 1'000ULL;
  notify_systemd("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

std::optional<std::chrono::microseconds> watchdog_interval() noexcept {
#ifdef PDC_HAVE_LIBSYSTEMD
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) return std::chrono::microseconds(usec);
#endif
  return std::nullopt;
}

result<std::optional<inherited_socket>> take_inherited_socket() {
#ifdef PDC_HAVE_LIBSYSTEMD
  const int n = sd_listen_fds(1);
  if (n < 0) return make_error(errc::system_error, "sd_listen_fds failed (LISTEN_FDS/LISTEN_PID malformed)");
  if (n == 0) return std::optional<inherited_socket>{};
  if (n > 1) {
    return make_error(errc::invalid_argument,
                      "systemd passed " + std::to_string(n) + " sockets; pdcd takes one (its control socket)");
  }
  const int fd = SD_LISTEN_FDS_START;
  if (sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, nullptr, 0) <= 0) {
    return make_error(errc::invalid_argument,
                      "the socket systemd passed is not a listening AF_UNIX SOCK_SEQPACKET socket "
                      "(pdcd.socket needs ListenSequentialPacket=)");
  }
  sockaddr_un addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 || len <= sizeof(sa_family_t) ||
      addr.sun_path[0] == '\0') {
    return make_error(errc::invalid_argument, "the socket systemd passed has no path (abstract sockets are refused)");
  }
  return std::optional<inherited_socket>{inherited_socket{fd, std::string(addr.sun_path)}};
#else
  return std::optional<inherited_socket>{};
#endif
}

}  // namespace pdc::daemon
