// The anomaly kernel's computation (kernels/anomaly/anomaly_core.hpp), as
// the CPU plugin runs it (one lane): warm-up, a spike flagged alone, a
// level shift absorbed as the window rolls, NaN flagged, and every
// malformed request refused.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "anomaly_core.hpp"

namespace pdc::test {
namespace {

namespace an = pdc::anomaly;

std::vector<std::byte> request(std::uint32_t stream, const std::vector<float>& samples) {
  std::vector<std::byte> r(8 + 4 * samples.size());
  const an::request_header h{stream, static_cast<std::uint32_t>(samples.size())};
  std::memcpy(r.data(), &h, sizeof h);
  if (!samples.empty()) std::memcpy(r.data() + 8, samples.data(), 4 * samples.size());
  return r;
}

struct result {
  std::uint32_t stream = 0, flagged = 0;
  std::vector<float> scores;
  std::vector<bool> flags;
};

result run(an::stream_state& s, const std::vector<float>& samples, std::uint32_t stream = 3) {
  const auto req = request(stream, samples);
  an::request_header h{};
  EXPECT_TRUE(an::parse(req.data(), static_cast<std::uint32_t>(req.size()), h));
  std::vector<std::byte> out(an::reply_bytes(h.count));
  const auto flagged = an::detect(s, h, req.data(), out.data(), 0, 1);
  result r;
  std::memcpy(&r.stream, out.data(), 4);
  std::memcpy(&r.flagged, out.data() + 4, 4);
  EXPECT_EQ(r.flagged, flagged);
  r.scores.resize(h.count);
  std::memcpy(r.scores.data(), out.data() + 8, 4 * h.count);
  for (std::uint32_t i = 0; i < h.count; ++i) {
    r.flags.push_back((static_cast<unsigned>(out[8 + 4 * h.count + i / 8]) >> (i % 8) & 1U) != 0);
  }
  return r;
}

// A signal around `level`: a deterministic ripple of amplitude 1.
std::vector<float> ripple(std::size_t n, float level, std::size_t phase = 0) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = level + std::sin(static_cast<float>(i + phase) * 0.7F);
  return v;
}

TEST(Anomaly, TheFirstSamplesOnlyWarmTheWindowUp) {
  auto s = std::make_unique<an::stream_state>();
  const auto r = run(*s, {1, 2, 1000, 3});
  EXPECT_EQ(r.stream, 3U);
  EXPECT_EQ(r.flagged, 0U);
  for (float x : r.scores) EXPECT_EQ(x, 0.0F);
  EXPECT_EQ(s->filled, 4U);
}

TEST(Anomaly, ASpikeIsFlaggedAloneAndScored) {
  auto s = std::make_unique<an::stream_state>();
  for (int b = 0; b < 8; ++b) (void)run(*s, ripple(256, 10, static_cast<std::size_t>(b) * 256));
  auto batch = ripple(100, 10, 7);
  batch[37] = 30;  // about 28 deviations out
  const auto r = run(*s, batch);
  EXPECT_EQ(r.flagged, 1U);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    EXPECT_EQ(r.flags[i], i == 37) << i;
    if (i != 37) {
      EXPECT_LT(r.scores[i], an::k_threshold) << i;
    }
  }
  EXPECT_GT(r.scores[37], 20.0F);
}

TEST(Anomaly, ALevelShiftIsFlaggedThenAbsorbedAsTheWindowRolls) {
  auto s = std::make_unique<an::stream_state>();
  for (int b = 0; b < 4; ++b) (void)run(*s, ripple(512, 0));
  EXPECT_EQ(run(*s, ripple(64, 50)).flagged, 64U);  // all new: all flagged
  // Once the window holds only the new level, it is normal.
  for (int b = 0; b < 4; ++b) (void)run(*s, ripple(512, 50));
  EXPECT_EQ(s->filled, an::k_window);
  EXPECT_EQ(run(*s, ripple(64, 50, 3)).flagged, 0U);
}

TEST(Anomaly, ABatchLargerThanTheWindowKeepsItsLastSamples) {
  auto s = std::make_unique<an::stream_state>();
  std::vector<float> big(an::k_window * 3, 1.0F);
  for (std::size_t i = 0; i < an::k_window; ++i) big[big.size() - an::k_window + i] = 7.0F;
  (void)run(*s, big);
  EXPECT_EQ(s->filled, an::k_window);
  for (float x : s->window) EXPECT_EQ(x, 7.0F);
}

TEST(Anomaly, NotANumberIsFlagged) {
  auto s = std::make_unique<an::stream_state>();
  (void)run(*s, ripple(256, 5));
  auto batch = ripple(16, 5);
  batch[2] = std::nanf("");
  batch[9] = INFINITY;
  const auto r = run(*s, batch);
  EXPECT_TRUE(r.flags[2]);
  EXPECT_TRUE(r.flags[9]);
  EXPECT_EQ(r.flagged, 2U);
}

TEST(Anomaly, MalformedRequestsAreRefused) {
  an::request_header h{};
  const std::byte tiny[4] = {};
  EXPECT_FALSE(an::parse(tiny, sizeof tiny, h));
  auto r = request(an::k_streams, {1});  // no such stream
  EXPECT_FALSE(an::parse(r.data(), static_cast<std::uint32_t>(r.size()), h));
  r = request(0, {});  // no samples
  EXPECT_FALSE(an::parse(r.data(), static_cast<std::uint32_t>(r.size()), h));
  r = request(0, {1, 2, 3});
  EXPECT_FALSE(an::parse(r.data(), static_cast<std::uint32_t>(r.size() - 1), h));  // length disagrees with count
  EXPECT_TRUE(an::parse(r.data(), static_cast<std::uint32_t>(r.size()), h));
  r = request(0, std::vector<float>(an::k_max_batch + 1, 0.0F));
  EXPECT_FALSE(an::parse(r.data(), static_cast<std::uint32_t>(r.size()), h));
}

}  // namespace
}  // namespace pdc::test
