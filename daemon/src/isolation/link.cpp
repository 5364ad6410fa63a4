#include "isolation/link.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace pdc::daemon {

owned_fd::~owned_fd() {
  reset();
}

owned_fd& owned_fd::operator=(owned_fd&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = o.release();
  }
  return *this;
}

void owned_fd::reset() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

host_link::host_link(int fd) noexcept : fd_(fd), send_fd_(fd) {
  if (fd >= 0) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0) (void)::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    // Room for bursts of deliveries and stats without a full socket.
    const int bytes = 4 << 20;
    (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }
}

errc host_link::send(std::span<const std::uint8_t> bytes, std::span<const int> fds) const noexcept {
  const int fd = send_fd_.load(std::memory_order_relaxed);
  if (fd < 0) return errc::peer_gone;
  iovec iov{const_cast<std::uint8_t*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * 4)> control{};
  if (!fds.empty()) {
    if (fds.size() > 4) return errc::invalid_argument;
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    const ssize_t n = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return errc::ok;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return errc::full;
    if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN || errno == EBADF || errno == ENOTSOCK) {
      return errc::peer_gone;
    }
    return errc::system_error;
  }
}

errc host_link::receive(link_packet& out) const {
  out.fds.clear();
  if (fd_.get() < 0) return errc::peer_gone;
  // The packet's size first (MSG_TRUNC reports it whole), then the packet.
  char probe = 0;
  ssize_t size = -1;
  for (;;) {
    size = ::recv(fd_.get(), &probe, 1, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    if (size >= 0 || errno != EINTR) break;
  }
  if (size < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return errc::empty;
    if (errno == ECONNRESET) return errc::peer_gone;
    return errc::system_error;
  }
  const bool too_large = static_cast<std::size_t>(size) > k_host_link_max_packet;
  out.bytes.resize(too_large || size == 0 ? 1 : static_cast<std::size_t>(size));
  iovec iov{out.bytes.data(), out.bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * 8)> control{};
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n = -1;
  for (;;) {
    n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n >= 0 || errno != EINTR) break;
  }
  if (n < 0) return errno == EAGAIN ? errc::empty : errc::system_error;
  // Every descriptor that came is owned at once, so none leaks whatever follows.
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0)) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      out.fds.emplace_back(fd);
    }
  }
  if (n == 0 && size == 0) return errc::peer_gone;  // SEQPACKET: end of stream
  if (too_large || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    out.fds.clear();
    return errc::protocol_error;
  }
  out.bytes.resize(static_cast<std::size_t>(n));
  flatbuffers::Verifier verifier(out.bytes.data(), out.bytes.size());
  if (!host::VerifyFrameBuffer(verifier)) {
    out.fds.clear();
    return errc::protocol_error;
  }
  return errc::ok;
}

errc make_link_pair(int (&fds)[2]) noexcept {
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) return errc::system_error;
  return errc::ok;
}

flatbuffers::Offset<host::Start> encode_start(flatbuffers::FlatBufferBuilder& b, const host_start& s) {
  const auto& r = s.req;
  const auto path = b.CreateString(s.plugin_path);
  const auto type = b.CreateString(r.kernel_type);
  const auto id = b.CreateString(r.kernel_id);
  const auto config = b.CreateString(r.config);
  const auto rendezvous = b.CreateString(s.rendezvous);
  const auto access = b.CreateVectorOfStrings(r.access);
  const auto user = b.CreateString(r.confinement.user);
  return host::CreateStart(b, k_host_link_version, path, type, id, static_cast<std::uint8_t>(r.tier), r.capacity,
                           static_cast<std::uint8_t>(r.policy), r.max_message_bytes, r.block_timeout_ms, config,
                           r.workers, r.cpu, r.idle_spin_us, r.latency_metrics, r.owner_uid, s.stats_interval_ms,
                           rendezvous, access, s.orphan_timeout_ms, user, r.confinement.max_address_space_mb,
                           r.confinement.max_cpu_seconds, r.confinement.max_open_files, r.confinement.seccomp);
}

result<host_start> decode_start(const host::Start& s) {
  if (s.link_version() != k_host_link_version) {
    return make_error(errc::version_mismatch, "host link " + std::to_string(s.link_version()) + ", this build speaks " +
                                                  std::to_string(k_host_link_version) +
                                                  " (install pdcd and pdc-kernel-host from one build)");
  }
  host_start out;
  auto& r = out.req;
  auto tier = tier_from_value(s.tier());
  if (!tier) return make_error(errc::protocol_error, tier.err().what());
  auto policy = backpressure_from_value(s.backpressure());
  if (!policy) return make_error(errc::protocol_error, policy.err().what());
  r.kernel_type = s.kernel_type() != nullptr ? s.kernel_type()->str() : "";
  r.kernel_id = s.kernel_id() != nullptr ? s.kernel_id()->str() : "";
  r.tier = *tier;
  r.policy = *policy;
  r.capacity = std::max<std::uint32_t>(s.capacity(), 1);
  r.max_message_bytes = s.max_message_bytes();
  r.block_timeout_ms = s.block_timeout_ms();
  r.config = s.config() != nullptr ? s.config()->str() : "";
  r.workers = s.workers();
  r.cpu = s.cpu();
  r.idle_spin_us = s.idle_spin_us();
  r.latency_metrics = s.latency_metrics();
  r.owner_uid = s.owner_uid();
  r.isolation = kernel_isolation::process;
  out.plugin_path = s.plugin_path() != nullptr ? s.plugin_path()->str() : "";
  out.stats_interval_ms = std::max<std::uint32_t>(s.stats_interval_ms(), 1);
  out.rendezvous = s.rendezvous() != nullptr ? s.rendezvous()->str() : "";
  out.orphan_timeout_ms = s.orphan_timeout_ms();
  r.confinement.user = s.host_user() != nullptr ? s.host_user()->str() : "";
  r.confinement.max_address_space_mb = s.max_address_space_mb();
  r.confinement.max_cpu_seconds = s.max_cpu_seconds();
  r.confinement.max_open_files = s.max_open_files();
  r.confinement.seccomp = s.seccomp();
  if (s.access() != nullptr) {
    for (const auto* e : *s.access()) r.access.push_back(e->str());
  }
  return out;
}

}  // namespace pdc::daemon
