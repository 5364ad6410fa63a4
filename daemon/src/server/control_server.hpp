// The control server: a Unix SOCK_SEQPACKET listener on the daemon's Asio
// loop, one session per connected client, flatbuffers requests in,
// responses and deliveries out (docs/protocol.md).
#pragma once

#include "pdc/core/clock.hpp"

#include <asio/basic_socket_acceptor.hpp>
#include <asio/generic/seq_packet_protocol.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "runtime/registry.hpp"
#include "server/fd_closer.hpp"

namespace pdc::daemon {

class session;

class control_server final : public delivery_sink {
 public:
  control_server(asio::io_context& io, registry& reg, const daemon_config& cfg);
  ~control_server() override;

  /// Creates the socket at `path` (mode 0660, parent folder created). A stale
  /// socket left by a dead daemon is replaced; a live one is refused.
  result<void> listen(const std::string& path);
  /// Serves `fd`, a listening socket at `path` that systemd owns (socket
  /// activation): pdcd never unlinks or replaces it, and connections made
  /// while no pdcd runs wait in its backlog for the next one.
  result<void> adopt_listener(int fd, const std::string& path);
  /// True when the listening socket came from systemd.
  [[nodiscard]] bool socket_activated() const noexcept { return inherited_; }
  /// Starts accepting clients.
  void start();
  /// Stops accepting (shutdown); existing sessions continue.
  void stop_accepting();
  /// Closes every session.
  void close_all();
  /// Tells every session that pdcd is stopping (a Goodbye frame; they stay open).
  void say_goodbye(std::string_view reason);
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  [[nodiscard]] std::size_t session_count() const noexcept { return sessions_.size(); }

  errc deliver(std::uint64_t session_id, const std::string& kernel_id, const envelope& env,
               std::span<const std::byte> payload) override;

  // For sessions.
  void on_session_closed(std::uint64_t id);
  [[nodiscard]] registry& reg() noexcept { return reg_; }
  [[nodiscard]] const daemon_config& config() const noexcept { return cfg_; }
  [[nodiscard]] fd_closer& closer() noexcept { return closer_; }

 private:
  static constexpr int k_accept_backoff_ms = 100;

  void accept();
  void refuse_session(asio::generic::seq_packet_protocol::socket& sock);

  asio::io_context& io_;
  registry& reg_;
  const daemon_config& cfg_;
  asio::basic_socket_acceptor<asio::generic::seq_packet_protocol> acceptor_;
  std::string path_;
  bool accepting_ = false;
  bool inherited_ = false;
  asio::steady_timer backoff_;  // accept pauses after running out of descriptors
  std::uint64_t accept_backoffs_ = 0;
  std::uint64_t last_refusal_log_ns_ = 0;
  // From the monotonic clock in microseconds: sessions of an earlier pdcd
  // (named in what adopted hosts still send) are never confused with ours.
  std::uint64_t next_session_id_ = now_ns() / 1000 + 1;
  std::map<std::uint64_t, std::shared_ptr<session>> sessions_;
  fd_closer closer_;
};

}  // namespace pdc::daemon
