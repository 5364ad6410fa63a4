// pdc-kernel-host: runs one process-isolated kernel for pdcd
// (docs/isolation.md). pdcd starts it; it is not meant to be run by hand.
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "isolation/kernel_host_process.hpp"

int main(int argc, char** argv) {
  CLI::App app{"pdc-kernel-host: runs one process-isolated kernel for pdcd (started by pdcd, not by hand)"};
  int link_fd = -1;
  std::string kernel_id;
  app.add_option("--link", link_fd, "Descriptor of the host link pdcd passed")->required();
  app.add_option("--kernel", kernel_id, "The kernel's id (for ps and logs)");
  std::string rendezvous;
  app.add_option("--rendezvous", rendezvous, "Where to reconnect if pdcd goes away (also in the Start frame)");
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_logger_mt("pdc-kernel-host");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e [%l] pdc-kernel-host '" + kernel_id + "': %v");
  spdlog::set_default_logger(logger);
  // A peer that went away is an error code, never a signal.
  ::signal(SIGPIPE, SIG_IGN);
  try {
    pdc::daemon::kernel_host_process host(link_fd);
    return host.run();
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
