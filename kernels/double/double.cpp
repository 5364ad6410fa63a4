// double: the seed's processor. The payload is an int64 (8 bytes, little-endian);
// the reply is the value times two, in the same format.
#include <cstdint>
#include <string>

#include "pdc/sdk.hpp"

namespace {

class double_kernel {
 public:
  int on_message(pdc::sdk::context& ctx, const pdc::sdk::message& msg) {
    const auto value = pdc::sdk::read_le<std::int64_t>(msg.payload());
    if (!value) {
      ctx.log_error("double: payload must be 8 bytes (an int64, little-endian), got " + std::to_string(msg.size()) +
                    " bytes");
      return PDC_E_INVALID_ARGUMENT;
    }
    // Doubling in unsigned arithmetic wraps instead of overflowing (signed overflow is undefined).
    const auto doubled = static_cast<std::int64_t>(static_cast<std::uint64_t>(*value) * 2U);
    return ctx.reply(msg, pdc::sdk::to_le_bytes(doubled));
  }
};

}  // namespace

PDC_PLUGIN("double", "1.0.0",
           pdc::sdk::kernel_type<double_kernel>("double", "replies with an int64 (little-endian) times two",
                                                {.concurrent = true}));
