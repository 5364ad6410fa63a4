#include "socket_io.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace pdc::detail {

namespace {
// Milliseconds for poll(): rounds up so a short deadline never busy-waits; -1 = forever.
int poll_timeout_ms(deadline dl) noexcept {
  if (dl.is_never()) return -1;
  const std::uint64_t ns = dl.remaining_ns();
  const std::uint64_t ms = (ns + 999'999U) / 1'000'000U;
  return ms > static_cast<std::uint64_t>(INT_MAX) ? INT_MAX : static_cast<int>(ms);
}

// GNU strerror_r returns the text; XSI returns an int and fills the buffer.
[[maybe_unused]] const char* pick_text(const char* text, const char*) noexcept {
  return text;
}
[[maybe_unused]] const char* pick_text(int rc, const char* buf) noexcept {
  return rc == 0 ? buf : "unknown error";
}
}  // namespace

std::string errno_text(int err) {
  char buf[256] = {};
  return pick_text(strerror_r(err, buf, sizeof buf), buf);
}

result<int> connect_seqpacket(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return make_error(errc::invalid_argument, "cannot connect to pdcd at " + path + ": socket path must be 1 to " +
                                                  std::to_string(sizeof addr.sun_path - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());

  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(errc::system_error, "socket(AF_UNIX, SOCK_SEQPACKET): " + errno_text(errno));
  int rc = 0;
  do {
    rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) return fd;

  const int err = errno;
  ::close(fd);
  std::string msg = "cannot connect to pdcd at " + path + ": " + errno_text(err);
  switch (err) {
    case ENOENT:
    case ECONNREFUSED:
      return make_error(errc::peer_gone, msg + " (is pdcd running?)");
    case EACCES:
    case EPERM:
      return make_error(errc::permission_denied, msg);
    default:
      return make_error(errc::system_error, msg);
  }
}

result<unsigned> peer_uid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return make_error(errc::system_error, "getsockopt(SO_PEERCRED): " + errno_text(errno));
  }
  return static_cast<unsigned>(cred.uid);
}

result<short> wait_fd(int fd, short events, deadline dl) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, poll_timeout_ms(dl));
    if (rc > 0) return p.revents;
    if (rc == 0) {
      if (dl.expired()) return make_error(errc::timeout);
      continue;  // poll's millisecond rounding woke us early
    }
    if (errno != EINTR) return make_error(errc::system_error, "poll: " + errno_text(errno));
  }
}

}  // namespace pdc::detail
