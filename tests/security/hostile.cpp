// pdc-hostile: a local client that attacks pdcd the way docs/security.md
// says any client may, one attack per run. It speaks the control protocol
// itself (raw frames) and writes its attachment's segment directly, as a
// hostile program would. tests/security/hostile_test.cpp runs each attack
// against a real pdcd and checks that the daemon and its honest clients
// are unharmed.
//
//   pdc-hostile SOCKET ATTACK [KERNEL] [--as UID] [--seconds N]
//
// Once the attack is in place it prints "ready" (and what it saw) on
// stdout; ongoing attacks then go on for --seconds (default 2), holding
// ones keep their connection until killed. Exit 0: the attack ran (the
// lines printed say what pdcd answered); 2: bad usage; 3: the attack could
// not be set up (no connection, an unexpected refusal).
#include <fcntl.h>
#include <flatbuffers/flatbuffers.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "pdc/core/attachment.hpp"
#include "pdc/core/clock.hpp"
#include "pdc/core/errc.hpp"
#include "pdc/proto/control.hpp"
#include "pdc/proto/envelope.hpp"

namespace {

using namespace pdc;

struct options {
  std::string socket;
  std::string attack;
  std::string kernel = "victim";
  int as_uid = -1;
  double seconds = 2;
};

[[noreturn]] void fail(const std::string& why) {
  std::printf("setup failed: %s\n", why.c_str());
  std::fflush(stdout);
  std::_Exit(3);
}

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

// ---- the control protocol, by hand ---------------------------------------------------------

class connection {
 public:
  explicit connection(const std::string& path, bool must = true) {
    fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (must) fail("connect " + path + ": " + std::strerror(errno));
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  [[nodiscard]] bool ok() const { return fd_ >= 0; }
  [[nodiscard]] int fd() const { return fd_; }

  // Sends a request built by `body`; returns its id.
  template <typename F>
  std::uint64_t request(wire::RequestBody type, F&& body, const std::vector<int>& fds = {}, int flags = 0) {
    flatbuffers::FlatBufferBuilder b;
    const auto id = ++next_id_;
    const auto off = body(b);
    b.Finish(wire::CreateRequest(b, id, type, off.Union()));
    send_bytes(b.GetBufferPointer(), b.GetSize(), fds, flags);
    return id;
  }
  // Returns false when the socket would block (MSG_DONTWAIT in flags).
  bool send_bytes(const void* data, std::size_t n, const std::vector<int>& fds = {}, int flags = 0) {
    iovec iov{const_cast<void*>(data), n};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    std::vector<char> control;
    if (!fds.empty()) {
      control.resize(CMSG_SPACE(sizeof(int) * fds.size()));
      msg.msg_control = control.data();
      msg.msg_controllen = control.size();
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    const ssize_t sent = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | flags);
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    if (sent != static_cast<ssize_t>(n)) fail(std::string("send: ") + std::strerror(errno));
    return true;
  }

  struct response {
    std::uint64_t id = 0;
    errc code = errc::internal;
    std::string message;
    std::vector<std::uint8_t> frame;
    std::vector<int> fds;
  };
  // The next Response (deliveries skipped), or nothing within `timeout_ms`.
  std::optional<response> next(int timeout_ms = 20000) {
    std::vector<std::uint8_t> buf(1 << 21);
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) != 1) return std::nullopt;
      iovec iov{buf.data(), buf.size()};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      const ssize_t n = ::recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC);
      if (n <= 0) return std::nullopt;
      response r;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
          int fd = -1;
          std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
          r.fds.push_back(fd);
        }
      }
      flatbuffers::Verifier v(buf.data(), static_cast<std::size_t>(n));
      if (!v.VerifyBuffer<wire::ServerFrame>(nullptr)) fail("pdcd sent a frame that does not verify");
      const auto* frame = flatbuffers::GetRoot<wire::ServerFrame>(buf.data());
      if (frame->body_type() != wire::ServerBody::Response) continue;
      const auto* resp = frame->body_as_Response();
      r.id = resp->id();
      r.code = errc_from_int(resp->code());
      r.message = resp->message() != nullptr ? resp->message()->str() : "";
      r.frame.assign(buf.begin(), buf.begin() + n);
      return r;
    }
  }
  // Sends and waits for the answer to that request.
  template <typename F>
  response call(wire::RequestBody type, F&& body) {
    const auto id = request(type, std::forward<F>(body));
    for (;;) {
      auto r = next();
      if (!r) fail("no answer from pdcd");
      if (r->id == id || r->id == 0) return std::move(*r);
    }
  }

 private:
  int fd_ = -1;
  std::uint64_t next_id_ = 0;
};

std::string outcome(const connection::response& r) {
  return r.code == errc::ok ? std::string("ok") : std::string(name_of(r.code)) + ": " + r.message;
}

// An attachment, mapped as the client side maps it.
struct raw_attachment {
  std::uint64_t id = 0;
  int wake_fd = -1;
  int reply_wake_fd = -1;  // the reply ring's wake-up socket
  std::optional<attachment_client_view> view;
  ring_control* requests = nullptr;
  std::byte* request_data = nullptr;
  std::uint64_t request_capacity = 0;
  attachment_control* control = nullptr;
};

connection::response attach_raw(connection& c, const std::string& kernel) {
  return c.call(wire::RequestBody::Attach,
                [&](auto& b) { return wire::CreateAttach(b, b.CreateString(kernel), 64 * 1024, 64 * 1024); });
}

raw_attachment attach(connection& c, const std::string& kernel) {
  auto r = attach_raw(c, kernel);
  if (r.code != errc::ok) fail("attach " + kernel + ": " + outcome(r));
  if (r.fds.size() != 3) fail("attach reply carried " + std::to_string(r.fds.size()) + " descriptors");
  const auto* reply =
      flatbuffers::GetRoot<wire::ServerFrame>(r.frame.data())->body_as_Response()->body_as_AttachReply();
  raw_attachment a;
  a.id = reply->attachment_id();
  a.wake_fd = r.fds[1];
  a.reply_wake_fd = r.fds[2];
  auto v = attachment_client_view::open(r.fds[0]);
  if (!v) fail("map segment: " + v.err().what());
  a.view.emplace(std::move(v).value());
  const segment& seg = a.view->seg();
  a.requests = seg.control(k_attachment_request_ring);
  a.request_data = reinterpret_cast<std::byte*>(a.requests) + sizeof(ring_control);
  a.request_capacity = seg.ring(k_attachment_request_ring).capacity_bytes;
  a.control = reinterpret_cast<attachment_control*>(seg.aux().data());
  return a;
}

void ring_wake(const raw_attachment& a) {
  const std::uint64_t one = 1;
  (void)!::write(a.wake_fd, &one, sizeof one);
}

bool until(double seconds, std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds;
}

void hold() {
  for (;;) ::pause();
}

// ---- attacks -----------------------------------------------------------------------------

// A padding record, and a write index just behind the read index: a consumer
// that trusted them would skip padding for hours.
void padding_freeze(const options& o) {
  connection c(o.socket);
  auto a = attach(c, o.kernel);
  const std::uint64_t read = a.requests->read_pos.load(std::memory_order_acquire);
  record_header h{static_cast<std::uint32_t>(a.request_capacity - sizeof(record_header)), k_record_padding};
  std::memcpy(a.request_data + (read & (a.request_capacity - 1)), &h, sizeof h);
  a.requests->write_pos.store(read - 1, std::memory_order_release);
  ring_wake(a);
  say("ready: write index moved behind the read index");
  hold();
}

// The shed counter set, jumped, moved back, over and over.
void shed_storm(const options& o) {
  connection c(o.socket);
  auto a = attach(c, o.kernel);
  say("ready: flipping the shed counter");
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t flips = 0;
  const std::uint64_t values[] = {1, 0, UINT64_MAX, 5, UINT64_MAX - 3, 0, 1'000'000'000, 2};
  while (until(o.seconds, start)) {
    a.control->shed_requests.store(values[flips % std::size(values)], std::memory_order_release);
    if (flips % 64 == 0) ring_wake(a);
    ++flips;
  }
  a.control->shed_requests.store(1, std::memory_order_release);
  ring_wake(a);
  say("flips " + std::to_string(flips));
  hold();
}

// The attachment's wake-up descriptor made blocking, its counter filled, and read by a thread.
void doorbell(const options& o) {
  connection c(o.socket);
  auto a = attach(c, o.kernel);
  const int fd = a.wake_fd;
  if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) fail("fcntl");
  const std::uint64_t almost_full = 0xfffffffffffffffeULL;
  (void)!::write(fd, &almost_full, sizeof almost_full);
  std::thread([fd] {
    for (;;) {
      std::uint64_t v = 0;
      (void)!::read(fd, &v, sizeof v);  // blocks until someone writes: steals every wake-up it can
    }
  }).detach();
  // And the same again on a second attachment, so the next attach is "the next one".
  auto b = attach(c, o.kernel);
  (void)!::write(b.wake_fd, &almost_full, sizeof almost_full);
  say("ready: wake-up descriptors blocking, full, and read");
  hold();
}

// The reply ring's wake-up socket, abused: made blocking on our side, written
// to (pdcd shut its end for reading), never read, and the reply ring marked
// "waiting on the socket" before every request, so that each reply has pdcd
// send a byte into a socket nobody drains, until its buffer is full.
void wake_socket(const options& o) {
  connection c(o.socket);
  auto a = attach(c, o.kernel);
  const int ws = a.reply_wake_fd;
  if (::fcntl(ws, F_SETFL, ::fcntl(ws, F_GETFL) & ~O_NONBLOCK) != 0) fail("fcntl");
  const std::vector<char> junk(4096, 'x');
  const ssize_t wrote = ::send(ws, junk.data(), junk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  say(std::string("write ") + (wrote < 0 && errno == EPIPE ? "refused" : "accepted"));
  ring_producer& ring = a.view->requests();
  ring_consumer& replies = a.view->replies();
  ring_control* reply_ctl = a.view->seg().control(k_attachment_reply_ring);
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t sent = 0;
  std::uint64_t replied = 0;
  constexpr std::uint64_t k_requests = 5000;  // far more than the socket's buffer holds bytes for
  while (replied < k_requests && until(o.seconds, start)) {
    reply_ctl->consumer_parked.store(k_parked_socket, std::memory_order_seq_cst);
    const auto slot = sent < k_requests ? ring.try_reserve(sizeof(envelope) + 8) : write_slot{};
    if (slot) {
      const envelope env = make_envelope(++sent, 8, now_ns(), 0, a.id, 0, 0);
      std::memcpy(slot.bytes.data(), &env, sizeof env);
      std::memset(slot.bytes.data() + sizeof env, 0x5a, 8);
      ring.commit();
      ring_wake(a);
    }
    while (replies.try_peek()) {
      replies.release();
      ++replied;
    }
    replies.flush_release();
  }
  say("ready: sent " + std::to_string(sent) + " replied " + std::to_string(replied));
  hold();
}

// Plugin loads from outside the plugin folders, and another user's kernels.
void take_over(const options& o) {
  connection c(o.socket);
  const auto load = c.call(wire::RequestBody::PluginLoad,
                           [&](auto& b) { return wire::CreatePluginLoad(b, b.CreateString(o.kernel)); });
  say("load " + outcome(load));
  const auto bare = c.call(wire::RequestBody::PluginLoad,
                           [&](auto& b) { return wire::CreatePluginLoad(b, b.CreateString("libc.so.6")); });
  say("load-bare " + outcome(bare));
  const auto term = c.call(wire::RequestBody::Terminate,
                           [&](auto& b) { return wire::CreateTerminate(b, b.CreateString("honest"), true, 1); });
  say("terminate " + outcome(term));
  say("attach " + outcome(attach_raw(c, "honest")));
  const auto sub =
      c.call(wire::RequestBody::Subscribe, [&](auto& b) { return wire::CreateSubscribe(b, b.CreateString("honest")); });
  say("subscribe " + outcome(sub));
  const auto conn = c.call(wire::RequestBody::Connect, [&](auto& b) {
    return wire::CreateConnect(b, b.CreateString("honest"), b.CreateString("honest"));
  });
  say("connect " + outcome(conn));
  say("ready");
}

// vector_add requests whose vector lengths are flipped while the kernel handles them.
void payload_flip(const options& o) {
  connection c(o.socket);
  auto a = attach(c, o.kernel);
  constexpr std::uint32_t k_len = 1000;
  flatbuffers::FlatBufferBuilder b;
  std::vector<float> xs(k_len, 1.0F);
  // VectorAddRequest { a: [float] (field 0), b: [float] (field 1) }, built by hand.
  const auto va = b.CreateVector(xs);
  const auto vb = b.CreateVector(xs);
  const auto start_table = b.StartTable();
  b.AddOffset(4, va);
  b.AddOffset(6, vb);
  b.Finish(flatbuffers::Offset<void>(b.EndTable(start_table)));
  std::vector<std::byte> request(b.GetSize());
  std::memcpy(request.data(), b.GetBufferPointer(), b.GetSize());
  // Where the two length words sit: a vector's length precedes its first element.
  std::vector<std::size_t> length_at;
  for (std::size_t i = 0; i + 4 <= request.size(); ++i) {
    std::uint32_t v = 0;
    std::memcpy(&v, request.data() + i, 4);
    if (v == k_len) length_at.push_back(i);
  }
  say("ready: flipping lengths at " + std::to_string(length_at.size()) + " places");
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t sent = 0;
  std::uint64_t foreign = 0;
  std::uint64_t errors = 0;
  std::uint64_t sums = 0;
  ring_producer& ring = a.view->requests();
  ring_consumer& replies = a.view->replies();
  std::mt19937 rng(7);
  while (until(o.seconds, start)) {
    const auto slot = ring.try_reserve(sizeof(envelope) + request.size());
    if (slot) {
      const envelope env = make_envelope(++sent, static_cast<std::uint32_t>(request.size()), now_ns(), 0, a.id, 0, 0);
      std::memcpy(slot.bytes.data(), &env, sizeof env);
      std::byte* payload = slot.bytes.data() + sizeof env;
      std::memcpy(payload, request.data(), request.size());
      ring.commit();
      // Race the handler: lengths go huge and back, many times.
      for (int k = 0; k < 200; ++k) {
        const std::uint32_t v = (k % 2 == 0) ? 0x3fffffffU + static_cast<std::uint32_t>(rng() % 1000) : k_len;
        for (const std::size_t at : length_at) std::memcpy(payload + at, &v, 4);
      }
    }
    while (auto r = replies.try_peek()) {
      envelope env;
      if (read_envelope(r.bytes, env)) {
        const auto p = payload_of(r.bytes);
        if ((env.flags() & k_envelope_flag_error) != 0) {
          ++errors;
        } else if (p.size() > 4 * k_len + 64) {
          ++foreign;  // more bytes than a 1000-float sum: someone else's memory
        } else {
          ++sums;
        }
      }
      replies.release();
      replies.flush_release();
    }
  }
  say("sent " + std::to_string(sent) + " sums " + std::to_string(sums) + " errors " + std::to_string(errors) +
      " foreign " + std::to_string(foreign));
  hold();
}

// 60 KB echo requests over the socket, answers never read.
void never_read(const options& o) {
  connection c(o.socket);
  const std::vector<std::byte> payload(60 * 1024, std::byte{0x5a});
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t sent = 0;
  std::uint64_t would_block = 0;
  while (until(o.seconds, start)) {
    flatbuffers::FlatBufferBuilder b(payload.size() + 512);
    std::vector<std::byte> message(sizeof(envelope) + payload.size());
    const envelope env = make_envelope(sent + 1, static_cast<std::uint32_t>(payload.size()), now_ns(), 0, 0, 0, 0);
    std::memcpy(message.data(), &env, sizeof env);
    std::memcpy(message.data() + sizeof env, payload.data(), payload.size());
    const auto bytes = b.CreateVector(reinterpret_cast<const std::uint8_t*>(message.data()), message.size());
    const auto send = wire::CreateSend(b, b.CreateString(o.kernel), bytes, true);
    b.Finish(wire::CreateRequest(b, sent + 1, wire::RequestBody::Send, send.Union()));
    if (c.send_bytes(b.GetBufferPointer(), b.GetSize(), {}, MSG_DONTWAIT)) {
      ++sent;
    } else {
      ++would_block;  // pdcd stopped reading us: the pressure reached us
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  say("ready: sent " + std::to_string(sent) + " blocked " + std::to_string(would_block));
  hold();
}

// Launches an administrator may try that ask for too much.
void huge_launches(const options& o) {
  connection c(o.socket);
  auto launch = [&](const std::string& id, wire::Tier tier, std::uint32_t capacity, std::uint32_t workers) {
    return c.call(wire::RequestBody::Launch, [&](auto& b) {
      const auto type = b.CreateString("echo");
      const auto kid = b.CreateString(id);
      wire::LaunchBuilder l(b);
      l.add_kernel_type(type);
      l.add_kernel_id(kid);
      l.add_tier(tier);
      l.add_capacity(capacity);
      l.add_workers(workers);
      return l.Finish();
    });
  };
  say("capacity " + outcome(launch("huge", wire::Tier::Async, 4294967295U, 0)));
  int pools = 0;
  for (; pools < 64; ++pools) {
    const auto r = launch("pool" + std::to_string(pools), wire::Tier::Pool, 0, 64);
    if (r.code != errc::ok) {
      say("pool " + std::to_string(pools) + " " + outcome(r));
      break;
    }
  }
  int kernels = 0;
  for (; kernels < 100000; ++kernels) {
    const auto r = launch("k" + std::to_string(kernels), wire::Tier::Async, 0, 0);
    if (r.code != errc::ok) {
      say("kernel " + std::to_string(kernels) + " " + outcome(r));
      break;
    }
  }
  say("ready");
}

// A busy kernel terminated with the largest timeout there is.
void terminate_forever(const options& o) {
  connection c(o.socket);
  const auto send = [&](const std::string& text) {
    flatbuffers::FlatBufferBuilder b;
    std::vector<std::byte> message(sizeof(envelope) + text.size());
    const envelope env = make_envelope(1, static_cast<std::uint32_t>(text.size()), now_ns(), 0, 0, 0, 0);
    std::memcpy(message.data(), &env, sizeof env);
    std::memcpy(message.data() + sizeof env, text.data(), text.size());
    return c.call(wire::RequestBody::Send, [&](auto& fb) {
      return wire::CreateSend(fb, fb.CreateString(o.kernel),
                              fb.CreateVector(reinterpret_cast<const std::uint8_t*>(message.data()), message.size()),
                              true);
    });
  };
  say("send " + outcome(send("sleep:600000")));
  c.request(wire::RequestBody::Terminate,
            [&](auto& b) { return wire::CreateTerminate(b, b.CreateString(o.kernel), false, 4294967295U); });
  say("ready: terminate asked");
  hold();
}

// Frames that carry descriptors.
void send_fds(const options& o) {
  connection c(o.socket);
  std::vector<int> fds;
  for (int i = 0; i < 200; ++i) fds.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int refused = 0;
  for (int i = 0; i < 50; ++i) {
    c.request(
        wire::RequestBody::List, [](auto& b) { return wire::CreateList(b); }, fds);
    auto r = c.next();
    if (!r) fail("no answer to a frame with descriptors");
    if (r->code == errc::protocol_error) ++refused;
    if (i == 0) say("first " + outcome(*r));
    for (int fd : r->fds) ::close(fd);
  }
  say("refused " + std::to_string(refused));
  say("ready");
  hold();
}

// Connections until pdcd refuses, all held.
void connect_flood(const options& o) {
  std::vector<std::unique_ptr<connection>> held;
  for (int i = 0; i < 4096; ++i) {
    auto c = std::make_unique<connection>(o.socket, false);
    if (!c->ok()) {
      say("connect " + std::to_string(i) + " failed: " + std::strerror(errno));
      break;
    }
    // A refused connection is answered at once, then closed.
    pollfd p{c->fd(), POLLIN, 0};
    if (::poll(&p, 1, 200) == 1) {
      auto r = c->next(1000);
      say("connection " + std::to_string(i) + " " + (r ? outcome(*r) : std::string("closed")));
      break;
    }
    held.push_back(std::move(c));
  }
  say("ready: holding " + std::to_string(held.size()));
  hold();
}

// Attachments until pdcd refuses, on one connection and then on more.
void attach_flood(const options& o) {
  std::vector<std::unique_ptr<connection>> conns;
  std::vector<std::vector<int>> fds;
  int total = 0;
  for (int k = 0; k < 64; ++k) {
    conns.push_back(std::make_unique<connection>(o.socket));
    for (;;) {
      auto r = attach_raw(*conns.back(), o.kernel);
      if (r.code != errc::ok) {
        say("attach " + std::to_string(total) + " " + outcome(r));
        break;
      }
      fds.push_back(r.fds);
      ++total;
    }
    if (total == 0 || conns.size() > 1) break;  // the total limit was reached, or this connection's
  }
  say("ready: holding " + std::to_string(total));
  hold();
}

// Random and truncated frames.
void garbage(const options& o) {
  connection c(o.socket);
  std::mt19937 rng(12345);
  int answered = 0;
  for (int i = 0; i < 2000; ++i) {
    std::vector<std::uint8_t> bytes(rng() % 2048 + (i % 100 == 0 ? 70000 : 0));
    for (auto& x : bytes) x = static_cast<std::uint8_t>(rng());
    if (i % 3 == 0) {  // a valid request, cut short
      flatbuffers::FlatBufferBuilder b;
      b.Finish(wire::CreateRequest(b, 9, wire::RequestBody::Status,
                                   wire::CreateStatus(b, b.CreateString(o.kernel)).Union()));
      bytes.assign(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize() * (rng() % 100) / 100);
    }
    if (bytes.empty()) bytes.push_back(0);
    c.send_bytes(bytes.data(), bytes.size());
    if (c.next()) ++answered;
  }
  say("answered " + std::to_string(answered));
  say("ready");
}

void drop_privileges(int uid) {
  const auto id = static_cast<uid_t>(uid);
  if (::setgroups(0, nullptr) != 0 || ::setgid(id) != 0 || ::setuid(id) != 0)
    fail("cannot become uid " + std::to_string(uid));
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--as" && i + 1 < argc) {
      o.as_uid = std::stoi(argv[++i]);
    } else if (a == "--seconds" && i + 1 < argc) {
      o.seconds = std::stod(argv[++i]);
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() < 2) {
    std::fprintf(stderr, "usage: pdc-hostile SOCKET ATTACK [KERNEL] [--as UID] [--seconds N]\n");
    return 2;
  }
  o.socket = positional[0];
  o.attack = positional[1];
  if (positional.size() > 2) o.kernel = positional[2];
  if (o.as_uid >= 0) drop_privileges(o.as_uid);
  using attack_fn = void (*)(const options&);
  const std::pair<const char*, attack_fn> attacks[] = {
      {"padding-freeze", padding_freeze},
      {"shed-storm", shed_storm},
      {"doorbell", doorbell},
      {"wake-socket", wake_socket},
      {"take-over", take_over},
      {"payload-flip", payload_flip},
      {"never-read", never_read},
      {"huge-launches", huge_launches},
      {"terminate-forever", terminate_forever},
      {"send-fds", send_fds},
      {"connect-flood", connect_flood},
      {"attach-flood", attach_flood},
      {"garbage", garbage},
  };
  for (const auto& [name, fn] : attacks) {
    if (o.attack == name) {
      fn(o);
      return 0;
    }
  }
  std::fprintf(stderr, "pdc-hostile: unknown attack '%s'\n", o.attack.c_str());
  return 2;
}
