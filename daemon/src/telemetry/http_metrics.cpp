#include "telemetry/http_metrics.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <memory>

#include "server/close_on_exec.hpp"
#include "server/dispatch.hpp"

namespace pdc::daemon {

namespace {

constexpr std::size_t k_max_request_bytes = 8192;
constexpr std::size_t k_max_connections = 16;
constexpr std::chrono::seconds k_request_timeout{5};

std::string status_response(const char* status, const std::string& text, bool head = false) {
  std::string out = std::string("HTTP/1.0 ") + status + "\r\nContent-Type: text/plain; charset=utf-8\r\n" +
                    "Content-Length: " + std::to_string(text.size()) + "\r\nConnection: close\r\n\r\n";
  if (!head) out += text;
  return out;
}

// A connection: its socket, the request read so far, the answer, and the
// deadline. Counted in `open` while it lives.
template <typename Socket>
struct http_connection {
  http_connection(Socket s, std::shared_ptr<std::size_t> counter)
      : sock(std::move(s)), deadline(sock.get_executor()), open(std::move(counter)) {
    ++*open;
  }
  ~http_connection() { --*open; }
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  Socket sock;
  asio::steady_timer deadline;
  std::shared_ptr<std::size_t> open;
  std::string request;
  std::string response;
  std::array<char, 2048> buf{};
};

template <typename Socket>
void finish(const std::shared_ptr<http_connection<Socket>>& c) {
  asio::async_write(c->sock, asio::buffer(c->response), [c](const asio::error_code& /*ec*/, std::size_t /*n*/) {
    asio::error_code ignored;
    c->sock.shutdown(Socket::shutdown_both, ignored);
    c->sock.close(ignored);
    c->deadline.cancel();
  });
}

template <typename Socket>
void read_request(const std::shared_ptr<http_connection<Socket>>& c, registry* reg) {
  c->sock.async_read_some(asio::buffer(c->buf), [c, reg](const asio::error_code& ec, std::size_t n) {
    if (ec) return;  // closed, or the deadline closed it
    c->request.append(c->buf.data(), n);
    const bool complete =
        c->request.find("\r\n\r\n") != std::string::npos || c->request.find("\n\n") != std::string::npos;
    const bool too_big = c->request.size() > k_max_request_bytes;
    if (!complete && !too_big) return read_request(c, reg);
    if (too_big) {
      c->response = status_response("431 Request Header Fields Too Large", "request larger than 8 KiB\n");
    } else {
      c->response = http_metrics_response(c->request, [reg] { return prometheus_everything(*reg); });
    }
    finish(c);
  });
}

bool someone_listens_at(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

result<metrics_endpoint> parse_metrics_endpoint(const std::string& spec) {
  metrics_endpoint e;
  if (spec.rfind("unix:", 0) == 0) {
    e.unix_path = spec.substr(5);
    if (e.unix_path.empty() || e.unix_path[0] != '/') {
      return make_error(errc::invalid_argument, "[metrics] listen '" + spec + "': a unix: path must be absolute");
    }
    if (e.unix_path.size() >= sizeof(sockaddr_un{}.sun_path)) {
      return make_error(errc::invalid_argument, "[metrics] listen '" + spec + "': the path is too long");
    }
    return e;
  }
  std::string host;
  std::string port;
  if (!spec.empty() && spec[0] == '[') {
    const auto close = spec.find("]:");
    if (close == std::string::npos) {
      return make_error(errc::invalid_argument, "[metrics] listen '" + spec + "': expected [ADDRESS]:PORT");
    }
    host = spec.substr(1, close - 1);
    port = spec.substr(close + 2);
  } else {
    const auto colon = spec.rfind(':');
    if (colon == std::string::npos) {
      return make_error(errc::invalid_argument,
                        "[metrics] listen '" + spec + "': expected 127.0.0.1:PORT, [::1]:PORT or unix:/path");
    }
    host = spec.substr(0, colon);
    port = spec.substr(colon + 1);
  }
  if (host == "localhost") host = "127.0.0.1";
  asio::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec)
    return make_error(errc::invalid_argument, "[metrics] listen '" + spec + "': '" + host + "' is not an address");
  if (!address.is_loopback()) {
    return make_error(errc::invalid_argument, "[metrics] listen '" + spec +
                                                  "': only a loopback address (127.0.0.1, ::1) or a unix: path; "
                                                  "put a proxy in front to serve other machines");
  }
  unsigned value = 0;
  const auto [end, err] = std::from_chars(port.data(), port.data() + port.size(), value);
  // Port 0: one the kernel picks (logged at start; tests use it).
  if (err != std::errc() || end != port.data() + port.size() || value > 65535) {
    return make_error(errc::invalid_argument, "[metrics] listen '" + spec + "': '" + port + "' is not a port");
  }
  e.host = address.to_string();
  e.port = static_cast<std::uint16_t>(value);
  return e;
}

std::string http_metrics_response(std::string_view request, const std::function<std::string()>& body) {
  const auto eol = request.find_first_of("\r\n");
  const std::string_view line = request.substr(0, eol);
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || line.substr(sp2 + 1).rfind("HTTP/", 0) != 0) {
    return status_response("400 Bad Request", "not an HTTP request\n");
  }
  const auto method = line.substr(0, sp1);
  auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (const auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  if (method != "GET" && method != "HEAD") {
    return status_response("405 Method Not Allowed", "only GET and HEAD\n");
  }
  if (target != "/metrics") return status_response("404 Not Found", "pdcd serves /metrics only\n", method == "HEAD");
  const std::string text = body();
  std::string out = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: " +
                    std::to_string(text.size()) + "\r\nConnection: close\r\n\r\n";
  if (method == "GET") out += text;
  return out;
}

metrics_http_server::metrics_http_server(asio::io_context& io, registry& reg)
    : io_(io), reg_(reg), open_(std::make_shared<std::size_t>(0)), retry_(io) {}

metrics_http_server::~metrics_http_server() {
  stop();
}

result<void> metrics_http_server::listen(const std::string& spec) {
  auto e = parse_metrics_endpoint(spec);
  if (!e) return std::move(e).err();
  asio::error_code ec;
  if (!e->unix_path.empty()) {
    struct stat st {};
    if (::lstat(e->unix_path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return make_error(errc::already_exists, e->unix_path + " exists and is not a socket; refusing to replace it");
      }
      if (someone_listens_at(e->unix_path)) {
        return make_error(errc::already_exists, "another process listens on " + e->unix_path);
      }
      ::unlink(e->unix_path.c_str());
    }
    unix_.emplace(io_);
    unix_->open(asio::local::stream_protocol(), ec);
    // Mode 0660, as the control socket: the daemon's group may scrape.
    const mode_t old_mask = ::umask(0117);
    if (!ec) unix_->bind(asio::local::stream_protocol::endpoint(e->unix_path), ec);
    ::umask(old_mask);
    if (!ec) unix_->listen(16, ec);
    if (ec) {
      unix_.reset();
      return make_error(errc::system_error, "[metrics] listen unix:" + e->unix_path + ": " + ec.message());
    }
    unix_path_ = e->unix_path;
    where_ = "unix:" + e->unix_path;
    accept_unix();
    return ok();
  }
  const asio::ip::tcp::endpoint at(asio::ip::make_address(e->host), e->port);
  tcp_.emplace(io_);
  tcp_->open(at.protocol(), ec);
  if (!ec) tcp_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) tcp_->bind(at, ec);
  if (!ec) tcp_->listen(16, ec);
  if (ec) {
    tcp_.reset();
    return make_error(errc::system_error, "[metrics] listen " + spec + ": " + ec.message());
  }
  where_ = (at.address().is_v6() ? "[" + e->host + "]" : e->host) + ":" + std::to_string(tcp_->local_endpoint().port());
  accept_tcp();
  return ok();
}

void metrics_http_server::stop() {
  asio::error_code ignored;
  retry_.cancel();
  if (tcp_) tcp_->close(ignored);
  if (unix_) {
    unix_->close(ignored);
    ::unlink(unix_path_.c_str());
  }
  tcp_.reset();
  unix_.reset();
}

template <typename Socket>
void metrics_http_server::serve(Socket socket) {
  if (*open_ >= k_max_connections) {
    // Bounded: a scraper that opens connections and never sends cannot grow pdcd.
    asio::error_code ignored;
    socket.close(ignored);
    return;
  }
  auto c = std::make_shared<http_connection<Socket>>(std::move(socket), open_);
  c->deadline.expires_after(k_request_timeout);
  c->deadline.async_wait([weak = std::weak_ptr<http_connection<Socket>>(c)](const asio::error_code& ec) {
    if (ec) return;
    if (auto live = weak.lock()) {
      asio::error_code ignored;
      live->sock.close(ignored);
    }
  });
  read_request(c, &reg_);
}

void metrics_http_server::accept_tcp() {
  if (!tcp_) return;
  tcp_->async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket s) {
    if (ec == asio::error::operation_aborted || !tcp_) return;
    if (ec) return retry_later(&metrics_http_server::accept_tcp);
    set_close_on_exec(s.native_handle());
    serve(std::move(s));
    accept_tcp();
  });
}

// A failed accept (descriptors used up) is tried again in 100 ms, not at once.
void metrics_http_server::retry_later(void (metrics_http_server::*accept)()) {
  retry_.expires_after(std::chrono::milliseconds(100));
  retry_.async_wait([this, accept](const asio::error_code& ec) {
    if (!ec) (this->*accept)();
  });
}

void metrics_http_server::accept_unix() {
  if (!unix_) return;
  unix_->async_accept([this](const asio::error_code& ec, asio::local::stream_protocol::socket s) {
    if (ec == asio::error::operation_aborted || !unix_) return;
    if (ec) return retry_later(&metrics_http_server::accept_unix);
    set_close_on_exec(s.native_handle());
    serve(std::move(s));
    accept_unix();
  });
}

}  // namespace pdc::daemon
