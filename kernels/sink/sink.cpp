// sink: counts messages and answers none of them, except a probe (type id 1),
// which gets the count so far as an int64. For one-way throughput: stream
// messages, then send one probe and wait for its reply.
#include <atomic>

#include "pdc/sdk.hpp"

namespace {

constexpr std::uint32_t k_probe_type = 1;

class sink_kernel {
 public:
  int on_message(pdc::sdk::context& ctx, const pdc::sdk::message& msg) {
    // Atomic: on the pool tier several workers may count at once.
    const auto seen = count_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (msg.type_id() != k_probe_type) return PDC_OK;
    return ctx.reply(msg, pdc::sdk::to_le_bytes(static_cast<std::int64_t>(seen)));
  }

 private:
  std::atomic<std::uint64_t> count_{0};
};

}  // namespace

PDC_PLUGIN("sink", "1.0.0",
           pdc::sdk::kernel_type<sink_kernel>("sink", "counts messages; replies only to a probe (type id 1)",
                                              {.concurrent = true}));
