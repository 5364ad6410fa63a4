// echo: replies with the payload unchanged (and the same type id). Runs on every CPU tier.
#include "pdc/sdk.hpp"

namespace {

class echo_kernel {
 public:
  int on_message(pdc::sdk::context& ctx, const pdc::sdk::message& msg) {
    return ctx.reply(msg, msg.payload(), msg.type_id());
  }
};

}  // namespace

PDC_PLUGIN("echo", "1.0.0",
           pdc::sdk::kernel_type<echo_kernel>("echo", "replies with the payload unchanged", {.concurrent = true}));
