#include "server/control_server.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "pdc/core/clock.hpp"
#include "server/close_on_exec.hpp"
#include "server/codec.hpp"
#include "server/session.hpp"

namespace pdc::daemon {

namespace {

error sys_error(const std::string& what) {
  return make_error(errc::system_error, what + ": " + std::strerror(errno));
}

// sockaddr_un for `path`, or invalid_argument when it does not fit.
result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return make_error(errc::invalid_argument, "socket path '" + path + "' is empty or longer than " +
                                                  std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// The socket's folder: made 0700 when missing; refused when someone other
// than root or pdcd's user owns it, or others may write it (they could put
// their own socket in pdcd's place), unless it is sticky (/tmp): there
// nobody may remove or rename what another user made.
result<void> prepare_socket_folder(const std::filesystem::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return sys_error("cannot check socket folder " + dir.string());
    const auto parent = dir.parent_path();
    if (!parent.empty() && parent != dir) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      if (ec) return make_error(errc::system_error, "cannot create " + parent.string() + ": " + ec.message());
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return sys_error("cannot create socket folder " + dir.string());
    }
    if (::stat(dir.c_str(), &st) != 0) return sys_error("cannot check socket folder " + dir.string());
  }
  if (!S_ISDIR(st.st_mode)) return make_error(errc::invalid_argument, dir.string() + " is not a folder");
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    return make_error(errc::permission_denied, "socket folder " + dir.string() + " is owned by uid " +
                                                   std::to_string(st.st_uid) +
                                                   ", neither root nor pdcd's user; refused");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
    return make_error(errc::permission_denied, "socket folder " + dir.string() +
                                                   " is writable by its group or others, who could replace the "
                                                   "socket; refused");
  }
  return ok();
}

// True when a live daemon answers at `addr`.
bool someone_listens(const sockaddr_un& addr) {
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return live;
}

}  // namespace

control_server::control_server(asio::io_context& io, registry& reg, const daemon_config& cfg)
    : io_(io), reg_(reg), cfg_(cfg), acceptor_(io), backoff_(io) {}

control_server::~control_server() {
  close_all();
  stop_accepting();
}

result<void> control_server::listen(const std::string& path) {
  auto addr = unix_address(path);
  if (!addr) return std::move(addr).err();
  const auto dir = std::filesystem::path(path).parent_path();
  if (auto safe = prepare_socket_folder(dir.empty() ? std::filesystem::path(".") : dir); !safe) return safe;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return make_error(errc::already_exists, path + " exists and is not a socket; refusing to replace it");
    }
    if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
      // In a shared folder someone else made it: clients would reach them, not pdcd.
      return make_error(errc::permission_denied, path + " is a socket of uid " + std::to_string(st.st_uid) +
                                                     ", neither root nor pdcd's user; refusing to use or replace it");
    }
    if (someone_listens(*addr)) {
      return make_error(errc::already_exists, "another pdcd is already listening on " + path);
    }
    spdlog::info("replacing stale socket {} (no daemon answers on it)", path);
    ::unlink(path.c_str());
  }
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return sys_error("socket");
  // Created with its final mode (0660): there is no moment when others may
  // connect. umask is process-wide; nothing else creates files while the
  // daemon starts.
  const mode_t old_mask = ::umask(0117);
  const int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(sockaddr_un));
  const int bind_errno = errno;
  ::umask(old_mask);
  if (bound != 0) {
    errno = bind_errno;
    auto e = sys_error("bind " + path);
    ::close(fd);
    return e;
  }
  if (::listen(fd, 128) != 0) {
    auto e = sys_error("listen " + path);
    ::close(fd);
    ::unlink(path.c_str());
    return e;
  }
  asio::error_code ec;
  acceptor_.assign(asio::generic::seq_packet_protocol(AF_UNIX, 0), fd, ec);
  if (ec) {
    ::close(fd);
    return make_error(errc::system_error, "asio assign: " + ec.message());
  }
  path_ = path;
  return ok();
}

result<void> control_server::adopt_listener(int fd, const std::string& path) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return sys_error("fcntl on the systemd socket");
  asio::error_code ec;
  acceptor_.assign(asio::generic::seq_packet_protocol(AF_UNIX, 0), fd, ec);
  if (ec) return make_error(errc::system_error, "asio assign: " + ec.message());
  path_ = path;
  inherited_ = true;
  return ok();
}

void control_server::start() {
  accepting_ = true;
  accept();
}

void control_server::refuse_session(session::socket_type& sock) {
  const auto frame = codec::response(
      0, reg_.refuse_at(daemon_limit::sessions, "pdcd serves " + std::to_string(sessions_.size()) +
                                                    " clients, its limit ([limits] max_sessions); try again later"));
  (void)!::send(sock.native_handle(), frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  asio::error_code ignored;
  sock.close(ignored);
  // One line per second at most: a client that reconnects in a loop must not flood the log.
  const std::uint64_t now = now_ns();
  if (now - last_refusal_log_ns_ >= 1'000'000'000) {
    last_refusal_log_ns_ = now;
    spdlog::warn("refusing connections: {} clients connected, the limit ([limits] max_sessions); {} refused so far",
                 sessions_.size(), reg_.refused_at(daemon_limit::sessions));
  }
}

void control_server::accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, session::socket_type sock) {
    if (ec == asio::error::operation_aborted || !accepting_) return;
    if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space || ec == asio::error::no_memory ||
        ec.value() == ENFILE) {
      // Out of descriptors (or memory): accepting again at once would spin
      // on the same error. Back off; the pending connections wait in the backlog.
      ++accept_backoffs_;
      spdlog::warn("accept failed: {}; pausing accepts for {} ms", ec.message(), k_accept_backoff_ms);
      backoff_.expires_after(std::chrono::milliseconds(k_accept_backoff_ms));
      backoff_.async_wait([this](const asio::error_code& e) {
        if (!e && accepting_) accept();
      });
      return;
    }
    if (!ec) set_close_on_exec(sock.native_handle());  // asio accepts without it: no host may inherit a session
    if (ec) {
      spdlog::warn("accept failed: {}", ec.message());
    } else if (sessions_.size() >= cfg_.limits.max_sessions) {
      refuse_session(sock);
    } else {
      auto peer = credentials_of(sock.native_handle());
      if (!peer) {
        spdlog::warn("refusing a connection: {}", peer.err().what());
      } else {
        peer->admin = is_administrator(*peer, reg_.admin_gid());
        const int buf = static_cast<int>(2 * (cfg_.max_message_bytes + sizeof(envelope) + k_frame_overhead_bytes));
        ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
        ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
        const auto id = next_session_id_++;
        spdlog::info("session {} connected: pid {} uid {} gid {}{}", id, peer->pid, peer->uid, peer->gid,
                     peer->admin ? " (administrator)" : "");
        auto s = std::make_shared<session>(*this, std::move(sock), id, std::move(peer).value());
        sessions_.emplace(id, s);
        reg_.note_sessions(sessions_.size());
        s->start();
      }
    }
    accept();
  });
}

void control_server::stop_accepting() {
  accepting_ = false;
  backoff_.cancel();
  if (acceptor_.is_open()) {
    asio::error_code ignored;
    acceptor_.close(ignored);
    if (!inherited_) ::unlink(path_.c_str());  // systemd's socket stays, for the next pdcd
  }
}

void control_server::close_all() {
  auto all = sessions_;  // close() erases from sessions_
  for (auto& [id, s] : all) s->close();
}

void control_server::say_goodbye(std::string_view reason) {
  auto all = sessions_;  // a failed send may close a session
  for (auto& [id, s] : all) s->send(codec::goodbye(errc::daemon_stopping, reason));
}

void control_server::on_session_closed(std::uint64_t id) {
  reg_.forget_session(id);
  sessions_.erase(id);
  reg_.note_sessions(sessions_.size());
}

errc control_server::deliver(std::uint64_t session_id, const std::string& kernel_id, const envelope& env,
                             std::span<const std::byte> payload) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return errc::peer_gone;
  auto keep = it->second;  // delivery may close the session
  return keep->deliver(kernel_id, env, payload);
}

}  // namespace pdc::daemon
