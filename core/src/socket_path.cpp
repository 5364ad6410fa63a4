#include "pdc/core/socket_path.hpp"

#include <sys/stat.h>
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

std::string default_client_socket_path() {
  return default_client_socket_path_for(::geteuid(), system_socket_path);
}

std::string default_client_socket_path_for(uid_t euid, std::string_view system_path) {
  std::string own = default_socket_path_for(euid);
  if (euid == 0 || env_value("PDC_SOCKET") != nullptr) return own;
  struct stat st {};
  if (::stat(own.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return own;
  // The system socket's folder (mode 0750, group pdcd) can be seen by
  // everyone even when its contents cannot: its existence says a system
  // pdcd is installed; connect() then says whether this user may use it.
  const std::string system(system_path);
  const auto slash = system.rfind('/');
  const std::string folder = slash == std::string::npos || slash == 0 ? std::string("/") : system.substr(0, slash);
  if (::stat(folder.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return system;
  return own;
}

std::string resolve_client_socket_path(std::string_view flag) {
  if (!flag.empty()) return std::string(flag);
  return default_client_socket_path();
}

}  // namespace pdc
