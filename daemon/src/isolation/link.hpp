// One end of a host link (pdcd <-> pdc-kernel-host): a SOCK_SEQPACKET socket
// whose packets are host.fbs frames, some carrying descriptors. Sends never
// block (a full socket is an outcome the caller handles); every received
// packet is verified before anyone reads it. Thread-safe for sending: a
// packet is sent whole by one sendmsg.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "pdc/core/errc.hpp"
#include "pdc/core/result.hpp"
#include "pdc/proto/host_generated.h"
#include "runtime/launch_request.hpp"

namespace pdc::daemon {

/// The protocol version in Start (pdcd and its host come from one build).
inline constexpr std::uint32_t k_host_link_version = 1;
/// The largest packet either side accepts (a message of the largest size with room for the frame).
inline constexpr std::size_t k_host_link_max_packet = (64U << 20) + 4096;

/// A descriptor that closes itself.
class owned_fd {
 public:
  owned_fd() = default;
  explicit owned_fd(int fd) noexcept : fd_(fd) {}
  ~owned_fd();
  owned_fd(owned_fd&& o) noexcept : fd_(o.release()) {}
  owned_fd& operator=(owned_fd&& o) noexcept;
  owned_fd(const owned_fd&) = delete;
  owned_fd& operator=(const owned_fd&) = delete;
  [[nodiscard]] int get() const noexcept { return fd_; }
  int release() noexcept {
    const int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset() noexcept;

 private:
  int fd_ = -1;
};

/// A verified packet and the descriptors that came with it.
struct link_packet {
  std::vector<std::uint8_t> bytes;
  std::vector<owned_fd> fds;
  [[nodiscard]] const host::Frame& frame() const noexcept { return *host::GetFrame(bytes.data()); }
};

class host_link {
 public:
  host_link() = default;
  /// Takes `fd` (a connected SOCK_SEQPACKET socket), made non-blocking here.
  explicit host_link(int fd) noexcept;
  host_link(host_link&& o) noexcept : fd_(std::move(o.fd_)), send_fd_(o.send_fd_.exchange(-1)) {}
  host_link& operator=(host_link&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = std::move(o.fd_);
      send_fd_.store(o.send_fd_.exchange(-1), std::memory_order_relaxed);
    }
    return *this;
  }
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] bool open() const noexcept { return fd_.get() >= 0; }
  /// Closes the link (the owner's thread). Senders on other threads see it
  /// closed (peer_gone) from then on.
  void close() noexcept {
    send_fd_.store(-1, std::memory_order_relaxed);
    fd_.reset();
  }

  /// Sends one packet, `fds` attached: ok, full (the socket has no room; nothing
  /// was sent), peer_gone (the other side closed) or system_error.
  errc send(std::span<const std::uint8_t> bytes, std::span<const int> fds = {}) const noexcept;
  /// Receives one packet: ok (verified), empty (nothing now), peer_gone
  /// (the other side closed), protocol_error (a packet that is not a Frame,
  /// or too large; it is gone) or system_error.
  errc receive(link_packet& out) const;

 private:
  owned_fd fd_;
  // What senders on any thread use (agents delivering). Relaxed: a sender
  // that races a close() sends on a closed descriptor and gets an error,
  // which is what a sender after the close gets.
  std::atomic<int> send_fd_{-1};
};

/// Makes a connected socketpair for a host link (both ends close-on-exec).
errc make_link_pair(int (&fds)[2]) noexcept;

/// What a Start frame carries, both ways (pdcd starts a host; a host asks a
/// new pdcd to adopt it).
struct host_start {
  launch_request req;
  std::string plugin_path;
  std::uint32_t stats_interval_ms = 100;
  std::string rendezvous;
  std::uint32_t orphan_timeout_ms = 0;
};
flatbuffers::Offset<host::Start> encode_start(flatbuffers::FlatBufferBuilder& b, const host_start& s);
/// The Start's contents; protocol_error for values this build does not know.
result<host_start> decode_start(const host::Start& s);

}  // namespace pdc::daemon
