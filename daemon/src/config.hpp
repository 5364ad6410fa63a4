// pdcd configuration: a TOML file (docs/operations.md), overridden by flags.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pdc/core/result.hpp"

namespace pdc::daemon {

enum class tier : std::uint8_t { async, threaded, spin, pool };
enum class backpressure : std::uint8_t { block, reject, drop_oldest, drop_newest };

std::string_view to_string(tier t) noexcept;
std::string_view to_string(backpressure b) noexcept;
/// Parses "async", "threaded", "spin", "pool"; invalid_argument otherwise.
result<tier> parse_tier(std::string_view s);
/// Parses "block", "reject", "drop_oldest", "drop_newest" (also with '-').
result<backpressure> parse_backpressure(std::string_view s);

/// What `launch` needs; zeros mean "the daemon's default".
struct launch_request {
  std::string kernel_type;
  std::string kernel_id;
  tier tier_kind = tier::async;
  std::uint32_t capacity = 0;
  backpressure policy = backpressure::block;
  std::uint32_t max_message_bytes = 0;
  std::uint32_t block_timeout_ms = 0;
  std::string config;
  std::uint32_t workers = 0;
  std::int32_t cpu = -1;
  /// Tiers 2/3: microseconds an idle worker keeps polling before it parks
  /// (0: the tier's default, 5 us threaded, 50 us spin).
  std::uint32_t idle_spin_us = 0;
};

/// A kernel the daemon launches at start.
struct startup_kernel {
  launch_request launch;
  bool activate = true;
};

struct daemon_config {
  std::string socket_path;                ///< Empty: the default path (docs/operations.md).
  std::vector<std::string> plugin_dirs;   ///< Searched for plugins named without a '/'.
  std::vector<std::string> plugins;       ///< Loaded at start, in order.
  std::string log_level = "info";         ///< trace, debug, info, warn, error.
  std::uint32_t default_capacity = 4096;  ///< Messages per kernel queue (seed default).
  std::uint32_t max_message_bytes = 64 * 1024;
  std::uint32_t block_timeout_ms = 5000;      ///< How long a `block` sender waits for room.
  std::uint32_t drain_timeout_ms = 5000;      ///< How long shutdown drains each kernel.
  std::uint32_t session_queue_limit = 65536;  ///< Deliveries buffered per slow client.
  std::vector<startup_kernel> kernels;
  std::string source;  ///< File it came from ("" if none).
};

/// Parses TOML text; errors name `source_name`, the line and the reason.
result<daemon_config> parse_config(std::string_view text, std::string_view source_name);
/// Reads and parses a TOML file; relative plugin_dirs are taken relative to
/// the file's folder.
result<daemon_config> load_config_file(const std::string& path);
/// Checks limits and combinations (capacity >= 1, sizes within ceilings...).
result<void> validate(const daemon_config& cfg);

}  // namespace pdc::daemon
