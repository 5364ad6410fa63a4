// echo_loop: echo written in loop style. run() owns its thread and pulls
// messages with receive() until the kernel terminates, so it runs on the
// threaded and spin tiers only (the daemon refuses it on tier 1).
#include "pdc/sdk.hpp"

namespace {

class echo_loop_kernel {
 public:
  int run(pdc::sdk::context& ctx) {
    auto inbox = ctx.messages();
    for (const pdc::sdk::message& msg : inbox) {
      // A full reply queue drops the reply (the host counts it); keep serving the others.
      ctx.reply(msg, msg.payload(), msg.type_id());
    }
    return inbox.status();
  }
};

}  // namespace

PDC_PLUGIN("echo_loop", "1.0.0",
           pdc::sdk::kernel_type<echo_loop_kernel>("echo_loop", "echo in loop style (receive until terminated)",
                                                   {.concurrent = true}));
