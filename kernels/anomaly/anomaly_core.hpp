// Real-time anomaly detection, the computation shared by the CPU plugin
// (anomaly.cpp, every CPU tier) and the GPU loop (anomaly_device.cu): one
// rolling window per stream, kept where the kernel runs; each message a
// batch of samples of one stream; the reply every sample's score and the
// flags of those past the threshold (docs/kernels.md, "anomaly").
//
// A batch is scored against the window as it was when the batch came (the
// mean and deviation of the stream's last k_window samples), then its
// samples enter the window. Scoring a batch against one state is what lets
// the lanes of a warp score its samples together; the CPU does the same
// with one lane, so both give the same answers.
//
// Request (little-endian): u32 stream (< k_streams), u32 count (1..k_max_batch),
// count f32 samples. Reply: u32 stream, u32 flagged, count f32 scores
// (|x - mean| / deviation; 0 while the window holds fewer than k_warmup
// samples), then ceil(count / 8) bytes of flags (bit i%8 of byte i/8: sample i).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "pdc/cuda.cuh"

namespace pdc::anomaly {

inline constexpr std::uint32_t k_window = 1024;
inline constexpr std::uint32_t k_streams = 1024;
inline constexpr std::uint32_t k_max_batch = 16384;
inline constexpr std::uint32_t k_warmup = 32;
inline constexpr float k_threshold = 4.0F;

/// One stream's window (4 KiB and two words).
struct stream_state {
  float window[k_window];
  std::uint32_t next;    ///< Where the next sample goes.
  std::uint32_t filled;  ///< Samples held (at most k_window).
};

struct request_header {
  std::uint32_t stream;
  std::uint32_t count;
};

PDC_HD constexpr std::uint32_t reply_bytes(std::uint32_t count) noexcept {
  return 8 + 4 * count + (count + 7) / 8;
}

/// The request's header, checked against its length: false when it is not a request.
PDC_HD inline bool parse(const std::byte* payload, std::uint32_t length, request_header& h) noexcept {
  if (length < sizeof h) return false;
  std::memcpy(&h, payload, sizeof h);
  return h.stream < k_streams && h.count >= 1 && h.count <= k_max_batch && length == sizeof h + 4ULL * h.count;
}

/// The sum of `v` over the warp's lanes (the host's one lane: itself).
PDC_HD inline float lanes_sum(float v) noexcept {
#if defined(__CUDA_ARCH__)
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffU, v, offset);
#endif
  return v;
}
PDC_HD inline std::uint32_t lanes_sum(std::uint32_t v) noexcept {
#if defined(__CUDA_ARCH__)
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffU, v, offset);
#endif
  return v;
}

/// Scores a checked request against `s`, writes the reply into `out`
/// (reply_bytes(h.count) of them; null: no reply wanted, the window still
/// moves on), and returns how many samples were flagged. Run by every lane
/// of a warp (lane of lanes), or by one.
PDC_HD inline std::uint32_t detect(stream_state& s, const request_header& h, const std::byte* payload, std::byte* out,
                                   std::uint32_t lane, std::uint32_t lanes) noexcept {
  const std::byte* samples = payload + sizeof h;
  // The window's mean and deviation, as the batch found them.
  float sum = 0, sumsq = 0;
  for (std::uint32_t i = lane; i < s.filled; i += lanes) {
    const float x = s.window[i];
    sum += x;
    sumsq += x * x;
  }
  sum = lanes_sum(sum);
  sumsq = lanes_sum(sumsq);
  const bool warm = s.filled >= k_warmup;
  const float n = s.filled == 0 ? 1.0F : static_cast<float>(s.filled);
  const float mean = sum / n;
  const float var = sumsq / n - mean * mean;
  const float dev = var > 1e-12F ? std::sqrt(var) : 1e-6F;
  // Scores and flags, eight samples (one flag byte) per lane at a time.
  std::uint32_t flagged = 0;
  std::byte* scores = out != nullptr ? out + 8 : nullptr;
  std::byte* flags = out != nullptr ? out + 8 + 4 * h.count : nullptr;
  const std::uint32_t bytes = (h.count + 7) / 8;
  for (std::uint32_t b = lane; b < bytes; b += lanes) {
    unsigned bits = 0;
    for (std::uint32_t i = 8 * b; i < 8 * b + 8 && i < h.count; ++i) {
      float x;
      std::memcpy(&x, samples + 4 * i, 4);
      const float score = warm ? std::fabs(x - mean) / dev : 0.0F;
      // NaN and infinities score as they are and are flagged (not a number is not normal).
      const bool flag = warm && !(score <= k_threshold);
      if (flag) {
        bits |= 1U << (i % 8);
        ++flagged;
      }
      if (scores != nullptr) std::memcpy(scores + 4 * i, &score, 4);
    }
    if (flags != nullptr) flags[b] = static_cast<std::byte>(bits);
  }
  flagged = lanes_sum(flagged);
  pdc::cuda::lanes_sync();
  // The batch enters the window (only its last k_window samples matter).
  const std::uint32_t first = h.count > k_window ? h.count - k_window : 0;
  for (std::uint32_t i = first + lane; i < h.count; i += lanes) {
    float x;
    std::memcpy(&x, samples + 4 * i, 4);
    s.window[(s.next + (i - first)) % k_window] = x;
  }
  pdc::cuda::lanes_sync();
  if (lane == 0) {
    const std::uint32_t added = h.count - first;
    s.next = (s.next + added) % k_window;
    s.filled = s.filled + added > k_window ? k_window : s.filled + added;
    if (out != nullptr) {
      std::memcpy(out, &h.stream, 4);
      std::memcpy(out + 4, &flagged, 4);
    }
  }
  pdc::cuda::lanes_sync();
  return flagged;
}

}  // namespace pdc::anomaly
