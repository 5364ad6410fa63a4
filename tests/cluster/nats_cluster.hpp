// A NATS cluster on loopback for the tests of several hosts (docs/cluster.md):
// `n` nats-server processes routed to each other, each with JetStream in its
// own store folder, started and stopped by pid. Ports are picked free at
// start; every wait is bounded.
#pragma once

#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace pdc::test {

// True once `done()` holds, polled every 10 ms for at most `timeout`.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(20'000)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// A loopback TCP port that was free a moment ago, below the kernel's
// ephemeral range (ip_local_port_range): an outgoing connection (a route
// dialled by a server that started first, a client) never takes it as its
// local port before the server that is to listen on it binds it.
inline int free_loopback_port() {
  int low = 32768;
  if (std::FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    if (std::fscanf(f, "%d", &low) != 1) low = 32768;
    std::fclose(f);
  }
  const int first = 10'000;
  const int span = low - first;
  if (span < 1000) throw std::runtime_error("the ephemeral port range leaves no room for test ports");
  static unsigned next = static_cast<unsigned>(::getpid()) * 7919U;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    next = next * 1103515245U + 12345U;
    const int port = first + static_cast<int>((next >> 8) % static_cast<unsigned>(span));
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) break;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (free) return port;
  }
  throw std::runtime_error("no free loopback port");
}

class nats_cluster {
 public:
  /// `config`: a nats-server configuration every server reads (-c), e.g. an
  /// authorization block; the command line adds ports, routes and JetStream.
  explicit nats_cluster(int n, const std::string& config = {}, std::string binary = "nats-server")
      : binary_(std::move(binary)) {
    char tmpl[] = "/tmp/pdc-nats-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    if (!config.empty()) {
      config_ = dir_ + "/server.conf";
      std::FILE* f = std::fopen(config_.c_str(), "w");
      if (f == nullptr) throw std::runtime_error("cannot write " + config_);
      std::fputs(config.c_str(), f);
      std::fclose(f);
    }
    for (int i = 0; i < n; ++i) servers_.push_back({free_loopback_port(), free_loopback_port(), -1});
    for (int i = 0; i < n; ++i) start(i);
  }
  nats_cluster(const nats_cluster&) = delete;
  nats_cluster& operator=(const nats_cluster&) = delete;
  ~nats_cluster() {
    for (std::size_t i = 0; i < servers_.size(); ++i) kill(static_cast<int>(i), SIGTERM);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  [[nodiscard]] int size() const { return static_cast<int>(servers_.size()); }
  [[nodiscard]] std::string url(int i) const {
    return "nats://127.0.0.1:" + std::to_string(servers_[static_cast<std::size_t>(i)].client_port);
  }
  // Every server's URL (what a client that should fail over is given).
  [[nodiscard]] std::vector<std::string> urls() const {
    std::vector<std::string> out;
    for (int i = 0; i < size(); ++i) out.push_back(url(i));
    return out;
  }
  [[nodiscard]] pid_t pid(int i) const { return servers_[static_cast<std::size_t>(i)].pid; }
  [[nodiscard]] std::string log(int i) const { return dir_ + "/n" + std::to_string(i) + ".log"; }
  // What every server wrote last (its log's last 3000 bytes) and whether it
  // still runs: for a failed test's message (the folder goes with the cluster).
  [[nodiscard]] std::string logs() const {
    std::string out;
    for (int i = 0; i < size(); ++i) {
      const pid_t p = pid(i);
      siginfo_t info{};
      // WNOWAIT: looked at, not reaped (kill() reaps it later).
      const bool exited =
          p > 0 && ::waitid(P_PID, static_cast<id_t>(p), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == p;
      out += "--- nats-server n" + std::to_string(i) +
             (p <= 0   ? " (stopped)"
              : exited ? " (EXITED)"
                       : " (running)") +
             ", " + log(i) + ":\n";
      std::string text;
      if (std::FILE* f = std::fopen(log(i).c_str(), "r")) {
        char buf[4096];
        for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
        std::fclose(f);
      }
      out += text.size() > 3000 ? text.substr(text.size() - 3000) : text;
    }
    return out;
  }

  // Signals server i and reaps it (SIGKILL: the process dies without a word).
  void kill(int i, int sig = SIGKILL) {
    auto& s = servers_[static_cast<std::size_t>(i)];
    if (s.pid <= 0) return;
    ::kill(s.pid, sig);
    ::waitpid(s.pid, nullptr, 0);
    s.pid = -1;
  }

  // Starts server i (again, after kill: same ports, same store).
  void start(int i) {
    auto& s = servers_[static_cast<std::size_t>(i)];
    const std::string name = "n" + std::to_string(i);
    std::vector<std::string> args{binary_};
    if (!config_.empty()) {
      args.emplace_back("-c");
      args.push_back(config_);
    }
    args.insert(args.end(), {"-a", "127.0.0.1", "-p", std::to_string(s.client_port), "-n", name, "-js", "-sd",
                             dir_ + "/" + name, "-l", log(i), "--cluster_name", "pdc-test", "-cluster",
                             "nats://127.0.0.1:" + std::to_string(s.route_port)});
    std::string routes;
    for (std::size_t j = 0; j < servers_.size(); ++j) {
      if (j == static_cast<std::size_t>(i)) continue;
      routes += (routes.empty() ? "" : ",") + std::string("nats://127.0.0.1:") + std::to_string(servers_[j].route_port);
    }
    if (!routes.empty()) {
      args.emplace_back("-routes");
      args.push_back(routes);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    s.pid = ::fork();
    if (s.pid == 0) {
      ::execvp(argv[0], argv.data());
      std::_Exit(127);
    }
    if (s.pid < 0) throw std::runtime_error("fork failed");
  }

  // Waits until server i accepts clients (bounded); false if it exited or
  // never did. With an authorization config, give a user that may connect.
  [[nodiscard]] bool ready(int i, const std::string& user = {}, const std::string& password = {}) const {
    return eventually([&] {
      natsOptions* o = nullptr;
      if (natsOptions_Create(&o) != NATS_OK) return false;
      natsConnection* nc = nullptr;
      const std::string u = url(i);
      bool up = natsOptions_SetURL(o, u.c_str()) == NATS_OK &&
                (user.empty() || natsOptions_SetUserInfo(o, user.c_str(), password.c_str()) == NATS_OK) &&
                natsConnection_Connect(&nc, o) == NATS_OK;
      natsConnection_Destroy(nc);
      natsOptions_Destroy(o);
      return up;
    });
  }

 private:
  struct server {
    int client_port;
    int route_port;
    pid_t pid;
  };
  std::string binary_;
  std::string dir_;
  std::string config_;
  std::vector<server> servers_;
};

}  // namespace pdc::test
