// pdc-bench ring: the core ring against a bare 40-line SPSC ring, same run.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "bare_ring.hpp"
#include "benches.hpp"
#include "pdc/core/clock.hpp"
#include "pdc/core/segment.hpp"
#include "pinning.hpp"

namespace pdc::bench {
namespace {

constexpr std::size_t k_msg = 64;

struct shared_flags {
  alignas(128) std::atomic<std::uint32_t> go{0};
};

// Memory shared with a forked child (anonymous, MAP_SHARED).
template <typename T>
T* map_shared() {
  void* p = ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("mmap");
    std::exit(1);
  }
  return new (p) T{};
}

template <typename F>
pid_t spawn(F&& child) {
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("fork");
    std::exit(1);
  }
  if (pid == 0) {
    pin_server_side();
    child();
    ::_exit(0);
  }
  return pid;
}

void reap(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) std::fprintf(stderr, "warning: benchmark child failed\n");
}

segment make_segment(std::uint32_t rings) {
  const std::array<ring_spec, 2> specs{ring_spec{1 << 16, 4096}, ring_spec{1 << 16, 4096}};
  auto seg = segment::create("pdc-bench", std::span(specs).first(rings));
  if (!seg) {
    std::fprintf(stderr, "segment: %s\n", seg.err().what().c_str());
    std::exit(1);
  }
  return std::move(seg).value();
}

// ---- same thread put+get ----------------------------------------------------

// ---- cross-process ping-pong (spinning) -------------------------------------

histogram pdc_ping_pong(std::uint64_t rounds) {
  auto seg = make_segment(2);
  const pid_t pid = spawn([&] {
    auto mine = segment::open(::dup(seg.fd()));
    if (!mine) ::_exit(2);
    auto in = mine->consumer(0);
    auto out = mine->producer(1);
    for (std::uint64_t i = 0; i < rounds; ++i) {
      if (in.wait_for_data(idle_strategy::spin(), deadline::after_ns(10'000'000'000)) != errc::ok) ::_exit(3);
      auto r = in.try_peek();
      auto w = out.try_reserve(r.bytes.size());
      std::memcpy(w.bytes.data(), r.bytes.data(), r.bytes.size());
      out.commit();
      in.release();
      in.flush_release();
    }
  });
  auto out = seg.producer(0);
  auto in = seg.consumer(1);
  std::array<std::byte, k_msg> msg{};
  histogram h;
  for (std::uint64_t i = 0; i < rounds; ++i) {
    const auto t0 = now_ns();
    auto w = out.try_reserve(k_msg);
    std::memcpy(w.bytes.data(), msg.data(), k_msg);
    out.commit();
    if (in.wait_for_data(idle_strategy::spin(), deadline::after_ns(10'000'000'000)) != errc::ok) break;
    auto r = in.try_peek();
    std::memcpy(msg.data(), r.bytes.data(), k_msg);
    in.release();
    in.flush_release();
    if (i >= rounds / 10) h.record(now_ns() - t0);  // first 10%: warm-up
  }
  reap(pid);
  return h;
}

// ---- cross-process one-way streaming ----------------------------------------

double pdc_stream(std::uint64_t count, std::size_t batch) {
  auto seg = make_segment(1);
  auto* flags = map_shared<shared_flags>();
  const pid_t pid = spawn([&] {
    auto mine = segment::open(::dup(seg.fd()));
    if (!mine) ::_exit(2);
    auto out = mine->producer(0);
    std::array<std::byte, k_msg> msg{};
    while (flags->go.load(std::memory_order_acquire) == 0) cpu_relax();
    std::uint64_t sent = 0;
    while (sent < count) {
      std::size_t n = 0;
      for (; n < batch && sent + n < count; ++n) {
        auto w = out.try_reserve(k_msg);
        if (!w) break;
        std::memcpy(w.bytes.data(), msg.data(), k_msg);
      }
      if (n == 0) {
        cpu_relax();
        continue;
      }
      out.commit();
      sent += n;
    }
  });
  auto in = seg.consumer(0);
  std::uint64_t got = 0;
  std::uint64_t sink = 0;
  flags->go.store(1, std::memory_order_release);
  const auto t0 = now_ns();
  while (got < count) {
    const auto n = in.drain([&](std::span<const std::byte> b) { sink += static_cast<std::uint64_t>(b[0]); }, 256);
    if (n == 0) cpu_relax();
    got += n;
  }
  const auto t1 = now_ns();
  reap(pid);
  ::munmap(flags, sizeof(shared_flags));
  if (sink != 0) std::fprintf(stderr, "unexpected payload\n");
  return static_cast<double>(count) * 1e9 / static_cast<double>(t1 - t0);
}

}  // namespace

void run_ring(report& out, double scale) {
  const auto n = [&](double v) { return static_cast<std::uint64_t>(v * scale); };
  out.add(latency_row("ring put+get same thread 64B (bare)", bare_put_get(n(10e6))));
  auto r = latency_row("ring put+get same thread 64B (pdc)", pdc_put_get(n(10e6)));
  r.baseline = "ring put+get same thread 64B (bare)";
  out.add(r);

  out.add(latency_row("ring ping-pong xproc spin 64B (bare)", bare_ping_pong(n(1e6))));
  r = latency_row("ring ping-pong xproc spin 64B (pdc)", pdc_ping_pong(n(1e6)));
  r.baseline = "ring ping-pong xproc spin 64B (bare)";
  out.add(r);

  out.add(throughput_row("ring stream xproc 64B (bare, unbatched)", bare_stream(n(20e6))));
  auto t = throughput_row("ring stream xproc 64B (pdc, batch 64)", pdc_stream(n(20e6), 64));
  t.baseline = "ring stream xproc 64B (bare, unbatched)";
  out.add(t);
  t = throughput_row("ring stream xproc 64B (pdc, unbatched)", pdc_stream(n(20e6), 1));
  t.baseline = "ring stream xproc 64B (bare, unbatched)";
  out.add(t);
}

histogram pdc_put_get(std::uint64_t ops) {
  auto seg = make_segment(1);
  auto p = seg.producer(0);
  auto c = seg.consumer(0);
  std::array<std::byte, k_msg> msg{};
  std::array<std::byte, k_msg> out{};
  histogram h;
  constexpr std::uint64_t k_chunk = 1000;
  for (std::uint64_t done = 0; done < ops; done += k_chunk) {
    const auto t0 = now_ns();
    for (std::uint64_t i = 0; i < k_chunk; ++i) {
      auto w = p.try_reserve(k_msg);
      std::memcpy(w.bytes.data(), msg.data(), k_msg);
      p.commit();
      auto r = c.try_peek();
      std::memcpy(out.data(), r.bytes.data(), k_msg);
      c.release();
      c.flush_release();
    }
    h.record((now_ns() - t0) / k_chunk);
  }
  return h;
}

histogram bare_put_get(std::uint64_t ops) {
  auto* ring = map_shared<bare_ring>();
  std::array<std::byte, k_msg> msg{};
  std::array<std::byte, k_msg> out{};
  histogram h;
  constexpr std::uint64_t k_chunk = 1000;
  for (std::uint64_t done = 0; done < ops; done += k_chunk) {
    const auto t0 = now_ns();
    for (std::uint64_t i = 0; i < k_chunk; ++i) {
      ring->try_push(msg.data());
      ring->try_pop(out.data());
    }
    h.record((now_ns() - t0) / k_chunk);
  }
  ::munmap(ring, sizeof(bare_ring));
  return h;
}

histogram bare_ping_pong(std::uint64_t rounds) {
  auto* ping = map_shared<bare_ring>();
  auto* pong = map_shared<bare_ring>();
  const pid_t pid = spawn([&] {
    std::array<std::byte, k_msg> buf{};
    for (std::uint64_t i = 0; i < rounds; ++i) {
      while (!ping->try_pop(buf.data())) cpu_relax();
      while (!pong->try_push(buf.data())) cpu_relax();
    }
  });
  std::array<std::byte, k_msg> msg{};
  histogram h;
  for (std::uint64_t i = 0; i < rounds; ++i) {
    const auto t0 = now_ns();
    while (!ping->try_push(msg.data())) cpu_relax();
    while (!pong->try_pop(msg.data())) cpu_relax();
    if (i >= rounds / 10) h.record(now_ns() - t0);
  }
  reap(pid);
  ::munmap(ping, sizeof(bare_ring));
  ::munmap(pong, sizeof(bare_ring));
  return h;
}

double bare_stream(std::uint64_t count) {
  auto* ring = map_shared<bare_ring>();
  auto* flags = map_shared<shared_flags>();
  const pid_t pid = spawn([&] {
    std::array<std::byte, k_msg> msg{};
    while (flags->go.load(std::memory_order_acquire) == 0) cpu_relax();
    for (std::uint64_t i = 0; i < count; ++i) {
      while (!ring->try_push(msg.data())) cpu_relax();
    }
  });
  std::array<std::byte, k_msg> out{};
  flags->go.store(1, std::memory_order_release);
  const auto t0 = now_ns();
  for (std::uint64_t i = 0; i < count; ++i) {
    while (!ring->try_pop(out.data())) cpu_relax();
  }
  const auto t1 = now_ns();
  reap(pid);
  ::munmap(ring, sizeof(bare_ring));
  ::munmap(flags, sizeof(shared_flags));
  return static_cast<double>(count) * 1e9 / static_cast<double>(t1 - t0);
}

}  // namespace pdc::bench
