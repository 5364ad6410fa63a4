// crasher: a kernel that dies the way a test asks, for the process-isolation
// tests (docs/isolation.md). The payload is a command:
//   "segv"    write through a null pointer (SIGSEGV)
//   "abort"   std::abort() (SIGABRT)
//   "exit3"   _exit(3)
//   "hang"    never return
//   "count"   add one to the kernel's count and reply with it
//   "exec"    run /bin/true in place of the host (a seccomp filter ends it)
//   "burn"    spin on the CPU for ever (a CPU-time limit ends it)
//   "alloc:<MiB>"  allocate and touch that much; reply "allocated"
//   "files:<n>"    open up to n descriptors; reply how many opened (then close them)
//   "whoami"  reply with the host's effective uid
//   other     echo
// Its create() reads the config: "crash" crashes in create(); "crash_in:<ms>"
// starts a thread that aborts the process <ms> after create (a crash loop).
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

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
    if (cmd == "exec") {
      ::execl("/bin/true", "true", static_cast<char*>(nullptr));
      return ctx.reply_text(msg, "exec failed");
    }
    if (cmd == "burn") {
      volatile std::uint64_t spins = 0;
      for (;;) spins = spins + 1;
    }
    if (cmd.rfind("alloc:", 0) == 0) {
      const std::size_t mib = std::stoul(std::string(cmd.substr(6)));
      std::vector<char> block(mib << 20);  // throws std::bad_alloc past the limit
      for (std::size_t i = 0; i < block.size(); i += 4096) block[i] = 1;
      return ctx.reply_text(msg, "allocated");
    }
    if (cmd.rfind("files:", 0) == 0) {
      const int want = std::stoi(std::string(cmd.substr(6)));
      std::vector<int> fds;
      for (int i = 0; i < want; ++i) {
        const int fd = ::dup(0);
        if (fd < 0) break;
        fds.push_back(fd);
      }
      for (const int fd : fds) ::close(fd);
      return ctx.reply_text(msg, std::to_string(fds.size()));
    }
    if (cmd == "whoami") return ctx.reply_text(msg, std::to_string(::geteuid()));
    return ctx.reply(msg, msg.payload());
  }

 private:
  long count_ = 0;
};

}  // namespace

PDC_PLUGIN("crasher", "1.0.0",
           pdc::sdk::kernel_type<crasher_kernel>("crasher", "dies as told: segv, abort, exit3, hang; or counts"));
