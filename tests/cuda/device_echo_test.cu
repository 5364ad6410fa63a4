// The cuda tier on a real GPU (docs/cuda.md, "On a GPU"): an attachment
// segment made as pdcd makes it, registered as mapped memory, served by the
// persistent echo loop (kernels/echo_cuda) while this process plays the
// client with the client's own ring views. It checks every reply and
// prints what it measured: the round trip of 64-byte messages, the batched
// one-way rate, that an idle kernel leaves the host alone, and then the
// anomaly loop's points per second on the same attachment. Exit 77 (a
// skip for ctest) when there is no device; 1 on any failure, saying why.
#include <cuda_runtime.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "anomaly_core.hpp"
#include "pdc/core/attachment.hpp"
#include "pdc/cuda.cuh"
#include "pdc/proto/envelope.hpp"

#include "cuda/device_loops.cuh"

namespace {

namespace dev = pdc::cuda;
using clock_type = std::chrono::steady_clock;

int fail(const std::string& why) {
  std::fprintf(stderr, "pdc_cuda_device_test: FAILED: %s\n", why.c_str());
  return 1;
}

bool ok(cudaError_t e, const char* what, std::string& why) {
  if (e == cudaSuccess) return true;
  why = std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  return false;
}

template <typename F>
bool until(F&& done, double seconds) {
  const auto end = clock_type::now() + std::chrono::duration<double>(seconds);
  while (clock_type::now() < end) {
    if (done()) return true;
  }
  return done();
}

std::vector<std::byte> record(std::uint64_t id, std::size_t payload) {
  std::vector<std::byte> r(sizeof(pdc::envelope) + payload, std::byte{0x5a});
  const auto e = pdc::make_envelope(id, static_cast<std::uint32_t>(payload), 1);
  std::memcpy(r.data(), &e, sizeof e);
  return r;
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("skipped: no CUDA device on this machine\n");
    return 77;
  }
  cudaDeviceProp prop{};
  (void)cudaGetDeviceProperties(&prop, 0);
  std::printf("device: %s (compute %d.%d)\n", prop.name, prop.major, prop.minor);
  std::string why;

  // The attachment, as pdcd makes it, and the client's view of it.
  pdc::attachment_geometry g;
  g.request_ring_bytes = 1 << 20;
  g.reply_ring_bytes = 1 << 20;
  g.max_record_bytes = 64 * 1024;
  auto d = pdc::attachment_daemon_view::create("pdc-cuda-test", g, 1);
  if (!d) return fail(d.err().what());
  auto c = pdc::attachment_client_view::open(::dup(d->seg().fd()));
  if (!c) return fail(c.err().what());
  auto* base = const_cast<std::byte*>(reinterpret_cast<const std::byte*>(&d->seg().header()));
  if (!ok(cudaHostRegister(base, d->seg().size_bytes(), cudaHostRegisterMapped | cudaHostRegisterPortable),
          "cudaHostRegister of the attachment segment", why)) {
    return fail(why);
  }
  void* dbase = nullptr;
  if (!ok(cudaHostGetDevicePointer(&dbase, base, 0), "cudaHostGetDevicePointer", why)) return fail(why);
  auto on_device = [&](void* host) { return static_cast<std::byte*>(dbase) + (static_cast<std::byte*>(host) - base); };
  auto ring = [&](std::uint32_t index) {
    pdc::ring_control* ctl = d->seg().control(index);
    const auto& r = d->seg().ring(index);
    return dev::ring_ref{reinterpret_cast<dev::ring_words*>(on_device(ctl)), on_device(ctl + 1), r.capacity_bytes,
                         r.max_record_bytes, 0};
  };

  // The control block and the table in mapped memory, the cursors on the device.
  dev::control_block* cb = nullptr;
  dev::mailbox_table* table = nullptr;
  dev::mailbox_cursor* cursors = nullptr;
  if (!ok(cudaHostAlloc(&cb, sizeof *cb, cudaHostAllocMapped), "cudaHostAlloc (control block)", why) ||
      !ok(cudaHostAlloc(&table, sizeof *table, cudaHostAllocMapped), "cudaHostAlloc (table)", why) ||
      !ok(cudaMalloc(&cursors, sizeof(dev::mailbox_cursor) * dev::k_max_mailboxes), "cudaMalloc (cursors)", why) ||
      !ok(cudaMemset(cursors, 0, sizeof(dev::mailbox_cursor) * dev::k_max_mailboxes), "cudaMemset", why)) {
    return fail(why);
  }
  std::memset(static_cast<void*>(cb), 0, sizeof *cb);
  std::memset(static_cast<void*>(table), 0, sizeof *table);
  table->slots[0] = dev::mailbox{ring(pdc::k_attachment_request_ring), ring(pdc::k_attachment_reply_ring), 1, 0};
  dev::control_block* dcb = nullptr;
  dev::mailbox_table* dtable = nullptr;
  if (!ok(cudaHostGetDevicePointer(reinterpret_cast<void**>(&dcb), cb, 0), "device pointer (control block)", why) ||
      !ok(cudaHostGetDevicePointer(reinterpret_cast<void**>(&dtable), table, 0), "device pointer (table)", why)) {
    return fail(why);
  }
  dev::store_release(&cb->table_generation, std::uint64_t{1});
  dev::store_release(&cb->run_state, static_cast<std::uint32_t>(dev::k_run_active));

  cudaStream_t stream{};
  if (!ok(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate", why)) return fail(why);
  const auto t_launch = clock_type::now();
  pdc_cuda_echo_loop<<<1, 32, 0, stream>>>(dcb, dtable, cursors);
  if (!ok(cudaGetLastError(), "launching the persistent loop", why)) return fail(why);
  if (!until([&] { return dev::load_acquire(&cb->table_seen) == 1; }, 10.0)) {
    return fail("the loop did not take the mailbox table within 10 s (" +
                std::string(cudaGetErrorName(cudaStreamQuery(stream))) + ")");
  }
  const double start_ms = std::chrono::duration<double, std::milli>(clock_type::now() - t_launch).count();

  // Round trips, 64-byte payloads, one at a time; the client spins.
  constexpr int k_rounds = 20000;
  std::vector<double> rtt;
  rtt.reserve(k_rounds);
  auto& requests = c->requests();
  auto& replies = c->replies();
  for (int i = 1; i <= k_rounds; ++i) {
    const auto r = record(static_cast<std::uint64_t>(i), 64);
    const auto t0 = clock_type::now();
    if (requests.try_push(r) != pdc::errc::ok) return fail("request ring full at round " + std::to_string(i));
    pdc::read_slot slot;
    if (!until([&] { return static_cast<bool>(slot = replies.try_peek()); }, 5.0)) {
      return fail("no reply to round " + std::to_string(i) + " within 5 s (device error " + std::to_string(cb->error) +
                  ", broken " + std::to_string(table->states[0].broken) + ")");
    }
    const auto t1 = clock_type::now();
    pdc::envelope env;
    if (!pdc::read_envelope(slot.bytes, env) || env.correlation_id() != static_cast<std::uint64_t>(i) ||
        env.payload_length() != 64 || std::memcmp(slot.bytes.data() + sizeof env, r.data() + sizeof env, 64) != 0) {
      return fail("reply " + std::to_string(i) + " is not the request's echo");
    }
    replies.release();
    replies.flush_release();
    if (i > k_rounds / 10) rtt.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(rtt.begin(), rtt.end());
  const double p50 = rtt[rtt.size() / 2], p99 = rtt[rtt.size() * 99 / 100];

  // One-way rate: batches of 64 published with one commit each, replies
  // drained as they come (the device answers every one).
  constexpr std::uint64_t k_stream = 2'000'000;
  const auto rec = record(0, 64);
  std::uint64_t sent = 0, got = 0;
  const auto s0 = clock_type::now();
  while (got < k_stream) {
    for (int b = 0; b < 64 && sent < k_stream; ++b) {
      auto w = requests.try_reserve(rec.size());
      if (!w) break;
      std::memcpy(w.bytes.data(), rec.data(), rec.size());
      ++sent;
    }
    requests.commit();
    got += replies.drain([](std::span<const std::byte>) {}, 4096);
    if (clock_type::now() - s0 > std::chrono::seconds(60)) return fail("the stream did not finish within 60 s");
  }
  const double rate = static_cast<double>(k_stream) / std::chrono::duration<double>(clock_type::now() - s0).count();

  // Idle: the loop backs off and says so; this process sleeps meanwhile.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const std::uint64_t beat0 = dev::load_relaxed(&cb->heartbeat);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::uint64_t beats = dev::load_relaxed(&cb->heartbeat) - beat0;
  const std::uint32_t idle = dev::load_acquire(&cb->idle);

  // Terminate, bounded: the flag, the stopped word, then the stream.
  const auto q0 = clock_type::now();
  dev::store_release(&cb->run_state, static_cast<std::uint32_t>(dev::k_run_terminate));
  if (!until([&] { return dev::load_acquire(&cb->stopped) == 1; }, 5.0)) return fail("the loop did not stop in 5 s");
  if (!ok(cudaStreamSynchronize(stream), "the persistent loop", why)) return fail(why);
  const double stop_us = std::chrono::duration<double, std::micro>(clock_type::now() - q0).count();
  const auto echo_processed = cb->processed;

  // Anomaly detection on the same attachment: a fresh loop (control block
  // and cursors zeroed; the rings go on where they were), the streams'
  // windows in device memory, 1024-sample batches kept 32 in flight.
  pdc::anomaly::stream_state* states = nullptr;
  if (!ok(cudaMalloc(&states, sizeof(pdc::anomaly::stream_state) * pdc::anomaly::k_streams), "cudaMalloc (windows)",
          why) ||
      !ok(cudaMemset(states, 0, sizeof(pdc::anomaly::stream_state) * pdc::anomaly::k_streams), "cudaMemset", why) ||
      !ok(cudaMemset(cursors, 0, sizeof(dev::mailbox_cursor) * dev::k_max_mailboxes), "cudaMemset", why)) {
    return fail(why);
  }
  std::memset(static_cast<void*>(cb), 0, sizeof *cb);
  dev::store_release(&cb->table_generation, std::uint64_t{1});
  dev::store_release(&cb->run_state, static_cast<std::uint32_t>(dev::k_run_active));
  pdc_cuda_anomaly_loop<<<1, 32, 0, stream>>>(dcb, dtable, cursors, states);
  if (!ok(cudaGetLastError(), "launching the anomaly loop", why)) return fail(why);
  if (!until([&] { return dev::load_acquire(&cb->table_seen) == 1; }, 10.0))
    return fail("the anomaly loop did not start");
  constexpr std::uint32_t k_points = 1024;
  constexpr std::uint64_t k_batches = 20000;
  std::vector<std::vector<std::byte>> batches;
  for (std::uint32_t b = 0; b < 64; ++b) {
    std::vector<std::byte> r(sizeof(pdc::envelope) + 8 + 4 * k_points);
    const auto e = pdc::make_envelope(b + 1, 8 + 4 * k_points, 1);
    std::memcpy(r.data(), &e, sizeof e);
    const std::uint32_t h[2] = {b, k_points};
    std::memcpy(r.data() + sizeof e, h, 8);
    for (std::uint32_t i = 0; i < k_points; ++i) {
      const float x = 10.0F + std::sin(static_cast<float>(b * k_points + i) * 0.01F);
      std::memcpy(r.data() + sizeof e + 8 + 4 * i, &x, 4);
    }
    batches.push_back(std::move(r));
  }
  std::uint64_t bsent = 0, bgot = 0;
  const auto a0 = clock_type::now();
  while (bgot < k_batches) {
    while (bsent < k_batches && bsent - bgot < 32) {
      if (requests.try_push(batches[bsent % batches.size()]) != pdc::errc::ok) break;
      ++bsent;
    }
    bgot += replies.drain(
        [&](std::span<const std::byte> b) {
          if (b.size() != sizeof(pdc::envelope) + pdc::anomaly::reply_bytes(k_points))
            why = "an anomaly reply of the wrong size";
        },
        64);
    if (!why.empty()) return fail(why);
    if (clock_type::now() - a0 > std::chrono::seconds(60)) return fail("the anomaly run did not finish within 60 s");
  }
  const double points =
      static_cast<double>(k_batches * k_points) / std::chrono::duration<double>(clock_type::now() - a0).count();
  dev::store_release(&cb->run_state, static_cast<std::uint32_t>(dev::k_run_terminate));
  if (!until([&] { return dev::load_acquire(&cb->stopped) == 1; }, 5.0)) return fail("the anomaly loop did not stop");
  if (!ok(cudaStreamSynchronize(stream), "the anomaly loop", why)) return fail(why);

  std::printf("| row | result |\n|---|---|\n");
  std::printf("| loop start (launch to table taken) | %.2f ms |\n", start_ms);
  std::printf("| client -> GPU echo -> client round trip, 64 B, spinning client | p50 %.2f us, p99 %.2f us |\n", p50,
              p99);
  std::printf("| one-way 64 B, batches of 64, every reply drained | %.2f M msg/s |\n", rate / 1e6);
  std::printf("| idle loop: rounds in 100 ms, idle word | %llu rounds, idle = %u |\n",
              static_cast<unsigned long long>(beats), idle);
  std::printf("| terminate (flag to stream done) | %.1f us |\n", stop_us);
  std::printf("| anomaly detection, 1024-sample batches, 32 in flight | %.1f M points/s |\n", points / 1e6);
  std::printf("messages handled by the device: echo %llu, anomaly %llu\n",
              static_cast<unsigned long long>(echo_processed), static_cast<unsigned long long>(cb->processed));
  (void)cudaHostUnregister(base);
  return idle == 1 ? 0 : fail("the idle loop did not set its idle word");
}
