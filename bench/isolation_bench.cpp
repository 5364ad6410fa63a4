// pdc-bench isolation: what process isolation costs and how fast it heals
// (docs/isolation.md). Every row is cross-process over libpdc attachments,
// 64-byte payloads; a process-isolated kernel is measured beside the same
// kernel inside pdcd in the same repetition, and the ratio is isolated over
// in-process. Crash recovery kills the host (SIGSEGV from outside, as a
// crashing handler would end it) and times until the first good reply.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "bench_daemon.hpp"
#include "benches.hpp"
#include "pdc/core/clock.hpp"
#include "pinning.hpp"

namespace pdc::bench {
namespace {

constexpr std::size_t k_msg = 64;
constexpr std::int64_t k_timeout_ns = 10'000'000'000;

// `confined`: the host also runs behind the seccomp filter and under rlimits
// (docs/isolation.md, "Confinement").
bool launch(client& c, const std::string& type, const std::string& id, kernel_tier tier, kernel_isolation iso,
            bool confined = false) {
  launch_options o;
  o.kernel_type = type;
  o.kernel_id = id;
  o.tier = tier;
  o.isolation = iso;
  if (confined) {
    o.seccomp = true;
    o.max_address_space_mb = 4096;
    o.max_cpu_seconds = 3600;
    o.max_open_files = 256;
  }
  if (tier == kernel_tier::spin || tier == kernel_tier::threaded) o.cpu = server_cpu();
  auto r = c.launch(o);
  if (r) r = c.activate(id);
  if (!r) std::fprintf(stderr, "pdc-bench: launch %s: %s\n", id.c_str(), r.err().what().c_str());
  return static_cast<bool>(r);
}

std::string where(kernel_isolation iso) {
  return iso == kernel_isolation::process ? "isolated" : "in pdcd";
}

// The host of `id` now (0 while none runs).
std::int32_t host_of(client& c, const std::string& id) {
  auto s = c.status(id);
  return s && s->state == kernel_state::active ? s->host_pid : 0;
}

// Kills the host of `id` `times` times; each sample runs from the kill to the
// first good reply on an attachment made before the first kill.
histogram crash_to_reply(client& c, const std::string& id, std::uint64_t times) {
  histogram h;
  auto a = c.attach(id);
  if (!a) return h;
  std::array<std::byte, k_msg> payload{};
  for (std::uint64_t i = 0; i < times; ++i) {
    if (!a->request(payload, k_timeout_ns)) break;  // served: a host is up
    const std::int32_t pid = host_of(c, id);
    if (pid <= 0) break;
    const auto t0 = now_ns();
    ::kill(pid, SIGSEGV);
    const deadline give_up = deadline::after_ns(k_timeout_ns);
    bool served = false;
    while (!give_up.expired()) {
      auto r = a->request(payload, k_timeout_ns);
      if (r) {
        served = true;
        break;
      }
    }
    if (!served) break;
    h.record(now_ns() - t0);
  }
  (void)a->detach();
  return h;
}

// Round trips to `steady` while another thread watches `victim` (a status
// request every 2 ms) and, with `crash`, kills each new host of it as soon
// as it serves (a crash loop as fast as its supervision restarts it). The
// quiet run watches the same way, so the two differ only by the crashes.
histogram round_trips_beside_crashes(client& c, bench_daemon& d, const std::string& steady, const std::string& victim,
                                     std::uint64_t rounds, bool crash) {
  std::atomic<bool> done{false};
  std::uint64_t kills = 0;
  std::thread killer([&] {
    auto k = d.connect();
    std::int32_t last = 0;
    while (!done.load(std::memory_order_relaxed)) {
      const std::int32_t pid = host_of(k, victim);
      if (crash && pid > 0 && pid != last && ::kill(pid, SIGSEGV) == 0) {
        last = pid;  // a killed host lingers until pdcd reaps it: one kill each
        ++kills;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  auto h = attach_round_trip(c, steady, rounds);
  done = true;
  killer.join();
  if (crash) {
    std::fprintf(stderr, "pdc-bench: %llu crashes of '%s' during the run\n", static_cast<unsigned long long>(kills),
                 victim.c_str());
  }
  return h;
}

}  // namespace

void run_isolation(report& out, const bench_options& opt, const std::string& kernels_dir) {
  const auto n = [&](double v) { return static_cast<std::uint64_t>(v * opt.scale); };
  // A window of 1 ms: every crash is the first of its window, restarted at once
  // (the first back-off step), and the budget never runs out.
  daemon::isolation_config iso;
  iso.restart_window_ms = 1;
  iso.max_restarts = 1;
  bench_daemon pdcd(kernels_dir, {"pdc_echo.so", "pdc_sink.so"}, {}, iso);
  auto c = pdcd.connect();
  // The neighbour rows: once with every crash restarted at once (the worst
  // case), once under the default back-off (100 ms doubling) with a budget
  // that never runs out during the run.
  daemon::isolation_config backoff;
  backoff.max_restarts = 1'000'000;
  bench_daemon supervised(kernels_dir, {"pdc_echo.so"}, {}, backoff);
  auto cs = supervised.connect();
  repetitions reps;
  const kernel_tier tiers[] = {kernel_tier::async, kernel_tier::threaded, kernel_tier::spin};
  for (std::size_t rep = 0; rep < opt.reps; ++rep) {
    const std::string r = std::to_string(rep);
    for (const auto tier : tiers) {
      const std::string t(to_string(tier));
      const std::string base = t + " round trip 64B (in pdcd)";
      if (opt.wants(t + " round trip")) {
        for (const auto i : {kernel_isolation::none, kernel_isolation::process}) {
          const std::string id = "rt-" + t + "-" + where(i).substr(0, 2) + r;
          if (!launch(c, "echo", id, tier, i)) continue;
          auto row = latency_row(t + " round trip 64B (" + where(i) + ")", attach_round_trip(c, id, n(200'000)));
          if (i == kernel_isolation::process) row.baseline = base;
          reps.add(rep, row);
          (void)c.terminate(id);
        }
        // Confinement's cost: the seccomp filter runs on each of the host's
        // system calls, which a parking tier makes on every wake-up.
        const std::string id = "rt-" + t + "-cf" + r;
        if (launch(c, "echo", id, tier, kernel_isolation::process, true)) {
          auto row = latency_row(t + " round trip 64B (isolated, confined)", attach_round_trip(c, id, n(200'000)));
          row.baseline = base;
          reps.add(rep, row);
          (void)c.terminate(id);
        }
      }
      if (tier == kernel_tier::threaded) continue;  // one-way: the tiers that stream (spin, async)
      const std::string base_stream = t + " one-way 64B batch 64 (in pdcd)";
      if (opt.wants(t + " one-way")) {
        for (const auto i : {kernel_isolation::none, kernel_isolation::process}) {
          const std::string id = "ow-" + t + "-" + where(i).substr(0, 2) + r;
          if (!launch(c, "sink", id, tier, i)) continue;
          auto row = throughput_row(t + " one-way 64B batch 64 (" + where(i) + ")", attach_one_way(c, id, n(10e6), 64));
          if (i == kernel_isolation::process) row.baseline = base_stream;
          reps.add(rep, row);
          (void)c.terminate(id);
        }
      }
    }
    if (opt.wants("crash to first good reply") &&
        launch(c, "echo", "crash-" + r, kernel_tier::threaded, kernel_isolation::process)) {
      reps.add(rep, latency_row("threaded crash to first good reply (isolated)", crash_to_reply(c, "crash-" + r, 20)));
      (void)c.terminate("crash-" + r);
    }
    if (opt.wants("neighbour")) {
      for (const bool immediate : {true, false}) {
        client& cc = immediate ? c : cs;
        bench_daemon& dd = immediate ? pdcd : supervised;
        const std::string how = immediate ? "restarted at once" : "default back-off";
        const std::string steady = "steady-" + r + (immediate ? "a" : "b");
        const std::string victim = "victim-" + r + (immediate ? "a" : "b");
        if (!launch(cc, "echo", steady, kernel_tier::threaded, kernel_isolation::process) ||
            !launch(cc, "echo", victim, kernel_tier::async, kernel_isolation::process)) {
          continue;
        }
        const std::string quiet = "threaded round trip 64B, quiet neighbour (" + how + ")";
        reps.add(rep, latency_row(quiet, round_trips_beside_crashes(cc, dd, steady, victim, n(100'000), false)));
        auto loud = latency_row("threaded round trip 64B, crash-looping neighbour (" + how + ")",
                                round_trips_beside_crashes(cc, dd, steady, victim, n(100'000), true));
        loud.baseline = quiet;
        reps.add(rep, loud);
        (void)cc.terminate(steady);
        (void)cc.terminate(victim, true);
      }
    }
  }
  reps.finish_into(out);
  out.note("isolated: the kernel runs in a pdc-kernel-host process; the client's rings go to it directly.");
  out.note("crash to first good reply: SIGSEGV to the host, then requests on the same attachment until one is");
  out.note("answered (the first is answered kernel_restarted); restarts are immediate (first back-off step).");
  out.note("neighbour: p99 is the figure to compare; the ratio column compares p50.");
}

}  // namespace pdc::bench
