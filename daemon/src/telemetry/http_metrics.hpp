// The optional HTTP /metrics endpoint ([metrics] listen; docs/operations.md,
// "Observability"): the Prometheus text of every kernel, for a scraper.
// Loopback TCP or a Unix socket only. Every connection is untrusted and
// bounded: a request of at most 8 KiB read within 5 s, at most 16
// connections at once, one answer, then the connection closes.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pdc/core/result.hpp"

namespace pdc::daemon {

class registry;

/// What `[metrics] listen` names.
struct metrics_endpoint {
  std::string unix_path;  ///< "unix:/path": the path; else empty
  std::string host;       ///< "127.0.0.1" or "::1"
  std::uint16_t port = 0;
};

/// Parses "127.0.0.1:9464", "[::1]:9464", "localhost:9464" or "unix:/path";
/// any other host is refused (the endpoint is for this machine's scraper).
result<metrics_endpoint> parse_metrics_endpoint(const std::string& spec);

/// The answer to one HTTP request (`request`: up to the blank line): a whole
/// HTTP/1.0 response. GET or HEAD of /metrics: 200 with `body`; another
/// path: 404; another method: 405; unreadable: 400.
std::string http_metrics_response(std::string_view request, const std::function<std::string()>& body);

class metrics_http_server {
 public:
  metrics_http_server(asio::io_context& io, registry& reg);
  ~metrics_http_server();
  metrics_http_server(const metrics_http_server&) = delete;
  metrics_http_server& operator=(const metrics_http_server&) = delete;

  /// Listens on `spec` ([metrics] listen) and starts accepting.
  result<void> listen(const std::string& spec);
  /// Stops accepting; connections in progress finish. Removes a Unix socket.
  void stop();
  /// Where it listens, for the log ("127.0.0.1:9464", "unix:/run/pdcd/metrics.sock").
  [[nodiscard]] const std::string& where() const noexcept { return where_; }

 private:
  template <typename Socket>
  void serve(Socket socket);
  void accept_tcp();
  void accept_unix();
  void retry_later(void (metrics_http_server::*accept)());

  asio::io_context& io_;
  registry& reg_;
  std::optional<asio::ip::tcp::acceptor> tcp_;
  std::optional<asio::local::stream_protocol::acceptor> unix_;
  std::string unix_path_;
  std::string where_;
  std::shared_ptr<std::size_t> open_;  // connections alive (shared with them)
  asio::steady_timer retry_;           // after a failed accept (out of descriptors)
};

}  // namespace pdc::daemon
