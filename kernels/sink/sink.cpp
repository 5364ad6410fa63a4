// sink: counts messages and answers none of them, except a probe (type id 1),
// which gets the count so far as an int64. For one-way throughput: stream
// messages, then send one probe and wait for its reply. One worker counts
// (the type does not declare PDC_KERNEL_CONCURRENT), so a plain integer does.
#include <cstdint>

#include "pdc/sdk.hpp"

namespace {

constexpr std::uint32_t k_probe_type = 1;

class sink_kernel {
 public:
  int on_message(pdc::sdk::context& ctx, const pdc::sdk::message& msg) {
    ++count_;
    if (msg.type_id() != k_probe_type) return PDC_OK;
    return ctx.reply(msg, pdc::sdk::to_le_bytes(static_cast<std::int64_t>(count_)));
  }

 private:
  std::uint64_t count_ = 0;
};

}  // namespace

PDC_PLUGIN("sink", "1.0.0",
           pdc::sdk::kernel_type<sink_kernel>("sink", "counts messages; replies only to a probe (type id 1)"));
