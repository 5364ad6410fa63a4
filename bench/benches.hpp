// One function per pdc-bench subcommand; each appends its rows to a report.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pdc/client.hpp"
#include "report.hpp"

namespace pdc::bench {

/// What every subcommand is run with.
struct bench_options {
  double scale = 1.0;             ///< Multiplies iteration counts (1.0 = full run).
  std::size_t reps = 5;           ///< Interleaved repetitions (tiers): rows are their medians.
  std::vector<std::string> only;  ///< tiers: measure only rows whose name holds one of these (empty: all).
  /// True when the row named `name` is to be measured.
  [[nodiscard]] bool wants(const std::string& name) const {
    if (only.empty()) return true;
    for (const auto& o : only) {
      if (name.find(o) != std::string::npos) return true;
    }
    return false;
  }
};

/// `ring`: core ring vs a bare SPSC ring (same thread, ping-pong, streaming).
/// `scale` multiplies iteration counts (1.0 = full run).
void run_ring(report& out, double scale);

/// `socket`: tier-1 round trip and streaming through pdcd's socket path vs a
/// bare Unix-socket ping-pong. Starts its own pdcd (echo kernel) in a child.
void run_socket(report& out, double scale, const std::string& kernels_dir);

/// `tiers`: the seed's tier table with pdc's numbers (attachments, every
/// tier) beside bare shared-memory, futex and socket ping-pongs and, when
/// installed, Eclipse iceoryx; `opt.reps` interleaved repetitions.
void run_tiers(report& out, const bench_options& opt, const std::string& kernels_dir);

/// `isolation`: process-isolated kernels against the same kernels inside
/// pdcd (round trip and one-way, per tier), the time from a host's crash to
/// the first good reply, and a neighbour's round trip while a kernel crash-loops.
void run_isolation(report& out, const bench_options& opt, const std::string& kernels_dir);

/// `anomaly`: the anomaly kernel on tier 3 in points per second, against
/// the same computation called in-process.
void run_anomaly(report& out, const bench_options& opt, const std::string& kernels_dir);

/// `nats`: the bare NATS anchors of the cluster rows, against a nats-server
/// (`nats_server_binary`) it starts on loopback: request/reply between two
/// processes, batched publishing, JetStream asynchronous publishing.
/// With `kernels_dir` (a pdc-bench built with the daemon), the pdc rows
/// beside them: two pdcd nodes on that server, a request from one node's
/// client to the other's kernel, and streams between them at most and at
/// least once.
void run_nats(report& out, const bench_options& opt, const std::string& nats_server_binary,
              const std::string& kernels_dir);

// Over an attachment to `kernel`: round trips of 64 bytes (the first tenth is
// warm-up), and a one-way stream of `count` in batches ended by a probe
// (sink kernel) in messages per second (bench/tiers_bench.cpp).
histogram attach_round_trip(client& c, const std::string& kernel, std::uint64_t rounds);
double attach_one_way(client& c, const std::string& kernel, std::uint64_t count, std::size_t batch);
// Pipelined echo over an attachment: `count` 64-byte requests, at most `window` unanswered; messages per second.
double attach_echo_stream(client& c, const std::string& kernel, std::uint64_t count, std::uint64_t window);

/// `cuda`: the cuda tier on a GPU: the round trip through the GPU echo
/// kernel beside a bare shared-memory ping-pong, the device's message rate
/// (one-way and pipelined), anomaly detection on the GPU beside tier 3, and
/// what an idle GPU kernel costs the host. Exits 1 saying why when the cuda
/// tier cannot launch (no GPU, or a pdcd built without CUDA).
void run_cuda(report& out, const bench_options& opt, const std::string& kernels_dir);

// The anomaly rows' inputs (1024-sample batches over 64 streams) and the
// points per second through an anomaly kernel, 32 batches in flight (anomaly_bench.cpp).
std::vector<std::vector<std::byte>> anomaly_inputs();
double anomaly_through_pdc(client& c, const std::string& kernel, std::uint64_t batches,
                           const std::vector<std::vector<std::byte>>& inputs);

// Building blocks shared between subcommands (bench/ring_bench.cpp, socket_bench.cpp).
histogram pdc_put_get(std::uint64_t ops);
histogram bare_put_get(std::uint64_t ops);
histogram bare_ping_pong(std::uint64_t rounds);
double bare_stream(std::uint64_t count);
histogram bare_socket_ping_pong(std::uint64_t rounds);

}  // namespace pdc::bench
