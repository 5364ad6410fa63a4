// Eclipse iceoryx (Debian's 2.0.3) measured beside pdc in the same run: the
// peer a user would pick instead. A 64-byte request/response round trip
// across two processes with its Client/Server API (busy-polling, and with a
// WaitSet), and a lossless one-way publish/subscribe stream. Needs the
// iox-roudi daemon, which this file starts and stops.
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <sstream>
#include <thread>

#include "iceoryx_bench.hpp"
#include "iceoryx_hoofs/log/logmanager.hpp"
#include "iceoryx_posh/popo/client.hpp"
#include "iceoryx_posh/popo/publisher.hpp"
#include "iceoryx_posh/popo/server.hpp"
#include "iceoryx_posh/popo/subscriber.hpp"
#include "iceoryx_posh/popo/wait_set.hpp"
#include "iceoryx_posh/runtime/posh_runtime.hpp"
#include "pdc/core/clock.hpp"
#include "pdc/core/wait.hpp"
#include "pinning.hpp"

namespace pdc::bench {
namespace {

constexpr const char* k_roudi = "/usr/bin/iox-roudi";

struct payload64 {
  std::array<std::byte, 64> bytes;
};

// A service of its own for every measurement: RouDi removes the ports of a
// participant that exited only after a while, and a client must not connect
// to the previous measurement's dead server.
iox::capro::ServiceDescription fresh_service(const char* event) {
  static int next = 0;
  const std::string instance = std::to_string(::getpid()) + "-" + std::to_string(++next);
  return {"pdc-bench", iox::capro::IdString_t(iox::cxx::TruncateToCapacity, instance.c_str()),
          iox::capro::IdString_t(iox::cxx::TruncateToCapacity, event)};
}

// iceoryx keeps one runtime per process, so every participant is a forked
// child that joins RouDi under a name of its own; the bench process never
// joins. `server` picks the CPU side when pinning.
template <typename Body>
pid_t spawn_participant(const std::string& role, bool server, Body&& body) {
  static int next = 0;
  const std::string name = "pdc-" + role + "-" + std::to_string(::getpid()) + "-" + std::to_string(++next);
  const pid_t pid = ::fork();
  if (pid == 0) {
    // iceoryx prints its log level and warnings: keep pdc-bench's output (and --json) clean.
    (void)!::freopen("/dev/null", "w", stdout);
    (void)!::freopen("/dev/null", "w", stderr);
    if (server) {
      pin_server_side();
    } else {
      pin_client_side();
    }
    iox::log::LogManager::GetLogManager().SetDefaultLogLevel(iox::log::LogLevel::kWarn);
    iox::runtime::PoshRuntime::initRuntime(iox::RuntimeName_t(iox::cxx::TruncateToCapacity, name.c_str()));
    body();
    ::_exit(0);
  }
  return pid;
}

// A T in memory shared with forked children.
template <typename T>
T* shared_object() {
  void* mem = ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return mem == MAP_FAILED ? nullptr : new (mem) T{};
}

template <typename T>
void release_shared(T* p) {
  p->~T();
  ::munmap(p, sizeof(T));
}

void echo_server(const iox::capro::ServiceDescription& service, std::uint64_t rounds, bool waitset) {
  iox::popo::Server<payload64, payload64> server(service);
  iox::popo::WaitSet<> ws;
  if (waitset) (void)ws.attachState(server, iox::popo::ServerState::HAS_REQUEST);
  for (std::uint64_t i = 0; i < rounds;) {
    if (waitset) (void)ws.wait();
    for (;;) {
      auto request = server.take();
      if (request.has_error()) break;
      auto response = server.loan(request.value());
      if (response.has_error()) continue;
      std::memcpy(response.value().get(), request.value().get(), sizeof(payload64));
      (void)response.value().send();
      ++i;
    }
    if (!waitset) cpu_relax();
  }
}

}  // namespace

roudi_process::roudi_process() {
  if (!std::filesystem::exists(k_roudi)) {
    why_not_ = std::string(k_roudi) + " is not installed (Debian: apt-get install iceoryx libiceoryx-posh-dev)";
    return;
  }
  const std::string out =
      (std::filesystem::temp_directory_path() / ("pdc-bench-roudi-" + std::to_string(::getpid()))).string();
  pid_ = ::fork();
  if (pid_ == 0) {
    (void)!::freopen(out.c_str(), "w", stdout);
    (void)!::freopen("/dev/null", "w", stderr);
    ::execl(k_roudi, k_roudi, "-l", "error", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 500; ++i) {
    std::ifstream in(out);
    std::stringstream text;
    text << in.rdbuf();
    if (text.str().find("RouDi is ready for clients") != std::string::npos) {
      std::filesystem::remove(out);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::filesystem::remove(out);
  why_not_ = "iox-roudi did not say it was ready within 5 s (another RouDi running?)";
}

roudi_process::~roudi_process() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGINT);
  ::waitpid(pid_, nullptr, 0);
}

histogram iceoryx_round_trip(std::uint64_t rounds, bool waitset) {
  auto* result = shared_object<histogram>();
  if (result == nullptr) return {};
  const auto service = fresh_service("rt");
  const pid_t server = spawn_participant("server", true, [&] { echo_server(service, rounds, waitset); });
  const pid_t client = spawn_participant("client", false, [&] {
    iox::popo::Client<payload64, payload64> c(service);
    iox::popo::WaitSet<> ws;
    if (waitset) (void)ws.attachState(c, iox::popo::ClientState::HAS_RESPONSE);
    const auto until = deadline::after_ns(10'000'000'000);
    while (c.getConnectionState() != iox::ConnectionState::CONNECTED && !until.expired()) cpu_relax();
    for (std::uint64_t i = 0; i < rounds; ++i) {
      const auto t0 = now_ns();
      auto request = c.loan();
      if (request.has_error()) break;
      std::memset(request.value().get(), 0, sizeof(payload64));
      (void)request.value().send();
      for (;;) {
        if (waitset) (void)ws.wait();
        auto response = c.take();
        if (!response.has_error()) break;
        if (!waitset) cpu_relax();
      }
      if (i >= rounds / 10) result->record(now_ns() - t0);
    }
  });
  ::waitpid(client, nullptr, 0);
  ::waitpid(server, nullptr, 0);
  histogram h = *result;
  release_shared(result);
  return h;
}

double iceoryx_stream(std::uint64_t count) {
  auto* rate = shared_object<std::atomic<double>>();
  if (rate == nullptr) return 0;
  const auto topic = fresh_service("stream");
  const pid_t subscriber = spawn_participant("subscriber", true, [&] {
    iox::popo::SubscriberOptions o;
    o.queueCapacity = 256;
    o.queueFullPolicy = iox::popo::QueueFullPolicy::BLOCK_PRODUCER;  // lossless
    iox::popo::Subscriber<payload64> sub(topic, o);
    for (std::uint64_t got = 0; got < count;) {
      auto sample = sub.take();
      if (!sample.has_error()) {
        ++got;
      } else {
        cpu_relax();
      }
    }
  });
  const pid_t publisher = spawn_participant("publisher", false, [&] {
    iox::popo::PublisherOptions o;
    o.subscriberTooSlowPolicy = iox::popo::ConsumerTooSlowPolicy::WAIT_FOR_CONSUMER;
    iox::popo::Publisher<payload64> pub(topic, o);
    const auto until = deadline::after_ns(10'000'000'000);
    while (!pub.hasSubscribers() && !until.expired()) cpu_relax();
    const auto t0 = now_ns();
    for (std::uint64_t i = 0; i < count;) {
      auto sample = pub.loan();
      if (sample.has_error()) {
        cpu_relax();
        continue;
      }
      std::memset(sample.value().get(), 0, sizeof(payload64));
      sample.value().publish();
      ++i;
    }
    // The last sample is out; the subscriber has its queue (256) left to take.
    rate->store(static_cast<double>(count) * 1e9 / static_cast<double>(now_ns() - t0));
  });
  ::waitpid(publisher, nullptr, 0);
  ::waitpid(subscriber, nullptr, 0);
  const double r = rate->load();
  release_shared(rate);
  return r;
}

}  // namespace pdc::bench
