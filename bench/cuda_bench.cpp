// pdc-bench cuda: the cuda tier on a GPU (docs/cuda.md), the rows of its
// issue's table, each beside a baseline measured in the same run:
// - a client -> GPU echo kernel -> client round trip of 64 B, beside the
//   bare shared-memory spin ping-pong between two CPU processes;
// - the device's message rate: 64-byte one-way messages in batches of 64
//   (ended by a request whose reply says all before it were served), and
//   requests kept 256 in flight, beside the bare ring stream;
// - anomaly detection in points per second on the GPU, beside the same
//   kernel on tier 3 (spin);
// - what an idle GPU kernel costs the host: pdcd's CPU time over a second
//   with the kernel launched and nobody sending, once with no client
//   waiting and once with a client parked on its reply ring.
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "bench_daemon.hpp"
#include "benches.hpp"
#include "pdc/core/clock.hpp"

namespace pdc::bench {
namespace {

constexpr std::size_t k_msg = 64;
constexpr std::int64_t k_timeout_ns = 10'000'000'000;

// CPU time (user + system) the process has used, in ns.
std::uint64_t process_cpu_ns(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  const auto tick = static_cast<std::uint64_t>(::sysconf(_SC_CLK_TCK));
  return (utime + stime) * 1'000'000'000ULL / tick;
}

// pdcd's share of one core over `seconds` (while `during` runs beside it).
double cpu_share(pid_t pid, double seconds) {
  const auto c0 = process_cpu_ns(pid);
  const auto t0 = now_ns();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const auto c1 = process_cpu_ns(pid);
  const auto t1 = now_ns();
  return static_cast<double>(c1 - c0) / static_cast<double>(t1 - t0);
}

void must_launch(client& c, const std::string& type, const std::string& id, kernel_tier tier) {
  launch_options o;
  o.kernel_type = type;
  o.kernel_id = id;
  o.tier = tier;
  auto r = c.launch(o);
  if (r) r = c.activate(id);
  if (!r) {
    std::fprintf(stderr, "pdc-bench cuda: %s (%s)\n", r.err().what().c_str(), type.c_str());
    std::exit(1);
  }
}

// One-way 64-byte messages to the GPU echo kernel (no replies), batched;
// a final request's reply says the device served everything before it.
double gpu_one_way(client& c, const std::string& kernel, std::uint64_t count, std::size_t batch) {
  auto a = c.attach(kernel);
  if (!a) throw std::runtime_error("attach " + kernel + ": " + a.err().what());
  send_options one_way;
  one_way.no_reply = true;
  const auto t0 = now_ns();
  for (std::uint64_t sent = 0; sent < count;) {
    for (std::size_t b = 0; b < batch && sent < count; ++b, ++sent) {
      auto slot = a->begin_send(k_msg, one_way);
      if (!slot) throw std::runtime_error("send: " + slot.err().what());
      std::memset(slot->payload.data(), 0, k_msg);
    }
    a->flush();
  }
  std::array<std::byte, k_msg> probe{};
  auto reply = a->request(probe, k_timeout_ns);
  const auto t1 = now_ns();
  if (!reply) throw std::runtime_error("the probe after the stream: " + reply.err().what());
  (void)a->detach();
  return static_cast<double>(count) * 1e9 / static_cast<double>(t1 - t0);
}

row with_baseline(row r, const std::string& baseline) {
  r.baseline = baseline;
  return r;
}

}  // namespace

void run_cuda(report& out, const bench_options& opt, const std::string& kernels_dir) {
  bench_daemon d(kernels_dir, {"pdc_cuda.so", "pdc_anomaly.so"});
  client c = d.connect();
  must_launch(c, "echo_cuda", "gecho", kernel_tier::cuda);
  must_launch(c, "anomaly_cuda", "ganomaly", kernel_tier::cuda);
  must_launch(c, "anomaly", "anomaly3", kernel_tier::spin);
  const auto n = [&](double v) { return static_cast<std::uint64_t>(v * opt.scale) + 64; };

  // Idle first, before anything warmed the helper up.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double idle_share = cpu_share(d.pid(), 1.0);
  double parked_share = 0;
  {
    auto a = c.attach("gecho");
    if (!a) throw std::runtime_error("attach gecho: " + a.err().what());
    std::thread waiter([&] { (void)a->receive(1'500'000'000); });  // spins 200 us, then parks; nothing comes
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    parked_share = cpu_share(d.pid(), 1.0);
    waiter.join();
    (void)a->detach();
  }

  const std::string floor = "bare shm spin ping-pong 64B";
  const std::string stream_floor = "bare ring stream xproc 64B";
  const std::string tier3_anomaly = "anomaly detection, 1024-sample batches, tier3 spin kernel, 32 in flight (pdc)";
  const auto inputs = anomaly_inputs();
  repetitions reps;
  for (std::size_t rep = 0; rep < opt.reps; ++rep) {
    reps.add(rep, latency_row(floor, bare_ping_pong(n(200'000))));
    reps.add(rep, with_baseline(latency_row("client -> GPU echo kernel -> client round trip 64B (pdc)",
                                            attach_round_trip(c, "gecho", n(200'000))),
                                floor));
    reps.add(rep, throughput_row(stream_floor, bare_stream(n(20e6))));
    reps.add(rep, with_baseline(throughput_row("GPU echo one-way 64B batch 64, device message rate (pdc)",
                                               gpu_one_way(c, "gecho", n(20e6), 64)),
                                stream_floor));
    reps.add(rep, with_baseline(throughput_row("GPU echo request/reply 64B, 256 in flight (pdc)",
                                               attach_echo_stream(c, "gecho", n(5e6), 256)),
                                stream_floor));
    reps.add(rep, throughput_row(tier3_anomaly, anomaly_through_pdc(c, "anomaly3", n(100'000), inputs)));
    reps.add(rep, with_baseline(throughput_row("anomaly detection, 1024-sample batches, GPU kernel, 32 in flight (pdc)",
                                               anomaly_through_pdc(c, "ganomaly", n(100'000), inputs)),
                                tier3_anomaly));
  }
  reps.finish_into(out);
  char idle[256];
  std::snprintf(idle, sizeof idle,
                "idle GPU kernel: pdcd used %.1f%% of a core with nobody sending, %.1f%% with a client parked on its "
                "reply ring (the host helper's polling)",
                idle_share * 100, parked_share * 100);
  out.note(idle);
  out.note("anomaly rows' msg/s are points (samples) per second; " + std::to_string(opt.reps) +
           " interleaved repetitions, medians");
}

}  // namespace pdc::bench
