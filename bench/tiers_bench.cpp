// pdc-bench tiers: the seed's "Performance Comparison" with pdc's numbers:
// cross-process, 64-byte payloads, client through libpdc attachments, kernel
// echo (sink for one-way throughput), beside bare baselines and Eclipse
// iceoryx measured in the same run. Repetitions interleave pdc and its
// baselines; each row is the median of its repetitions and each ratio the
// median of the ratios within a repetition (docs/benchmarks.md).
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <new>
#include <thread>

#include "bench_daemon.hpp"
#include "benches.hpp"
#include "pdc/client.hpp"
#include "pdc/core/clock.hpp"
#include "pinning.hpp"
#ifdef PDC_BENCH_WITH_ICEORYX
#include "iceoryx_bench.hpp"
#endif

namespace pdc::bench {
namespace {

constexpr std::size_t k_msg = 64;
constexpr std::int64_t k_timeout_ns = 10'000'000'000;

struct futex_pair {
  alignas(128) std::atomic<std::uint32_t> ping{0};
  alignas(128) std::atomic<std::uint32_t> pong{0};
};

void futex_wait(std::atomic<std::uint32_t>* w, std::uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(w), FUTEX_WAIT, expected, nullptr, nullptr, 0);
}
void futex_wake(std::atomic<std::uint32_t>* w) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(w), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

// Each hop: store a flag, futex_wake; the other side sleeps in futex_wait.
histogram bare_futex_ping_pong(std::uint64_t rounds) {
  void* mem = ::mmap(nullptr, sizeof(futex_pair), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  auto* f = new (mem) futex_pair{};
  const pid_t pid = ::fork();
  if (pid == 0) {
    pin_server_side();
    for (std::uint64_t i = 0; i < rounds; ++i) {
      while (f->ping.load(std::memory_order_acquire) == 0) futex_wait(&f->ping, 0);
      f->ping.store(0, std::memory_order_relaxed);
      f->pong.store(1, std::memory_order_release);
      futex_wake(&f->pong);
    }
    ::_exit(0);
  }
  histogram h;
  for (std::uint64_t i = 0; i < rounds; ++i) {
    const auto t0 = now_ns();
    f->ping.store(1, std::memory_order_release);
    futex_wake(&f->ping);
    while (f->pong.load(std::memory_order_acquire) == 0) futex_wait(&f->pong, 0);
    f->pong.store(0, std::memory_order_relaxed);
    if (i >= rounds / 10) h.record(now_ns() - t0);
  }
  ::waitpid(pid, nullptr, 0);
  ::munmap(mem, sizeof(futex_pair));
  return h;
}

// Launches and activates `id`; a kernel is measured alone (a spinning one owns a core, and there are two).
bool launch(client& c, const std::string& type, const std::string& id, kernel_tier tier, bool metrics = true) {
  launch_options o;
  o.kernel_type = type;
  o.kernel_id = id;
  o.tier = tier;
  o.latency_metrics = metrics;
  if (tier == kernel_tier::spin || tier == kernel_tier::threaded) o.cpu = server_cpu();
  auto r = c.launch(o);
  if (r) r = c.activate(id);
  if (!r) std::fprintf(stderr, "pdc-bench: launch %s: %s\n", id.c_str(), r.err().what().c_str());
  return static_cast<bool>(r);
}

}  // namespace

histogram attach_round_trip(client& c, const std::string& kernel, std::uint64_t rounds) {
  histogram h;
  auto a = c.attach(kernel);
  if (!a) {
    std::fprintf(stderr, "pdc-bench: attach %s: %s\n", kernel.c_str(), a.err().what().c_str());
    return h;
  }
  std::array<std::byte, k_msg> payload{};
  for (std::uint64_t i = 0; i < rounds; ++i) {
    const auto t0 = now_ns();
    auto reply = a->request(payload, k_timeout_ns);
    if (!reply) {
      std::fprintf(stderr, "pdc-bench: request %s: %s\n", kernel.c_str(), reply.err().what().c_str());
      break;
    }
    if (i >= rounds / 10) h.record(now_ns() - t0);
  }
  (void)a->detach();
  return h;
}

// Pipelined echo: keep up to `window` requests in flight, batched publishes.
double attach_echo_stream(client& c, const std::string& kernel, std::uint64_t count, std::uint64_t window) {
  auto a = c.attach(kernel);
  if (!a) return 0;
  std::uint64_t sent = 0;
  std::uint64_t got = 0;
  const auto t0 = now_ns();
  while (got < count) {
    while (sent < count && sent - got < window) {
      auto slot = a->begin_send(k_msg);
      if (!slot) break;
      std::memset(slot->payload.data(), 0, k_msg);
      ++sent;
    }
    a->flush();
    auto n = a->poll([](const envelope&, std::span<const std::byte>) {}, 256, k_timeout_ns);
    if (!n || *n == 0) break;
    got += *n;
  }
  const auto rate = static_cast<double>(got) * 1e9 / static_cast<double>(now_ns() - t0);
  (void)a->detach();
  return rate;
}

// One-way: stream `count` messages in batches, then a probe; its reply is the count.
double attach_one_way(client& c, const std::string& kernel, std::uint64_t count, std::size_t batch) {
  auto a = c.attach(kernel);
  if (!a) return 0;
  const auto t0 = now_ns();
  for (std::uint64_t sent = 0; sent < count;) {
    for (std::size_t b = 0; b < batch && sent < count; ++b, ++sent) {
      auto slot = a->begin_send(k_msg);
      if (!slot) return 0;
      std::memset(slot->payload.data(), 0, k_msg);
    }
    a->flush();
  }
  std::array<std::byte, k_msg> probe{};
  auto reply = a->request(probe, k_timeout_ns, {.type_id = 1, .priority = k_default_priority, .ack = true});
  const auto t1 = now_ns();
  std::int64_t seen = 0;
  if (reply && reply->payload.size() == 8) std::memcpy(&seen, reply->payload.data(), 8);
  (void)a->detach();
  if (seen < static_cast<std::int64_t>(count)) {
    std::fprintf(stderr, "pdc-bench: sink saw %lld of %llu messages\n", static_cast<long long>(seen),
                 static_cast<unsigned long long>(count));
  }
  return static_cast<double>(count) * 1e9 / static_cast<double>(t1 - t0);
}

namespace {

row with_baseline(row r, const std::string& baseline) {
  r.baseline = baseline;
  return r;
}

const std::string k_floor = "bare shm spin ping-pong 64B";
const std::string k_stream_floor = "bare ring stream xproc 64B";
const std::string k_t3_one_way = "tier3 spin one-way throughput 64B batch 64 (pdc)";
const std::string k_iox_rt = "iceoryx client/server round trip 64B busy-poll";

// One repetition of every interleaved row.
void one_repetition(repetitions& reps, std::size_t rep, client& c, const bench_options& opt, bool iceoryx) {
  const auto n = [&](double v) { return static_cast<std::uint64_t>(v * opt.scale); };
  const auto want = [&](const std::string& name) { return opt.wants(name); };
  const std::string id = std::to_string(rep);
  if (want(k_floor)) reps.add(rep, latency_row(k_floor, bare_ping_pong(n(200'000))));
  if (want("tier3 spin round trip") && launch(c, "echo", "t3-" + id, kernel_tier::spin)) {
    auto h = attach_round_trip(c, "t3-" + id, n(200'000));
    reps.add(rep, with_baseline(latency_row("tier3 spin round trip 64B (pdc)", h), k_floor));
    if (iceoryx) {
      reps.add(rep, with_baseline(latency_row("tier3 spin round trip 64B (pdc) vs iceoryx", h), k_iox_rt));
    }
    (void)c.terminate("t3-" + id);
  }
  if (want("tier2 threaded round trip") && launch(c, "echo", "t2-" + id, kernel_tier::threaded)) {
    reps.add(rep, with_baseline(
                      latency_row("tier2 threaded round trip 64B (pdc)", attach_round_trip(c, "t2-" + id, n(200'000))),
                      k_floor));
    (void)c.terminate("t2-" + id);
  }
  if ((want("tier1 async round trip") || want("tier1 async echo")) &&
      launch(c, "echo", "t1-" + id, kernel_tier::async)) {
    if (want("tier1 async round trip")) {
      reps.add(rep, with_baseline(
                        latency_row("tier1 async round trip 64B (pdc)", attach_round_trip(c, "t1-" + id, n(200'000))),
                        k_floor));
    }
    if (want("tier1 async echo")) {
      reps.add(rep, with_baseline(throughput_row("tier1 async echo throughput 64B window 256 (pdc)",
                                                 attach_echo_stream(c, "t1-" + id, n(2e6), 256)),
                                  k_stream_floor));
    }
    (void)c.terminate("t1-" + id);
  }
  if (want(k_stream_floor)) reps.add(rep, throughput_row(k_stream_floor, bare_stream(n(10e6))));
  if (want(k_t3_one_way) && launch(c, "sink", "s3-" + id, kernel_tier::spin)) {
    reps.add(rep,
             with_baseline(throughput_row(k_t3_one_way, attach_one_way(c, "s3-" + id, n(20e6), 64)), k_stream_floor));
    (void)c.terminate("s3-" + id);
  }
  if (want("latency metrics off") && launch(c, "sink", "s3m-" + id, kernel_tier::spin, false)) {
    // Against the same row with histograms on: the ratio above 1 is what they cost.
    reps.add(rep, with_baseline(throughput_row("tier3 spin one-way, latency metrics off (pdc)",
                                               attach_one_way(c, "s3m-" + id, n(20e6), 64)),
                                k_t3_one_way));
    (void)c.terminate("s3m-" + id);
  }
  if (want("tier1 async one-way") && launch(c, "sink", "s1-" + id, kernel_tier::async)) {
    reps.add(rep, with_baseline(throughput_row("tier1 async one-way throughput 64B batch 64 (pdc)",
                                               attach_one_way(c, "s1-" + id, n(10e6), 64)),
                                k_stream_floor));
    (void)c.terminate("s1-" + id);
  }
#ifdef PDC_BENCH_WITH_ICEORYX
  if (iceoryx && want(k_iox_rt)) reps.add(rep, latency_row(k_iox_rt, iceoryx_round_trip(n(200'000), false)));
  if (iceoryx && want("iceoryx client/server round trip 64B waitset")) {
    reps.add(rep, latency_row("iceoryx client/server round trip 64B waitset", iceoryx_round_trip(n(50'000), true)));
  }
  if (iceoryx && want("iceoryx pub/sub")) {
    reps.add(rep, with_baseline(throughput_row("iceoryx pub/sub lossless stream 64B", iceoryx_stream(n(5e6))),
                                k_stream_floor));
  }
#endif
}

}  // namespace

void run_tiers(report& out, const bench_options& opt, const std::string& kernels_dir) {
  const auto n = [&](double v) { return static_cast<std::uint64_t>(v * opt.scale); };
  bool iceoryx = false;
#ifdef PDC_BENCH_WITH_ICEORYX
  std::unique_ptr<roudi_process> roudi;
  if (opt.wants("iceoryx")) {
    roudi = std::make_unique<roudi_process>();
    iceoryx = roudi->why_not().empty();
  }
  if (roudi && !iceoryx) out.note("iceoryx rows skipped: " + roudi->why_not());
#else
  out.note("iceoryx rows skipped: pdc-bench was built without libiceoryx-posh-dev");
#endif
  bench_daemon pdcd(kernels_dir, {"pdc_echo.so", "pdc_sink.so"});
  auto c = pdcd.connect();
  repetitions reps;
  for (std::size_t rep = 0; rep < opt.reps; ++rep) one_repetition(reps, rep, c, opt, iceoryx);
  reps.finish_into(out);
  if (!opt.only.empty()) return;

  // Context, measured once: same-thread queue cost and the VM's blocking wake-ups.
  out.add(latency_row("queue put+get same thread 64B (bare)", bare_put_get(n(10e6))));
  out.add(with_baseline(latency_row("queue put+get same thread 64B (pdc ring)", pdc_put_get(n(10e6))),
                        "queue put+get same thread 64B (bare)"));
  out.add(latency_row("bare futex ping-pong 64B", bare_futex_ping_pong(n(50'000))));
  out.add(latency_row("bare unix-socket ping-pong 64B", bare_socket_ping_pong(n(50'000))));

  out.note("Per message: a pdc round trip writes a 48-byte envelope and the payload into the request ring, the");
  out.note("kernel's agent reads it, calls the plugin's on_message through the C ABI (echo), which writes an");
  out.note("enveloped reply into the attachment's reply ring; counters and (unless off) two histograms are kept.");
  out.note("An iceoryx round trip loans a chunk, sends it through RouDi-made queues, and the server loans a");
  out.note("response chunk and sends it: no handler call, no envelope, no per-message metrics. The bare ping-pong");
  out.note("copies 64 bytes into a fixed slot and moves one index each way.");
}

}  // namespace pdc::bench
