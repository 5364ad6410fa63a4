// pdcd: parse flags and config, construct the daemon, run it. Each failure
// is one log line and a non-zero exit.
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "app/config.hpp"
#include "app/daemon.hpp"
#include "server/dispatch.hpp"

namespace {

// "<3>" and so on: the syslog priority of a line, which the journal reads
// from the start of each line on stderr (sd-daemon(3)), so `journalctl -p
// warning` shows pdcd's warnings and errors.
class syslog_priority final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*time*/, spdlog::memory_buf_t& dest) override {
    const char* prefix = "<6>";
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        prefix = "<7>";
        break;
      case spdlog::level::warn:
        prefix = "<4>";
        break;
      case spdlog::level::err:
        prefix = "<3>";
        break;
      case spdlog::level::critical:
        prefix = "<2>";
        break;
      default:
        break;
    }
    dest.append(prefix, prefix + 3);
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return spdlog::details::make_unique<syslog_priority>();
  }
};

void setup_logging() {
  auto logger = spdlog::stderr_logger_mt("pdcd");
  if (std::getenv("JOURNAL_STREAM") != nullptr) {
    // Under systemd: the journal adds its own timestamps, and reads the priority.
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<syslog_priority>('*').set_pattern("%*[%l] %v");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e [%l] %v");
  }
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
