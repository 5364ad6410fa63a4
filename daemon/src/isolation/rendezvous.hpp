// The rendezvous socket: where pdc-kernel-host processes whose pdcd died
// reconnect, and the next pdcd adopts them (docs/isolation.md). It is
// `<socket>.hosts`, mode 0600; only processes of the daemon's own user are
// heard. A host sends Adopt, its attachments and AdoptDone; the registry
// takes the kernel over, or the host is refused and ends it.
#pragma once

#include <sys/types.h>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <memory>
#include <string>
#include <vector>

#include "isolation/link.hpp"
#include "pdc/core/kinds.hpp"

namespace pdc::daemon {

class registry;

/// An attachment a host serves, as it hands it over (its segment and wake-up descriptors).
struct adopted_attachment {
  std::uint64_t attachment_id = 0;
  std::uint64_t session_id = 0;
  owned_fd segment;
  owned_fd wake;
  owned_fd reply_wake;  ///< The reply ring's wake-up socket (may be empty: an older host).
};

/// What a host asks to be adopted with.
struct adoption {
  host_start start;
  kernel_state state = kernel_state::launched;
  pid_t pid = 0;
  host_link link;
  std::vector<adopted_attachment> attachments;
};

class host_rendezvous {
 public:
  host_rendezvous(asio::io_context& io, registry& reg);
  ~host_rendezvous();
  host_rendezvous(const host_rendezvous&) = delete;
  host_rendezvous& operator=(const host_rendezvous&) = delete;

  /// Listens at `path` (replacing a stale socket) and starts accepting.
  result<void> listen(const std::string& path);
  /// Stops accepting and removes the socket.
  void stop();
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  /// Hosts adopted so far.
  [[nodiscard]] std::size_t adopted() const noexcept { return adopted_; }
  /// Hosts started by an earlier pdcd for this rendezvous path and running
  /// now (from /proc): the ones a starting pdcd waits for.
  static std::vector<pid_t> waiting_hosts(const std::string& path);

 private:
  struct pending;
  void accept_next();
  void read(const std::shared_ptr<pending>& p);
  void conclude(const std::shared_ptr<pending>& p);

  asio::io_context& io_;
  registry& reg_;
  std::string path_;
  int listen_fd_ = -1;
  std::unique_ptr<asio::posix::stream_descriptor> watch_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  std::size_t adopted_ = 0;
};

}  // namespace pdc::daemon
