// pdc-bench anomaly: real-time anomaly detection (kernels/anomaly) in
// points per second: the anomaly kernel on tier 3 (spin) through an
// attachment, batches of 1024 samples kept 32 in flight, against the same
// computation called in-process on one thread (the bare baseline), in
// interleaved repetitions. The GPU rows are pdc-bench cuda's (cuda_bench.cpp).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "anomaly_core.hpp"
#include "bench_daemon.hpp"
#include "benches.hpp"
#include "pdc/core/clock.hpp"

namespace pdc::bench {
namespace {

constexpr std::uint32_t k_batch = 1024;
constexpr std::uint32_t k_streams = 64;
constexpr std::size_t k_in_flight = 32;
constexpr std::int64_t k_timeout_ns = 10'000'000'000;

std::vector<std::byte> one_batch(std::uint32_t stream, std::uint64_t seq) {
  std::vector<std::byte> r(8 + 4 * k_batch);
  const std::uint32_t h[2] = {stream, k_batch};
  std::memcpy(r.data(), h, sizeof h);
  for (std::uint32_t i = 0; i < k_batch; ++i) {
    const float x = 10.0F + std::sin(static_cast<float>(seq * k_batch + i) * 0.01F) +
                    ((seq * k_batch + i) % 997 == 0 ? 25.0F : 0.0F);
    std::memcpy(r.data() + 8 + 4 * i, &x, 4);
  }
  return r;
}

// Points per second of the computation alone, in this process.
double bare(std::uint64_t batches, const std::vector<std::vector<std::byte>>& inputs) {
  std::vector<std::unique_ptr<anomaly::stream_state>> states;
  for (std::uint32_t s = 0; s < k_streams; ++s) states.push_back(std::make_unique<anomaly::stream_state>());
  std::vector<std::byte> out(anomaly::reply_bytes(k_batch));
  std::uint64_t flagged = 0;
  const auto t0 = now_ns();
  for (std::uint64_t b = 0; b < batches; ++b) {
    const auto& in = inputs[b % inputs.size()];
    anomaly::request_header h{};
    (void)anomaly::parse(in.data(), static_cast<std::uint32_t>(in.size()), h);
    flagged += anomaly::detect(*states[h.stream], h, in.data(), out.data(), 0, 1);
  }
  const auto dt = static_cast<double>(now_ns() - t0) / 1e9;
  if (flagged == 0) std::fprintf(stderr, "pdc-bench anomaly: the bare run flagged nothing\n");
  return static_cast<double>(batches * k_batch) / dt;
}

}  // namespace

std::vector<std::vector<std::byte>> anomaly_inputs() {
  std::vector<std::vector<std::byte>> inputs;
  for (std::uint64_t i = 0; i < 256; ++i) inputs.push_back(one_batch(static_cast<std::uint32_t>(i % k_streams), i));
  return inputs;
}

// Points per second through the kernel: requests sent on an attachment,
// at most k_in_flight unanswered, every reply read and checked for size.
double anomaly_through_pdc(client& c, const std::string& kernel, std::uint64_t batches,
                           const std::vector<std::vector<std::byte>>& inputs) {
  auto a = c.attach(kernel);
  if (!a) throw std::runtime_error("attach " + kernel + ": " + a.err().what());
  std::uint64_t sent = 0, got = 0;
  const auto t0 = now_ns();
  while (got < batches) {
    while (sent < batches && sent - got < k_in_flight) {
      auto r = a->send(inputs[sent % inputs.size()]);
      if (!r) throw std::runtime_error("send: " + r.err().what());
      ++sent;
    }
    auto m = a->receive(k_timeout_ns);
    if (!m) throw std::runtime_error("receive: " + m.err().what());
    if (m->payload.size() != anomaly::reply_bytes(k_batch)) throw std::runtime_error("a reply of the wrong size");
    ++got;
  }
  const auto dt = static_cast<double>(now_ns() - t0) / 1e9;
  (void)a->detach();
  return static_cast<double>(batches * k_batch) / dt;
}

void run_anomaly(report& out, const bench_options& opt, const std::string& kernels_dir) {
  daemon::startup_kernel k;
  k.launch.kernel_type = "anomaly";
  k.launch.kernel_id = "anomaly";
  k.launch.tier = kernel_tier::spin;
  bench_daemon d(kernels_dir, {"pdc_anomaly.so"}, {k});
  client c = d.connect();
  const auto inputs = anomaly_inputs();
  const auto batches = static_cast<std::uint64_t>(100'000 * opt.scale) + 64;
  const std::string bare_row = "anomaly detection, 1024-sample batches, computed in-process (bare)";
  repetitions reps;
  for (std::size_t rep = 0; rep < opt.reps; ++rep) {
    reps.add(rep, throughput_row(bare_row, bare(batches, inputs)));
    row r = throughput_row("anomaly detection, 1024-sample batches, tier3 spin kernel, 32 in flight (pdc)",
                           anomaly_through_pdc(c, "anomaly", batches, inputs));
    r.baseline = bare_row;
    reps.add(rep, r);
  }
  reps.finish_into(out);
  out.note("msg/s here is points (samples) per second; " + std::to_string(opt.reps) +
           " interleaved repetitions, medians; " + std::to_string(k_streams) + " streams, windows of " +
           std::to_string(anomaly::k_window) + " samples");
}

}  // namespace pdc::bench
