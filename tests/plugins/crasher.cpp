// crasher: a kernel that dies the way a test asks, for the process-isolation
// tests (docs/isolation.md). The payload is a command:
//   "segv"    write through a null pointer (SIGSEGV)
//   "abort"   std::abort() (SIGABRT)
//   "exit3"   _exit(3)
//   "hang"    never return
//   "count"   add one to the kernel's count and reply with it
//   other     echo
// Its create() reads the config: "crash" crashes in create(); "crash_in:<ms>"
// starts a thread that aborts the process <ms> after create (a crash loop).
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

#include <unistd.h>

#include "pdc/sdk.hpp"

namespace {

[[noreturn]] void segfault() {
  // volatile: the compiler must really write through the null pointer.
  volatile int* volatile nowhere = nullptr;
  *nowhere = 1;
  std::abort();  // not reached
}

class crasher_kernel {
 public:
  explicit crasher_kernel(std::string_view config) {
    if (config == "crash") segfault();
    if (config.rfind("crash_in:", 0) == 0) {
      const int ms = std::stoi(std::string(config.substr(9)));
      std::thread([ms] {
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        std::abort();
      }).detach();
    }
  }

  int on_message(pdc::sdk::context& ctx, const pdc::sdk::message& msg) {
    const std::string_view cmd = msg.text();
    if (cmd == "segv") segfault();
    if (cmd == "abort") std::abort();
    if (cmd == "exit3") ::_exit(3);
    if (cmd == "hang") {
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    if (cmd == "count") return ctx.reply_text(msg, std::to_string(++count_));
    return ctx.reply(msg, msg.payload());
  }

 private:
  long count_ = 0;
};

}  // namespace

PDC_PLUGIN("crasher", "1.0.0",
           pdc::sdk::kernel_type<crasher_kernel>("crasher", "dies as told: segv, abort, exit3, hang; or counts"));
