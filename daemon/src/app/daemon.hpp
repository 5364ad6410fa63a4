// pdcd as a library: everything but argument parsing. Tests embed it.
#pragma once

#include <memory>
#include <string>

#include "app/config.hpp"
#include "pdc/core/result.hpp"

namespace pdc::daemon {

class daemon {
 public:
  /// Binds the socket, loads the configured plugins and launches the
  /// configured kernels (a plugin or kernel that fails is logged and skipped;
  /// the daemon still starts). Fails only if the socket cannot be served.
  static result<std::unique_ptr<daemon>> create(daemon_config cfg, bool handle_signals);
  ~daemon();
  daemon(const daemon&) = delete;
  daemon& operator=(const daemon&) = delete;

  /// Serves until stopped (SIGTERM/SIGINT when handling signals, or
  /// request_stop()); drains kernels, then returns. Call from one thread.
  void run();
  /// Asks run() to shut down. Thread-safe, async-signal-unsafe.
  void request_stop();
  /// The socket path being served.
  [[nodiscard]] const std::string& socket_path() const;

 private:
  struct impl;
  explicit daemon(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// File descriptors the configured [limits] may make the daemon hold at once.
std::uint64_t descriptors_needed(const daemon_config& cfg);
/// Raises RLIMIT_NOFILE's soft limit to descriptors_needed(), or refuses
/// (limit_reached, saying what to change) when the hard limit is lower.
result<void> ensure_descriptors(const daemon_config& cfg);

/// Applies a log level name ("info", "debug", ...) to the global logger.
void set_log_level(const std::string& level);

}  // namespace pdc::daemon
