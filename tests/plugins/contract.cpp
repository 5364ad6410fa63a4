// contract: a kernel that makes the host calls a test names and answers with
// their return codes, so one test can check that every tier answers the same
// call the same way. The payload is a command:
//   "send_to:<id>"  send_to(<id>, "x"), reply with the code
//   "emit"          emit("x"), reply with the code
//   "big"           reply with more than the kernel's max message, then with that code
//   "fail"          return PDC_E_PLUGIN without replying (the sender must get an error)
//   "twice"         reply twice (the sender sees two replies)
//   "sleep:<ms>"    block for <ms>, then reply "slept" (threaded tiers only)
//   other           echo
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "pdc/sdk.hpp"

namespace {

class contract_kernel {
 public:
  int on_message(pdc::sdk::context& ctx, const pdc::sdk::message& msg) {
    const std::string_view cmd = msg.text();
    if (cmd.rfind("send_to:", 0) == 0) return answer(ctx, msg, ctx.send_to(cmd.substr(8), bytes("x")));
    if (cmd == "emit") return answer(ctx, msg, ctx.emit(bytes("x")));
    if (cmd == "big") {
      const std::vector<std::byte> huge(1 << 20);
      return answer(ctx, msg, ctx.reply(msg, huge));
    }
    if (cmd == "fail") return PDC_E_PLUGIN;
    if (cmd == "twice") {
      ctx.reply_text(msg, "one");
      return ctx.reply_text(msg, "two");
    }
    if (cmd.rfind("sleep:", 0) == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(std::string(cmd.substr(6)))));
      return ctx.reply_text(msg, "slept");
    }
    return ctx.reply(msg, msg.payload());
  }

 private:
  static std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }
  static int answer(pdc::sdk::context& ctx, const pdc::sdk::message& msg, int rc) {
    return ctx.reply_text(msg, std::to_string(rc));
  }
};

}  // namespace

PDC_PLUGIN("contract", "1.0.0",
           pdc::sdk::kernel_type<contract_kernel>("contract",
                                                  "answers with the codes of the host calls it is told to make",
                                                  {.may_block = true, .concurrent = true}),
           pdc::sdk::kernel_type<contract_kernel>("contract_async", "the same, allowed on the async tier",
                                                  {.concurrent = true}));
