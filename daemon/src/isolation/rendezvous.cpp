#include "isolation/rendezvous.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>

#include "runtime/registry.hpp"

namespace pdc::daemon {

namespace {
// A host has this long to say who it is once connected.
constexpr std::chrono::seconds k_adoption_timeout{5};
// An Adopt carries at most this many attachments (the daemon-wide limit bounds them anyway).
constexpr std::size_t k_max_adopted_attachments = 65536;

// The command line of process `dir` (/proc/PID), NUL-separated; empty when it
// cannot be read. Plain read(2): the process may exit while it is read (ESRCH),
// which must not throw as an ifstream's underflow does.
std::string read_cmdline(const std::string& dir) {
  std::string out;
  const int fd = ::open((dir + "/cmdline").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || out.size() > (1U << 20)) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}
}  // namespace

struct host_rendezvous::pending {
  pending(asio::io_context& io, int fd, pid_t peer) : link(fd), watch(io), timer(io), peer_pid(peer) {}
  host_link link;
  asio::posix::stream_descriptor watch;
  asio::steady_timer timer;
  pid_t peer_pid;
  adoption a;
  bool have_adopt = false;
  bool done = false;
};

host_rendezvous::host_rendezvous(asio::io_context& io, registry& reg) : io_(io), reg_(reg) {}

host_rendezvous::~host_rendezvous() {
  stop();
}

result<void> host_rendezvous::listen(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return make_error(errc::invalid_argument, "rendezvous path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return make_error(errc::system_error, "socket: " + std::string(std::strerror(errno)));
  // The main socket proved no other pdcd serves this path: what is here is stale.
  (void)::unlink(path.c_str());
  const mode_t old = ::umask(0177);  // created 0600: only the daemon's user may connect
  const int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (bound != 0 || ::listen(fd, 64) != 0) {
    const int e = errno;
    ::close(fd);
    return make_error(errc::system_error, "cannot listen at " + path + ": " + std::strerror(e));
  }
  listen_fd_ = fd;
  path_ = path;
  watch_ = std::make_unique<asio::posix::stream_descriptor>(io_, fd);
  accept_next();
  return ok();
}

void host_rendezvous::stop() {
  alive_ = std::make_shared<int>(0);
  if (watch_) {
    watch_->cancel();
    (void)watch_->release();
    watch_.reset();
  }
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    (void)::unlink(path_.c_str());
  }
}

void host_rendezvous::accept_next() {
  const std::weak_ptr<int> alive = alive_;
  watch_->async_wait(asio::posix::stream_descriptor::wait_read, [this, alive](const std::error_code& ec) {
    if (alive.expired() || ec) return;
    for (int i = 0; i < 16; ++i) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) break;
      ucred cred{};
      socklen_t len = sizeof cred;
      if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != ::geteuid()) {
        spdlog::warn("rendezvous: a process of uid {} is not a host of this daemon; closed", cred.uid);
        ::close(fd);
        continue;
      }
      auto p = std::make_shared<pending>(io_, fd, cred.pid);
      p->watch.assign(fd);
      p->timer.expires_after(k_adoption_timeout);
      p->timer.async_wait([p](const std::error_code& tec) {
        if (tec || p->done) return;
        p->done = true;
        spdlog::warn("rendezvous: host pid {} did not finish asking for adoption in time; closed", p->peer_pid);
        (void)p->watch.release();
        p->link.close();
      });
      read(p);
    }
    accept_next();
  });
}

void host_rendezvous::read(const std::shared_ptr<pending>& p) {
  for (;;) {
    if (p->done) return;
    link_packet pkt;
    const errc got = p->link.receive(pkt);
    if (got == errc::empty) break;
    if (got != errc::ok) {
      p->done = true;
      p->timer.cancel();
      (void)p->watch.release();
      p->link.close();
      return;
    }
    const auto& f = pkt.frame();
    if (f.body_type() == host::Body::Adopt && !p->have_adopt) {
      const auto* a = f.body_as_Adopt();
      auto st = a->start() != nullptr ? decode_start(*a->start())
                                      : result<host_start>(make_error(errc::protocol_error, "no Start"));
      auto state = state_from_value(a->state());
      if (!st || !state) {
        p->done = true;
        spdlog::warn("rendezvous: host pid {} sent an Adopt this pdcd cannot read", p->peer_pid);
        (void)p->watch.release();
        p->link.close();
        return;
      }
      p->a.start = std::move(st).value();
      p->a.state = *state;
      p->a.pid = p->peer_pid;  // the kernel says who connected, not the frame
      p->have_adopt = true;
    } else if (f.body_type() == host::Body::Attach && p->have_adopt && (pkt.fds.size() == 2 || pkt.fds.size() == 3) &&
               p->a.attachments.size() < k_max_adopted_attachments) {
      const auto* at = f.body_as_Attach();
      adopted_attachment one{at->attachment_id(), at->session_id(), std::move(pkt.fds[0]), std::move(pkt.fds[1]), {}};
      if (pkt.fds.size() == 3) one.reply_wake = std::move(pkt.fds[2]);
      p->a.attachments.push_back(std::move(one));
    } else if (f.body_type() == host::Body::AdoptDone && p->have_adopt) {
      conclude(p);
      return;  // what follows on the link is for the kernel's executor
    }
  }
  const std::weak_ptr<int> alive = alive_;
  p->watch.async_wait(asio::posix::stream_descriptor::wait_read, [this, alive, p](const std::error_code& ec) {
    if (alive.expired() || ec) return;
    read(p);
  });
}

void host_rendezvous::conclude(const std::shared_ptr<pending>& p) {
  p->done = true;
  p->timer.cancel();
  (void)p->watch.release();
  const std::string id = p->a.start.req.kernel_id;
  const pid_t pid = p->a.pid;
  p->a.link = std::move(p->link);
  auto r = reg_.adopt_host(std::move(p->a));
  if (!r) {
    spdlog::warn("host pid {} of kernel '{}' not adopted: {}", pid, id, r.err().what());
    // The link went with the adoption; refusals are sent by adopt_host.
    return;
  }
  ++adopted_;
}

std::vector<pid_t> host_rendezvous::waiting_hosts(const std::string& path) {
  std::vector<pid_t> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  const uid_t me = ::geteuid();
  while (const dirent* e = ::readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    const std::string dir = std::string("/proc/") + e->d_name;
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || st.st_uid != me) continue;
    const std::string cmd = read_cmdline(dir);
    std::vector<std::string> args;
    for (std::size_t at = 0; at < cmd.size();) {
      const auto end = cmd.find('\0', at);
      args.push_back(cmd.substr(at, end == std::string::npos ? std::string::npos : end - at));
      if (end == std::string::npos) break;
      at = end + 1;
    }
    if (args.empty() || args[0].size() < 15 || args[0].compare(args[0].size() - 15, 15, "pdc-kernel-host") != 0) {
      continue;
    }
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "--rendezvous" && args[i + 1] == path) {
        out.push_back(pid);
        break;
      }
    }
  }
  ::closedir(proc);
  return out;
}

}  // namespace pdc::daemon
