// A scripted stand-in for pdcd in libpdc/pdcctl tests: it plays the daemon's
// side of the control protocol on one SOCK_SEQPACKET connection (a socketpair
// end, or a connection accepted on a real socket path), one packet at a time,
// so tests decide exactly what arrives and in which order.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "pdc/core/errc.hpp"
#include "pdc/proto/control.hpp"
#include "pdc/proto/envelope.hpp"

namespace pdc::test {

using namespace std::chrono_literals;

/// The daemon's end of one connection. Used by one thread (the script).
class fake_daemon {
 public:
  /// A connected socketpair: take client_fd with release_client_fd().
  fake_daemon() {
    int fds[2] = {-1, -1};
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) ADD_FAILURE() << "socketpair failed";
    fd_ = fds[0];
    client_fd_ = fds[1];
  }
  /// Wraps an accepted connection.
  explicit fake_daemon(int fd) : fd_(fd) {}
  ~fake_daemon() {
    close();
    if (client_fd_ >= 0) ::close(client_fd_);
  }
  fake_daemon(const fake_daemon&) = delete;
  fake_daemon& operator=(const fake_daemon&) = delete;

  /// The client's end, for client::adopt (which takes ownership).
  int release_client_fd() { return std::exchange(client_fd_, -1); }

  /// The next Request from the client, verified; nullptr (and a test failure) on timeout or bad input.
  /// Valid until the next call.
  const wire::Request* next_request(std::chrono::milliseconds timeout = 5s) {
    if (!wait_readable(timeout)) {
      ADD_FAILURE() << "fake pdcd: no request within " << timeout.count() << " ms";
      return nullptr;
    }
    rx_.resize(1 << 20);
    const ssize_t n = ::recv(fd_, rx_.data(), rx_.size(), 0);
    if (n <= 0) {
      ADD_FAILURE() << "fake pdcd: client closed the connection";
      return nullptr;
    }
    rx_.resize(static_cast<std::size_t>(n));
    flatbuffers::Verifier verifier(rx_.data(), rx_.size());
    if (!verifier.VerifyBuffer<wire::Request>(nullptr)) {
      ADD_FAILURE() << "fake pdcd: malformed request";
      return nullptr;
    }
    return flatbuffers::GetRoot<wire::Request>(rx_.data());
  }

  /// Reads the Hello and answers it; returns false if no Hello came.
  bool answer_hello(std::uint32_t max_message_bytes = k_default_max_message_bytes,
                    std::uint32_t protocol_version = k_protocol_version, std::uint64_t session_id = 7) {
    const auto* request = next_request();
    if (request == nullptr || request->body_as_Hello() == nullptr) {
      ADD_FAILURE() << "fake pdcd: expected Hello";
      return false;
    }
    flatbuffers::FlatBufferBuilder fbb;
    const auto body =
        wire::CreateHelloReply(fbb, protocol_version, fbb.CreateString("fake-pdcd 0.0"), session_id, max_message_bytes);
    respond(request->id(), fbb, wire::ResponseBody::HelloReply, body.Union());
    return true;
  }

  /// A Response without a body.
  void respond(std::uint64_t id, errc code = errc::ok, std::string_view message = {}) {
    flatbuffers::FlatBufferBuilder fbb;
    respond(id, fbb, wire::ResponseBody::NONE, 0, code, message);
  }

  /// A Response whose body was built in `fbb` beforehand, with `fds` passed alongside (SCM_RIGHTS).
  void respond(std::uint64_t id, flatbuffers::FlatBufferBuilder& fbb, wire::ResponseBody type,
               flatbuffers::Offset<void> body, errc code = errc::ok, std::string_view message = {},
               std::span<const int> fds = {}) {
    const auto msg =
        message.empty() ? flatbuffers::Offset<flatbuffers::String>() : fbb.CreateString(message.data(), message.size());
    const auto response = wire::CreateResponse(fbb, id, static_cast<std::int32_t>(code), msg, type, body);
    fbb.Finish(wire::CreateServerFrame(fbb, wire::ServerBody::Response, response.Union()));
    send_raw(std::span(fbb.GetBufferPointer(), fbb.GetSize()), fds);
  }

  /// A Delivery of `payload` from `kernel_id` with envelope `env` (its payload_length is fixed up).
  void deliver(std::string_view kernel_id, envelope env, std::span<const std::byte> payload) {
    env.mutate_payload_length(static_cast<std::uint32_t>(payload.size()));
    std::vector<std::uint8_t> message(sizeof env + payload.size());
    std::memcpy(message.data(), &env, sizeof env);
    if (!payload.empty()) std::memcpy(message.data() + sizeof env, payload.data(), payload.size());
    flatbuffers::FlatBufferBuilder fbb;
    const auto delivery =
        wire::CreateDelivery(fbb, fbb.CreateString(kernel_id.data(), kernel_id.size()), fbb.CreateVector(message));
    fbb.Finish(wire::CreateServerFrame(fbb, wire::ServerBody::Delivery, delivery.Union()));
    send_raw(std::span(fbb.GetBufferPointer(), fbb.GetSize()));
  }

  /// A reply to message `message_id` (flags: reply, plus error when `is_error`).
  void reply(std::string_view kernel_id, std::uint64_t message_id, std::span<const std::byte> payload,
             bool is_error = false) {
    const auto flags = static_cast<std::uint16_t>(k_envelope_flag_reply | (is_error ? k_envelope_flag_error : 0U));
    deliver(kernel_id, make_envelope(900 + message_id, 0, 1, message_id, 7, 0, flags), payload);
  }

  /// An output that answers nobody (what a subscription delivers).
  void emit(std::string_view kernel_id, std::uint64_t message_id, std::span<const std::byte> payload) {
    deliver(kernel_id, make_envelope(message_id, 0, 1), payload);
  }

  /// Any bytes as one packet, with `fds` passed alongside (SCM_RIGHTS; the sender keeps its copies).
  void send_raw(std::span<const std::uint8_t> bytes, std::span<const int> fds = {}) {
    iovec iov{const_cast<std::uint8_t*>(bytes.data()), bytes.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
    if (!fds.empty()) {
      msg.msg_control = control.data();
      msg.msg_controllen = control.size();
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n != static_cast<ssize_t>(bytes.size())) ADD_FAILURE() << "fake pdcd: send failed";
  }

  /// True when the client has sent a packet not read yet.
  bool has_pending_packet() { return wait_readable(0ms); }

  /// Hangs up, as a dying daemon does.
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  bool wait_readable(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1 && (p.revents & POLLIN) != 0;
  }

  int fd_ = -1;
  int client_fd_ = -1;
  std::vector<std::uint8_t> rx_;
};

/// Runs a daemon script on its own thread; joins on destruction.
class script_thread {
 public:
  template <typename Script>
  explicit script_thread(Script&& script) : thread_(std::forward<Script>(script)) {}
  ~script_thread() { join(); }
  script_thread(const script_thread&) = delete;
  script_thread& operator=(const script_thread&) = delete;
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::thread thread_;
};

/// A listening SOCK_SEQPACKET socket at a fresh path in a temporary directory
/// (for tests that connect by path, like pdcctl's).
class fake_listener {
 public:
  fake_listener() {
    dir_ = std::filesystem::temp_directory_path() /
           ("pdc-client-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "pdcd.sock").string();
    fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 4) != 0) {
      ADD_FAILURE() << "cannot listen on " << path_;
    }
  }
  ~fake_listener() {
    if (fd_ >= 0) ::close(fd_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  fake_listener(const fake_listener&) = delete;
  fake_listener& operator=(const fake_listener&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }

  /// The next connection (fd), or -1 after `timeout`.
  int accept(std::chrono::milliseconds timeout = 5s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return -1;
    return ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::filesystem::path dir_;
  std::string path_;
  int fd_ = -1;
};

/// `text` as bytes.
inline std::span<const std::byte> as_payload(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

/// `bytes` as text.
inline std::string as_text(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

/// The envelope inside a Send request (a test failure and a default envelope if absent).
inline envelope envelope_of(const wire::Send& send) {
  envelope env;
  const auto* message = send.message();
  if (message == nullptr || !read_envelope(std::as_bytes(std::span(message->data(), message->size())), env)) {
    ADD_FAILURE() << "Send without a valid envelope";
  }
  return env;
}

}  // namespace pdc::test
