// pdcd: parse flags and config, construct the daemon, run it. Each failure
// is one log line and a non-zero exit.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "app/config.hpp"
#include "app/daemon.hpp"
#include "server/dispatch.hpp"

namespace {

void setup_logging() {
  auto logger = spdlog::stderr_logger_mt("pdcd");
  // Under systemd the journal adds its own timestamps.
  logger->set_pattern(std::getenv("JOURNAL_STREAM") != nullptr ? "[%l] %v" : "%Y-%m-%d %H:%M:%S.%e [%l] %v");
  spdlog::set_default_logger(logger);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pdcd: the pdc ring-kernel daemon (runs in the foreground)"};
  std::string config_path;
  std::string socket;
  std::vector<std::string> plugin_dirs;
  std::vector<std::string> plugins;
  std::string log_level;
  std::uint32_t capacity = 0;
  std::uint32_t max_message = 0;
  app.add_option("-c,--config", config_path, "TOML config file")->check(CLI::ExistingFile);
  app.add_option("-s,--socket", socket, "Socket path (default: $PDC_SOCKET, else per-user/system default)");
  app.add_option("--plugin-dir", plugin_dirs, "Folder searched for plugins (repeatable)");
  app.add_option("--load", plugins, "Plugin to load at start: a path or a file name in a plugin dir (repeatable)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error");
  app.add_option("--capacity", capacity, "Default kernel queue capacity (messages)")->check(CLI::PositiveNumber);
  app.add_option("--max-message", max_message, "Largest message payload (bytes)")->check(CLI::PositiveNumber);
  app.set_version_flag("--version", pdc::daemon::k_daemon_version);
  CLI11_PARSE(app, argc, argv);

  setup_logging();
  pdc::daemon::daemon_config cfg;
  if (!config_path.empty()) {
    auto loaded = pdc::daemon::load_config_file(config_path);
    if (!loaded) {
      spdlog::critical("invalid config: {}", loaded.err().what());
      return 2;
    }
    cfg = std::move(loaded).value();
  }
  if (!socket.empty()) cfg.socket_path = socket;
  cfg.plugin_dirs.insert(cfg.plugin_dirs.end(), plugin_dirs.begin(), plugin_dirs.end());
  cfg.plugins.insert(cfg.plugins.end(), plugins.begin(), plugins.end());
  if (!log_level.empty()) cfg.log_level = log_level;
  if (capacity != 0) cfg.default_capacity = capacity;
  if (max_message != 0) cfg.max_message_bytes = max_message;
  if (auto v = pdc::daemon::validate(cfg); !v) {
    spdlog::critical("invalid configuration: {}", v.err().what());
    return 2;
  }
  pdc::daemon::set_log_level(cfg.log_level);

  auto d = pdc::daemon::daemon::create(std::move(cfg), true);
  if (!d) {
    spdlog::critical("cannot start: {}", d.err().what());
    return 1;
  }
  (*d)->run();
  return 0;
}
