#include "pinning.hpp"

#include <sched.h>

#include <cstdio>

namespace pdc::bench {

namespace {
int g_client = -1;
int g_server = -1;

void pin(int cpu) noexcept {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<unsigned>(cpu), &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) std::perror("pdc-bench: sched_setaffinity");
}
}  // namespace

void set_pinning(int client_cpu, int server_cpu) noexcept {
  g_client = client_cpu;
  g_server = server_cpu;
}

int server_cpu() noexcept {
  return g_server;
}

void pin_client_side() noexcept {
  pin(g_client);
}

void pin_server_side() noexcept {
  pin(g_server);
}

}  // namespace pdc::bench
