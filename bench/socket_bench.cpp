// pdc-bench socket: tier-1 round trip through pdcd's socket path (libpdc ->
// pdcd -> echo kernel -> libpdc) beside a bare Unix-socket ping-pong between
// two processes, measured in the same run.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "bench_daemon.hpp"
#include "benches.hpp"
#include "pdc/client.hpp"
#include "pdc/core/clock.hpp"

namespace pdc::bench {
namespace {

constexpr std::size_t k_msg = 64;

// A child process that echoes `count` 64-byte packets on a SEQPACKET pair;
// returns the parent's end and the child's pid.
std::pair<int, pid_t> start_socket_echo(std::uint64_t count) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) std::exit(1);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(sv[0]);
    std::array<char, k_msg> buf{};
    for (std::uint64_t i = 0; i < count; ++i) {
      if (::recv(sv[1], buf.data(), buf.size(), 0) <= 0) ::_exit(1);
      if (::send(sv[1], buf.data(), buf.size(), MSG_NOSIGNAL) <= 0) ::_exit(1);
    }
    ::_exit(0);
  }
  ::close(sv[1]);
  return {sv[0], pid};
}

double bare_socket_stream(std::uint64_t count, std::uint64_t window) {
  const auto [fd, pid] = start_socket_echo(count);
  std::array<char, k_msg> buf{};
  std::uint64_t sent = 0;
  std::uint64_t got = 0;
  const auto t0 = now_ns();
  while (got < count) {
    while (sent < count && sent - got < window) {
      if (::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL) <= 0) break;
      ++sent;
    }
    if (::recv(fd, buf.data(), buf.size(), 0) <= 0) break;
    ++got;
  }
  const auto t1 = now_ns();
  ::close(fd);
  ::waitpid(pid, nullptr, 0);
  return static_cast<double>(got) * 1e9 / static_cast<double>(t1 - t0);
}

}  // namespace

void run_socket(report& out, double scale, const std::string& kernels_dir) {
  const auto n = [&](double v) { return static_cast<std::uint64_t>(v * scale); };
  daemon::startup_kernel echo;
  echo.launch.kernel_type = "echo";
  echo.launch.kernel_id = "echo";
  bench_daemon pdcd(kernels_dir, {"pdc_echo.so"}, {echo});
  auto c = std::optional<client>(pdcd.connect());

  out.add(latency_row("socket ping-pong xproc 64B (bare)", bare_socket_ping_pong(n(100'000))));

  std::array<std::byte, k_msg> payload{};
  histogram h;
  const auto rounds = n(100'000);
  for (std::uint64_t i = 0; i < rounds; ++i) {
    const auto t0 = now_ns();
    auto reply = c->request("echo", payload, 10'000'000'000);
    if (!reply) {
      std::fprintf(stderr, "pdc-bench: request failed: %s\n", reply.err().what().c_str());
      break;
    }
    if (i >= rounds / 10) h.record(now_ns() - t0);
  }
  auto r = latency_row("tier1 round trip via socket 64B (pdc)", h);
  r.baseline = "socket ping-pong xproc 64B (bare)";
  out.add(r);

  constexpr std::uint64_t k_window = 128;
  out.add(throughput_row("socket stream xproc 64B window 128 (bare)", bare_socket_stream(n(300'000), k_window)));
  const auto count = n(300'000);
  std::uint64_t sent = 0;
  std::uint64_t got = 0;
  const auto t0 = now_ns();
  while (got < count) {
    while (sent < count && sent - got < k_window) {
      if (!c->send("echo", payload, {.type_id = 0, .priority = k_default_priority, .ack = false})) break;
      ++sent;
    }
    if (!c->receive(10'000'000'000)) break;
    ++got;
  }
  auto t = throughput_row("tier1 stream via socket 64B window 128 (pdc)",
                          static_cast<double>(got) * 1e9 / static_cast<double>(now_ns() - t0));
  t.baseline = "socket stream xproc 64B window 128 (bare)";
  out.add(t);
}

histogram bare_socket_ping_pong(std::uint64_t rounds) {
  const auto [fd, pid] = start_socket_echo(rounds);
  std::array<char, k_msg> buf{};
  histogram h;
  for (std::uint64_t i = 0; i < rounds; ++i) {
    const auto t0 = now_ns();
    if (::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL) <= 0) break;
    if (::recv(fd, buf.data(), buf.size(), 0) <= 0) break;
    if (i >= rounds / 10) h.record(now_ns() - t0);
  }
  ::close(fd);
  ::waitpid(pid, nullptr, 0);
  return h;
}

}  // namespace pdc::bench
