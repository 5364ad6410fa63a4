// counter: a stateful kernel. Each kernel counts the messages it handled and
// replies with the count so far as an int64 (little-endian). The count lives
// in the kernel object, made by create and freed by destroy, so two kernels
// of this type count independently.
#include <charconv>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "pdc/sdk.hpp"

namespace {

class counter_kernel {
 public:
  // config: an optional starting count (decimal); "" starts at 0.
  explicit counter_kernel(std::string_view config) : count_(parse_start(config)) {}

  int on_message(pdc::sdk::context& ctx, const pdc::sdk::message& msg) {
    ++count_;
    return ctx.reply(msg, pdc::sdk::to_le_bytes(count_));
  }

 private:
  static std::int64_t parse_start(std::string_view config) {
    std::int64_t value = 0;
    if (config.empty()) return value;
    const auto* end = config.data() + config.size();
    const auto [ptr, ec] = std::from_chars(config.data(), end, value);
    if (ec != std::errc{} || ptr != end) {
      // Thrown inside create: the SDK turns it into PDC_E_PLUGIN and logs this text.
      throw std::invalid_argument("counter: config must be a starting count (decimal integer), got '" +
                                  std::string(config) + "'");
    }
    return value;
  }

  std::int64_t count_;
};

}  // namespace

PDC_PLUGIN("counter", "1.0.0",
           pdc::sdk::kernel_type<counter_kernel>("counter", "replies with the number of messages seen so far (int64)"));
