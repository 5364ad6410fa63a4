// anomaly: real-time anomaly detection on the CPU tiers (anomaly_core.hpp
// has the request, the reply and the computation, shared with the GPU
// loop). One rolling window per stream, kept by the kernel; each message a
// batch of samples; the reply every sample's score and the flags.
#include <memory>
#include <string>
#include <vector>

#include "anomaly_core.hpp"
#include "pdc/sdk.hpp"

namespace {

class anomaly_kernel {
 public:
  anomaly_kernel(pdc::sdk::context&, std::string_view) : streams_(pdc::anomaly::k_streams) {}

  int on_message(pdc::sdk::context& ctx, const pdc::sdk::message& msg) {
    const auto payload = msg.payload();
    pdc::anomaly::request_header h{};
    if (!pdc::anomaly::parse(payload.data(), static_cast<std::uint32_t>(payload.size()), h)) {
      ctx.log_error("anomaly: a request is u32 stream (< " + std::to_string(pdc::anomaly::k_streams) +
                    "), u32 count (1-" + std::to_string(pdc::anomaly::k_max_batch) + ") and count f32 samples; got " +
                    std::to_string(payload.size()) + " bytes");
      return PDC_E_INVALID_ARGUMENT;
    }
    auto& s = streams_[h.stream];
    if (!s) s = std::make_unique<pdc::anomaly::stream_state>();  // zeroed: an empty window
    reply_.resize(pdc::anomaly::reply_bytes(h.count));
    (void)pdc::anomaly::detect(*s, h, payload.data(), reply_.data(), 0, 1);
    return ctx.reply(msg, reply_);
  }

 private:
  // Streams get their window when their first batch comes (4 KiB each).
  std::vector<std::unique_ptr<pdc::anomaly::stream_state>> streams_;
  std::vector<std::byte> reply_;
};

}  // namespace

PDC_PLUGIN("anomaly", "1.0.0",
           pdc::sdk::kernel_type<anomaly_kernel>(
               "anomaly", "scores each batch of a stream's samples against its rolling window; flags outliers"));
