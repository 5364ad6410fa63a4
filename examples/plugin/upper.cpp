// upper: replies with the payload in upper case (ASCII letters only).
#include <cctype>
#include <span>
#include <string>

#include "pdc/sdk.hpp"

namespace {

class upper_kernel {
 public:
  int on_message(pdc::sdk::context& ctx, const pdc::sdk::message& msg) {
    std::string text(reinterpret_cast<const char*>(msg.payload().data()), msg.size());
    for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return ctx.reply(msg, std::as_bytes(std::span(text)), msg.type_id());
  }
};

}  // namespace

PDC_PLUGIN("upper", "1.0.0",
           pdc::sdk::kernel_type<upper_kernel>("upper", "replies with the payload in upper case",
                                               {.concurrent = true}));
