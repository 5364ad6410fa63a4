// pdc-bench nats: the bare NATS anchors of the cluster rows (docs/benchmarks.md,
// "pdc-bench nats"), measured against a nats-server this run starts on
// loopback: a request/reply round trip of 64 bytes between two processes,
// batched core-NATS publishing of 16-byte messages to a subscriber in another
// process, and JetStream asynchronous publishing with acknowledgements. In the
// same run, interleaved, the pdc rows that cross nodes: two pdcd nodes (a, b)
// on that server, a client of node a requesting b/echo, and routers on node a
// streaming into sinks on node b, at most once (core NATS) and at least once
// (JetStream).
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "benches.hpp"
#include "pdc/core/clock.hpp"
#ifdef PDC_BENCH_WITH_DAEMON
#include <cstring>
#include <memory>
#include <optional>

#include "bench_daemon.hpp"
#endif

namespace pdc::bench {
namespace {

constexpr int k_rtt_bytes = 64;
constexpr int k_stream_bytes = 16;
constexpr const char* k_echo_subject = "bench.echo";
constexpr const char* k_sink_subject = "bench.sink";
constexpr const char* k_count_subject = "bench.count";
constexpr const char* k_js_subject = "bench.js";
constexpr const char* k_bare_request = "bare NATS request/reply, 64 B, 2 processes";
constexpr const char* k_bare_publish = "bare NATS publish, 16 B, to a subscriber process";
constexpr const char* k_bare_js = "bare JetStream async publish, 16 B, acknowledged";

void check(natsStatus s, const char* what) {
  if (s != NATS_OK) throw std::runtime_error(std::string(what) + ": " + natsStatus_GetText(s));
}

// A connection to `url`. `asap`: every publish is written at once (what a
// round trip wants); otherwise libnats buffers and its flusher thread writes
// (what a stream wants).
natsStatus connect_to(natsConnection** nc, const std::string& url, bool asap) {
  natsOptions* o = nullptr;
  natsStatus s = natsOptions_Create(&o);
  if (s == NATS_OK) s = natsOptions_SetURL(o, url.c_str());
  if (s == NATS_OK) s = natsOptions_SetSendAsap(o, asap);
  if (s == NATS_OK) s = natsConnection_Connect(nc, o);
  natsOptions_Destroy(o);
  return s;
}

// A free loopback port (bound and released: a race with other programs is possible, not likely).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::runtime_error("cannot find a free loopback port");
  }
  const int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// A nats-server child on loopback with JetStream in its own store folder; stopped by its pid.
class nats_server {
 public:
  // Starts it; wait_ready() waits for it. No libnats call happens here, so
  // the responder may still be forked after this.
  explicit nats_server(const std::string& binary) : port_(free_port()), binary_(binary) {
    char tmpl[] = "/tmp/pdc-bench-nats-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    const std::string port = std::to_string(port_);
    const std::string store = dir_ + "/js";
    const std::string log = dir_ + "/nats-server.log";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execlp(binary.c_str(), binary.c_str(), "-a", "127.0.0.1", "-p", port.c_str(), "-js", "-sd", store.c_str(), "-l",
               log.c_str(), static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    if (pid_ < 0) throw std::runtime_error("fork failed");
    url_ = "nats://127.0.0.1:" + port;
  }

  // Ready once its client port takes a TCP connection (bounded: 10 s). No
  // libnats call, so pdcd nodes may still be forked after this.
  void wait_listening() const {
    for (int i = 0; i < 1000; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<std::uint16_t>(port_));
      const bool up = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      if (fd >= 0) ::close(fd);
      if (up) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("nats-server did not listen within 10 s (is nats-server installed?)");
  }

  // Ready once a client connects (bounded: 10 s).
  void wait_ready() {
    for (int i = 0; i < 1000; ++i) {
      natsConnection* nc = nullptr;
      if (natsConnection_ConnectTo(&nc, url_.c_str()) == NATS_OK) {
        natsConnection_Destroy(nc);
        return;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error(binary_ + " exited while starting (is nats-server installed?)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("nats-server did not accept clients within 10 s");
  }
  nats_server(const nats_server&) = delete;
  nats_server& operator=(const nats_server&) = delete;
  ~nats_server() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  [[nodiscard]] const std::string& url() const { return url_; }

 private:
  int port_;
  std::string binary_;
  pid_t pid_ = -1;
  std::string dir_;
  std::string url_;
};

// The other process: echoes bench.echo to its reply subject, counts bench.sink
// and answers bench.count with that count. Runs until killed.
[[noreturn]] void responder(const std::string& url) {
  natsConnection* nc = nullptr;
  for (int i = 0; connect_to(&nc, url, true) != NATS_OK; ++i) {
    if (i == 1000) std::_Exit(2);  // the server never came (10 s)
    ::usleep(10'000);
  }
  static std::atomic<std::uint64_t> sunk{0};
  natsSubscription* echo = nullptr;
  natsSubscription* sink = nullptr;
  natsSubscription* count = nullptr;
  natsConnection_Subscribe(
      &echo, nc, k_echo_subject,
      [](natsConnection* c, natsSubscription*, natsMsg* m, void*) {
        natsConnection_Publish(c, natsMsg_GetReply(m), natsMsg_GetData(m), natsMsg_GetDataLength(m));
        natsMsg_Destroy(m);
      },
      nullptr);
  natsConnection_Subscribe(
      &sink, nc, k_sink_subject,
      [](natsConnection*, natsSubscription*, natsMsg* m, void*) {
        sunk.fetch_add(1, std::memory_order_relaxed);  // one callback thread: a counter only
        natsMsg_Destroy(m);
      },
      nullptr);
  // No message limit on the sink: a slow consumer is the publisher's problem here.
  natsSubscription_SetPendingLimits(sink, -1, -1);
  natsConnection_Subscribe(
      &count, nc, k_count_subject,
      [](natsConnection* c, natsSubscription*, natsMsg* m, void*) {
        const std::string n = std::to_string(sunk.load(std::memory_order_relaxed));
        natsConnection_Publish(c, natsMsg_GetReply(m), n.data(), static_cast<int>(n.size()));
        natsMsg_Destroy(m);
      },
      nullptr);
  natsConnection_Flush(nc);
  for (;;) ::pause();
}

histogram bare_request_reply(natsConnection* nc, std::uint64_t rounds) {
  std::array<char, k_rtt_bytes> payload{};
  histogram h;
  for (std::uint64_t i = 0; i < rounds; ++i) {
    natsMsg* reply = nullptr;
    const auto t0 = now_ns();
    check(natsConnection_Request(&reply, nc, k_echo_subject, payload.data(), k_rtt_bytes, 5000), "request");
    if (i >= rounds / 10) h.record(now_ns() - t0);
    natsMsg_Destroy(reply);
  }
  return h;
}

std::uint64_t sunk_so_far(natsConnection* nc) {
  natsMsg* reply = nullptr;
  check(natsConnection_Request(&reply, nc, k_count_subject, "", 0, 30000), "count request");
  const std::uint64_t n = std::strtoull(
      std::string(natsMsg_GetData(reply), static_cast<std::size_t>(natsMsg_GetDataLength(reply))).c_str(), nullptr, 10);
  natsMsg_Destroy(reply);
  return n;
}

// Messages per second that reached the subscriber (published, flushed, then
// the count asked: requests are ordered after the publishes on one connection).
double bare_publish(natsConnection* nc, std::uint64_t count, std::uint64_t& lost) {
  std::array<char, k_stream_bytes> payload{};
  const std::uint64_t before = sunk_so_far(nc);
  const auto t0 = now_ns();
  for (std::uint64_t i = 0; i < count; ++i) {
    check(natsConnection_Publish(nc, k_sink_subject, payload.data(), k_stream_bytes), "publish");
  }
  check(natsConnection_Flush(nc), "flush");
  std::uint64_t got = 0;
  // The subscriber may still be reading what the server sent: ask until it stops growing (bounded).
  for (int i = 0; i < 200; ++i) {
    got = sunk_so_far(nc) - before;
    if (got >= count) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto dt = static_cast<double>(now_ns() - t0) / 1e9;
  lost += count - std::min(got, count);
  return static_cast<double>(got) / dt;
}

double bare_jetstream_publish(jsCtx* js, std::uint64_t count) {
  std::array<char, k_stream_bytes> payload{};
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 30000;
  const auto t0 = now_ns();
  for (std::uint64_t i = 0; i < count; ++i) {
    check(js_PublishAsync(js, k_js_subject, payload.data(), k_stream_bytes, nullptr), "js publish");
  }
  check(js_PublishAsyncComplete(js, &po), "js publish complete");
  return static_cast<double>(count) / (static_cast<double>(now_ns() - t0) / 1e9);
}

#ifdef PDC_BENCH_WITH_DAEMON
constexpr const char* k_pdc_request = "pdc cross-node request/reply, 64 B, client -> node a -> node b echo -> back";
constexpr const char* k_pdc_one_way = "pdc cross-node one-way, 16 B, router on a -> sink on b, at most once";
constexpr const char* k_pdc_durable = "pdc cross-node one-way, 16 B, router on a -> sink on b, at least once";
constexpr std::int64_t k_reply_wait_ns = 10'000'000'000;

daemon::startup_kernel kernel(const std::string& type, const std::string& id, std::string config = {},
                              bool exported = false, bool at_least_once = false) {
  daemon::startup_kernel k;
  k.launch.kernel_type = type;
  k.launch.kernel_id = id;
  k.launch.tier = kernel_tier::threaded;
  k.launch.config = std::move(config);
  k.launch.exported = exported;
  k.launch.at_least_once = at_least_once;
  if (exported) k.launch.access = {"node:a=send"};
  return k;
}

daemon::cluster_config node(const std::string& name, const std::string& url) {
  daemon::cluster_config c;
  c.node = name;
  c.urls = {url};
  c.jetstream = true;
  c.replicas = 1;
  return c;
}

// A sink on node b, probed from a client of node a: its count less the
// probes that asked (the sink counts those as well).
struct remote_sink {
  client* c;
  std::string address;
  std::uint64_t probes = 0;
};

std::optional<std::uint64_t> sink_count(remote_sink& s) {
  std::array<std::byte, 8> probe{};
  send_options o;
  o.type_id = 1;
  auto r = s.c->request(s.address, probe, 1'000'000'000, o);
  ++s.probes;
  if (!r || r->payload.size() != 8) return std::nullopt;
  std::int64_t seen = 0;
  std::memcpy(&seen, r->payload.data(), sizeof seen);
  return static_cast<std::uint64_t>(seen) - s.probes;
}

histogram pdc_request_reply(client& c, std::uint64_t rounds) {
  std::array<std::byte, k_rtt_bytes> payload{};
  histogram h;
  for (std::uint64_t i = 0; i < rounds; ++i) {
    const auto t0 = now_ns();
    auto r = c.request("b/echo", payload, k_reply_wait_ns);
    if (!r) throw std::runtime_error("request to b/echo: " + r.err().what());
    if (i >= rounds / 10) h.record(now_ns() - t0);
  }
  return h;
}

// Messages per second that reached the sink: `count` streamed into the
// router's attachment in batches of 64, the sink asked until it has them all
// or its count stopped growing for 2 s (what is missing then is `lost`); the
// time runs to the last probe that saw the count grow.
double pdc_one_way(client& c, const std::string& router, remote_sink& sink, std::uint64_t count, std::uint64_t& lost) {
  const auto before = sink_count(sink);
  if (!before) throw std::runtime_error("no count from " + sink.address);
  auto a = c.attach(router);
  if (!a) throw std::runtime_error("attach " + router + ": " + a.err().what());
  const auto t0 = now_ns();
  for (std::uint64_t sent = 0; sent < count;) {
    for (int b = 0; b < 64 && sent < count; ++b, ++sent) {
      auto slot = a->begin_send(k_stream_bytes);
      if (!slot) throw std::runtime_error("send to " + router + ": " + slot.err().what());
      std::memset(slot->payload.data(), 0, k_stream_bytes);
    }
    a->flush();
  }
  std::uint64_t got = 0;
  auto last_growth = now_ns();
  for (;;) {
    const auto n = sink_count(sink);
    const auto t = now_ns();
    if (n && *n - *before > got) {
      got = *n - *before;
      last_growth = t;
    }
    // A probe NATS dropped (the sink's node fell behind) is asked again.
    if (got >= count || (n && t - last_growth > 2'000'000'000) || t - last_growth > 30'000'000'000) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  (void)a->detach();
  lost += count - std::min(got, count);
  return static_cast<double>(std::min(got, count)) * 1e9 / static_cast<double>(last_growth - t0);
}

row against(row r, const std::string& baseline) {
  r.baseline = baseline;
  return r;
}

// Until a request from node a's client reaches `address` (interest travels
// to the server shortly after node b subscribes); bounded at 30 s.
void wait_reachable(client& c, const std::string& address) {
  for (int i = 0; i < 300; ++i) {
    if (c.request(address, std::span<const std::byte>{}, 100'000'000)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error(address + " not reachable from node a within 30 s");
}
#endif

}  // namespace

void run_nats(report& out, const bench_options& opt, const std::string& nats_server_binary,
              [[maybe_unused]] const std::string& kernels_dir) {
  nats_server server(nats_server_binary);
  server.wait_listening();
  // Forked before this process makes a libnats call (and so any thread).
  const pid_t child = ::fork();
  if (child == 0) responder(server.url());
#ifdef PDC_BENCH_WITH_DAEMON
  // The two nodes, forked likewise: b hosts what a's routers and client reach.
  auto node_b = std::make_unique<bench_daemon>(
      kernels_dir, std::vector<std::string>{"pdc_echo.so", "pdc_sink.so"},
      std::vector<daemon::startup_kernel>{kernel("echo", "echo", {}, true), kernel("sink", "sink", {}, true),
                                          kernel("sink", "durable", {}, true, true)},
      daemon::isolation_config{}, node("b", server.url()));
  auto node_a = std::make_unique<bench_daemon>(
      kernels_dir, std::vector<std::string>{"pdc_router.so"},
      std::vector<daemon::startup_kernel>{kernel("router", "to-b", "b/sink"), kernel("router", "to-bd", "b/durable")},
      daemon::isolation_config{}, node("a", server.url()));
#endif
  server.wait_ready();
  natsConnection* nc = nullptr;  // round trips and JetStream
  check(connect_to(&nc, server.url(), true), "connect");
  natsConnection* bulk = nullptr;  // the publish stream
  check(connect_to(&bulk, server.url(), false), "connect");
  jsCtx* js = nullptr;
  check(natsConnection_JetStream(&js, nc, nullptr), "jetstream");
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = "PDC_BENCH";
  const char* subjects[] = {k_js_subject};
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  jsStreamInfo* si = nullptr;
  jsErrCode jerr{};
  check(js_AddStream(&si, js, &cfg, nullptr, &jerr), "add stream");
  jsStreamInfo_Destroy(si);
  // Wait until the responder answers (it connects on its own).
  for (int i = 0; i < 1000; ++i) {
    natsMsg* m = nullptr;
    if (natsConnection_Request(&m, nc, k_echo_subject, "x", 1, 10) == NATS_OK) {
      natsMsg_Destroy(m);
      break;
    }
  }

#ifdef PDC_BENCH_WITH_DAEMON
  client ca = node_a->connect();
  wait_reachable(ca, "b/echo");
  remote_sink sink{&ca, "b/sink"};
  remote_sink durable{&ca, "b/durable"};
  std::uint64_t pdc_lost = 0;
  std::uint64_t durable_lost = 0;
#endif
  const auto rounds = static_cast<std::uint64_t>(20'000 * opt.scale) + 10;
  const auto stream = static_cast<std::uint64_t>(1'000'000 * opt.scale) + 10;
  const auto js_count = static_cast<std::uint64_t>(200'000 * opt.scale) + 10;
  repetitions reps;
  std::uint64_t lost = 0;
  for (std::size_t rep = 0; rep < opt.reps; ++rep) {
    if (opt.wants("bare NATS request/reply")) {
      reps.add(rep, latency_row(k_bare_request, bare_request_reply(nc, rounds)));
    }
#ifdef PDC_BENCH_WITH_DAEMON
    if (opt.wants(k_pdc_request)) {
      reps.add(rep, against(latency_row(k_pdc_request, pdc_request_reply(ca, rounds / 2)), k_bare_request));
    }
#endif
    if (opt.wants("bare NATS publish")) {
      reps.add(rep, throughput_row(k_bare_publish, bare_publish(bulk, stream, lost)));
    }
#ifdef PDC_BENCH_WITH_DAEMON
    if (opt.wants(k_pdc_one_way)) {
      reps.add(rep, against(throughput_row(k_pdc_one_way, pdc_one_way(ca, "to-b", sink, stream / 2, pdc_lost)),
                            k_bare_publish));
    }
#endif
    if (opt.wants("bare JetStream")) {
      reps.add(rep, throughput_row(k_bare_js, bare_jetstream_publish(js, js_count)));
    }
#ifdef PDC_BENCH_WITH_DAEMON
    if (opt.wants(k_pdc_durable)) {
      reps.add(rep, against(throughput_row(k_pdc_durable, pdc_one_way(ca, "to-bd", durable, js_count, durable_lost)),
                            k_bare_js));
    }
#endif
  }
  reps.finish_into(out);
  out.note("nats-server " + server.url() + " on loopback (JetStream file store); " + std::to_string(opt.reps) +
           " repetitions, medians; core-NATS messages not delivered to the subscriber: " + std::to_string(lost));
#ifdef PDC_BENCH_WITH_DAEMON
  out.note(
      "pdc nodes a and b: pdcd children on that server (threaded kernels, JetStream replicas 1); "
      "messages not counted by b's sinks: at most once " +
      std::to_string(pdc_lost) + ", at least once " + std::to_string(durable_lost));
#endif
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  jsCtx_Destroy(js);
  natsConnection_Destroy(bulk);
  natsConnection_Destroy(nc);
  nats_Close();
}

}  // namespace pdc::bench
