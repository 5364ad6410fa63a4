#include "pdc/core/socket_path.hpp"

#include <unistd.h>

#include <cstdlib>

namespace pdc {

namespace {
// getenv, treating an empty value as unset.
const char* env_value(const char* name) noexcept {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): documented in the header
  return (v != nullptr && *v != '\0') ? v : nullptr;
}
}  // namespace

std::string default_socket_path() {
  return default_socket_path_for(::geteuid());
}

std::string default_socket_path_for(uid_t euid) {
  if (const char* explicit_path = env_value("PDC_SOCKET")) return explicit_path;
  if (euid == 0) return "/run/pdcd/pdcd.sock";
  if (const char* runtime_dir = env_value("XDG_RUNTIME_DIR")) return std::string(runtime_dir) + "/pdcd/pdcd.sock";
  return "/tmp/pdcd-" + std::to_string(euid) + "/pdcd.sock";
}

std::string resolve_socket_path(std::string_view flag) {
  if (!flag.empty()) return std::string(flag);
  return default_socket_path();
}

}  // namespace pdc
