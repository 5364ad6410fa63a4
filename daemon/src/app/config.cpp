#include "app/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "pdc/proto/control.hpp"

namespace pdc::daemon {

namespace {

struct config_error {
  std::string text;
};

// 'key' in quotes. (Built with append: GCC 12 at -O2 warns falsely,
// -Wrestrict, about chains of "'" + std::string(key) + ...)
std::string quoted(std::string_view key) {
  std::string out;
  out.reserve(key.size() + 2);
  out.append(1, '\'').append(key).append(1, '\'');
  return out;
}

std::string where(const toml::node& n, std::string_view source) {
  const auto& src = n.source();
  return std::string(source) + ":" + std::to_string(src.begin.line);
}

[[noreturn]] void fail(const toml::node& n, std::string_view source, const std::string& why) {
  throw config_error{where(n, source) + ": " + why};
}

void check_keys(const toml::table& t, std::string_view source, const std::set<std::string_view>& allowed,
                std::string_view section) {
  for (const auto& [key, value] : t) {
    if (!allowed.contains(key.str())) {
      fail(value, source, "unknown key '" + std::string(key.str()) + "' in " + std::string(section));
    }
  }
}

std::string get_string(const toml::table& t, std::string_view key, std::string_view source, std::string def) {
  const auto* n = t.get(key);
  if (n == nullptr) return def;
  if (!n->is_string()) fail(*n, source, quoted(key) + " must be a string");
  return std::string(*n->value<std::string_view>());
}

std::uint32_t get_u32(const toml::table& t, std::string_view key, std::string_view source, std::uint32_t def,
                      std::uint32_t min = 0) {
  const auto* n = t.get(key);
  if (n == nullptr) return def;
  if (!n->is_integer()) fail(*n, source, quoted(key) + " must be an integer");
  const auto v = *n->value<std::int64_t>();
  if (v < static_cast<std::int64_t>(min) || v > UINT32_MAX) {
    fail(*n, source,
         quoted(key) + " = " + std::to_string(v) + " is out of range (" + std::to_string(min) + ".." +
             std::to_string(UINT32_MAX) + ")");
  }
  return static_cast<std::uint32_t>(v);
}

std::uint64_t get_u64(const toml::table& t, std::string_view key, std::string_view source, std::uint64_t def,
                      std::uint64_t min) {
  const auto* n = t.get(key);
  if (n == nullptr) return def;
  if (!n->is_integer()) fail(*n, source, quoted(key) + " must be an integer");
  const auto v = *n->value<std::int64_t>();
  if (v < static_cast<std::int64_t>(min)) {
    fail(*n, source, quoted(key) + " = " + std::to_string(v) + " is below its minimum of " + std::to_string(min));
  }
  return static_cast<std::uint64_t>(v);
}

bool get_bool(const toml::table& t, std::string_view key, std::string_view source, bool def) {
  const auto* n = t.get(key);
  if (n == nullptr) return def;
  if (!n->is_boolean()) fail(*n, source, quoted(key) + " must be true or false");
  return *n->value<bool>();
}

std::vector<std::string> get_strings(const toml::table& t, std::string_view key, std::string_view source) {
  std::vector<std::string> out;
  const auto* n = t.get(key);
  if (n == nullptr) return out;
  const auto* arr = n->as_array();
  if (arr == nullptr) fail(*n, source, quoted(key) + " must be an array of strings");
  for (const auto& e : *arr) {
    if (!e.is_string()) fail(e, source, quoted(key) + " must contain only strings");
    out.emplace_back(*e.value<std::string_view>());
  }
  return out;
}

startup_kernel parse_kernel(const toml::table& t, std::string_view source) {
  check_keys(t, source,
             {"type",
              "id",
              "tier",
              "capacity",
              "backpressure",
              "max_message_bytes",
              "block_timeout_ms",
              "config",
              "workers",
              "cpu",
              "activate",
              "idle_spin_us",
              "pool",
              "latency_metrics",
              "access",
              "isolation",
              "user",
              "max_address_space_mb",
              "max_cpu_seconds",
              "max_open_files",
              "seccomp",
              "export",
              "delivery"},
             "[[kernel]]");
  startup_kernel k;
  k.launch.kernel_type = get_string(t, "type", source, "");
  k.launch.kernel_id = get_string(t, "id", source, "");
  if (k.launch.kernel_type.empty() || k.launch.kernel_id.empty()) {
    fail(t, source, "[[kernel]] needs both 'type' and 'id'");
  }
  if (const auto* n = t.get("tier")) {
    auto parsed = parse_tier(get_string(t, "tier", source, ""));
    if (!parsed) fail(*n, source, parsed.err().what());
    k.launch.tier = *parsed;
  }
  if (const auto* n = t.get("backpressure")) {
    auto parsed = parse_backpressure(get_string(t, "backpressure", source, ""));
    if (!parsed) fail(*n, source, parsed.err().what());
    k.launch.policy = *parsed;
  }
  k.launch.capacity = get_u32(t, "capacity", source, 0, 1);
  k.launch.max_message_bytes = get_u32(t, "max_message_bytes", source, 0, 1);
  k.launch.block_timeout_ms = get_u32(t, "block_timeout_ms", source, 0);
  k.launch.config = get_string(t, "config", source, "");
  k.launch.workers = get_u32(t, "workers", source, 0);
  k.launch.idle_spin_us = get_u32(t, "idle_spin_us", source, 0);
  k.launch.pool = get_string(t, "pool", source, "");
  k.launch.latency_metrics = get_bool(t, "latency_metrics", source, true);
  k.launch.access = get_strings(t, "access", source);
  if (const auto* n = t.get("isolation")) {
    auto parsed = parse_isolation(get_string(t, "isolation", source, ""));
    if (!parsed) fail(*n, source, parsed.err().what());
    k.launch.isolation = *parsed;
  }
  auto& conf = k.launch.confinement;
  conf.user = get_string(t, "user", source, "");
  conf.max_address_space_mb = get_u32(t, "max_address_space_mb", source, 0);
  conf.max_cpu_seconds = get_u32(t, "max_cpu_seconds", source, 0);
  conf.max_open_files = get_u32(t, "max_open_files", source, 0);
  conf.seccomp = get_bool(t, "seccomp", source, false);
  if (const auto* n = t.get("cpu")) {
    if (!n->is_integer()) fail(*n, source, "'cpu' must be an integer");
    k.launch.cpu = static_cast<std::int32_t>(*n->value<std::int64_t>());
  }
  k.launch.exported = get_bool(t, "export", source, false);
  if (const auto* n = t.get("delivery")) {
    const std::string d = get_string(t, "delivery", source, "");
    if (d != "at_most_once" && d != "at_least_once") {
      fail(*n, source, "delivery '" + d + "' must be at_most_once or at_least_once");
    }
    k.launch.at_least_once = d == "at_least_once";
  }
  k.activate = get_bool(t, "activate", source, true);
  return k;
}

pool_config parse_pool(const toml::table& t, std::string_view source) {
  check_keys(t, source, {"name", "threads", "idle_spin_us"}, "[[pool]]");
  pool_config p;
  p.name = get_string(t, "name", source, "");
  if (p.name.empty()) fail(t, source, "[[pool]] needs a 'name'");
  p.threads = get_u32(t, "threads", source, p.threads, 1);
  if (p.threads > 64) {
    fail(t, source, "pool '" + p.name + "' asks for " + std::to_string(p.threads) + " threads (at most 64)");
  }
  p.idle_spin_us = get_u32(t, "idle_spin_us", source, p.idle_spin_us);
  return p;
}

}  // namespace

result<daemon_config> parse_config(std::string_view text, std::string_view source_name) {
  daemon_config cfg;
  cfg.source = std::string(source_name);
  try {
    const toml::table root = toml::parse(text, source_name);
    check_keys(
        root, source_name,
        {"socket", "plugin_dirs", "plugins", "log_level", "defaults", "kernel", "pool", "drain_timeout_ms",
         "session_queue_limit", "max_in_flight_bytes", "admin_group", "limits", "isolation", "metrics", "cluster"},
        "the top level");
    cfg.socket_path = get_string(root, "socket", source_name, "");
    cfg.plugin_dirs = get_strings(root, "plugin_dirs", source_name);
    cfg.plugins = get_strings(root, "plugins", source_name);
    cfg.admin_group = get_string(root, "admin_group", source_name, "");
    cfg.log_level = get_string(root, "log_level", source_name, cfg.log_level);
    cfg.drain_timeout_ms = get_u32(root, "drain_timeout_ms", source_name, cfg.drain_timeout_ms);
    cfg.session_queue_limit = get_u32(root, "session_queue_limit", source_name, cfg.session_queue_limit, 1);
    cfg.max_in_flight_bytes = get_u32(root, "max_in_flight_bytes", source_name,
                                      static_cast<std::uint32_t>(cfg.max_in_flight_bytes), 64 * 1024);
    if (const auto* n = root.get("limits")) {
      const auto* t = n->as_table();
      if (t == nullptr) fail(*n, source_name, "'limits' must be a table");
      check_keys(*t, source_name,
                 {"max_sessions", "max_attachments_per_session", "max_attachments", "max_kernels", "max_kernel_threads",
                  "max_queue_bytes", "session_buffer_bytes"},
                 "[limits]");
      auto& l = cfg.limits;
      l.max_sessions = get_u32(*t, "max_sessions", source_name, l.max_sessions, 1);
      l.max_attachments_per_session =
          get_u32(*t, "max_attachments_per_session", source_name, l.max_attachments_per_session, 1);
      l.max_attachments = get_u32(*t, "max_attachments", source_name, l.max_attachments, 1);
      l.max_kernels = get_u32(*t, "max_kernels", source_name, l.max_kernels, 1);
      l.max_kernel_threads = get_u32(*t, "max_kernel_threads", source_name, l.max_kernel_threads, 1);
      l.max_queue_bytes = get_u64(*t, "max_queue_bytes", source_name, l.max_queue_bytes, 64 * 1024);
      l.session_buffer_bytes = get_u64(*t, "session_buffer_bytes", source_name, l.session_buffer_bytes, 64 * 1024);
    }
    if (const auto* n = root.get("isolation")) {
      const auto* t = n->as_table();
      if (t == nullptr) fail(*n, source_name, "'isolation' must be a table");
      check_keys(*t, source_name,
                 {"host_path", "max_restarts", "restart_window_ms", "backoff_initial_ms", "backoff_max_ms",
                  "start_timeout_ms", "stats_interval_ms", "hang_timeout_ms", "orphan_timeout_ms"},
                 "[isolation]");
      auto& i = cfg.isolation;
      i.host_path = get_string(*t, "host_path", source_name, i.host_path);
      i.max_restarts = get_u32(*t, "max_restarts", source_name, i.max_restarts);
      i.restart_window_ms = get_u32(*t, "restart_window_ms", source_name, i.restart_window_ms, 1);
      i.backoff_initial_ms = get_u32(*t, "backoff_initial_ms", source_name, i.backoff_initial_ms, 1);
      i.backoff_max_ms = get_u32(*t, "backoff_max_ms", source_name, i.backoff_max_ms, 1);
      i.start_timeout_ms = get_u32(*t, "start_timeout_ms", source_name, i.start_timeout_ms, 1);
      i.stats_interval_ms = get_u32(*t, "stats_interval_ms", source_name, i.stats_interval_ms, 1);
      i.hang_timeout_ms = get_u32(*t, "hang_timeout_ms", source_name, i.hang_timeout_ms);
      i.orphan_timeout_ms = get_u32(*t, "orphan_timeout_ms", source_name, i.orphan_timeout_ms);
    }
    if (const auto* n = root.get("metrics")) {
      const auto* t = n->as_table();
      if (t == nullptr) fail(*n, source_name, "'metrics' must be a table");
      check_keys(*t, source_name, {"listen"}, "[metrics]");
      cfg.metrics_listen = get_string(*t, "listen", source_name, "");
    }
    if (const auto* n = root.get("cluster")) {
      const auto* t = n->as_table();
      if (t == nullptr) fail(*n, source_name, "'cluster' must be a table");
      check_keys(*t, source_name,
                 {"node", "urls", "user", "password", "nkey", "nkey_seed_file", "access", "request_timeout_ms",
                  "max_pending", "max_incoming_messages", "max_incoming_bytes", "replicas", "ack_wait_ms", "jetstream"},
                 "[cluster]");
      auto& c = cfg.cluster;
      c.node = get_string(*t, "node", source_name, "");
      if (const auto* nn = t->get("node"); nn != nullptr) {
        if (auto ok = check_node_name(c.node); !ok) fail(*nn, source_name, ok.err().what());
      } else {
        fail(*t, source_name, "[cluster] needs 'node', this pdcd's node name");
      }
      c.urls = get_strings(*t, "urls", source_name);
      if (c.urls.empty()) c.urls.emplace_back("nats://127.0.0.1:4222");
      c.user = get_string(*t, "user", source_name, "");
      c.password = get_string(*t, "password", source_name, "");
      c.nkey = get_string(*t, "nkey", source_name, "");
      c.nkey_seed_file = get_string(*t, "nkey_seed_file", source_name, "");
      if (c.nkey.empty() != c.nkey_seed_file.empty()) {
        fail(*t, source_name, "[cluster] 'nkey' and 'nkey_seed_file' go together");
      }
      if (!c.nkey.empty() && !c.user.empty()) {
        fail(*t, source_name, "[cluster] takes an nkey or a user and password, not both");
      }
      c.access = get_strings(*t, "access", source_name);
      c.request_timeout_ms = get_u32(*t, "request_timeout_ms", source_name, c.request_timeout_ms, 1);
      c.max_pending = get_u32(*t, "max_pending", source_name, c.max_pending, 1);
      c.max_incoming_messages = get_u32(*t, "max_incoming_messages", source_name, c.max_incoming_messages, 1);
      c.max_incoming_bytes = get_u32(*t, "max_incoming_bytes", source_name, c.max_incoming_bytes, 64 * 1024);
      c.jetstream = get_bool(*t, "jetstream", source_name, false);
      c.replicas = get_u32(*t, "replicas", source_name, c.replicas, 1);
      if (c.replicas > 5) fail(*t, source_name, "[cluster] replicas must be 1 to 5");
      c.ack_wait_ms = get_u32(*t, "ack_wait_ms", source_name, c.ack_wait_ms, 100);
    }
    if (const auto* n = root.get("pool")) {
      const auto* arr = n->as_array();
      if (arr == nullptr) fail(*n, source_name, "'pool' must be an array of tables ([[pool]])");
      for (const auto& e : *arr) {
        const auto* t = e.as_table();
        if (t == nullptr) fail(e, source_name, "each [[pool]] must be a table");
        cfg.pools.push_back(parse_pool(*t, source_name));
      }
    }
    if (const auto* n = root.get("defaults")) {
      const auto* d = n->as_table();
      if (d == nullptr) fail(*n, source_name, "'defaults' must be a table");
      check_keys(*d, source_name, {"capacity", "max_message_bytes", "block_timeout_ms"}, "[defaults]");
      cfg.default_capacity = get_u32(*d, "capacity", source_name, cfg.default_capacity, 1);
      cfg.max_message_bytes = get_u32(*d, "max_message_bytes", source_name, cfg.max_message_bytes, 1);
      cfg.block_timeout_ms = get_u32(*d, "block_timeout_ms", source_name, cfg.block_timeout_ms);
    }
    if (const auto* n = root.get("kernel")) {
      const auto* arr = n->as_array();
      if (arr == nullptr) fail(*n, source_name, "'kernel' must be an array of tables ([[kernel]])");
      for (const auto& e : *arr) {
        const auto* t = e.as_table();
        if (t == nullptr) fail(e, source_name, "each [[kernel]] must be a table");
        cfg.kernels.push_back(parse_kernel(*t, source_name));
      }
    }
  } catch (const toml::parse_error& e) {
    return make_error(errc::invalid_argument, std::string(source_name) + ":" + std::to_string(e.source().begin.line) +
                                                  ": " + std::string(e.description()));
  } catch (const config_error& e) {
    return make_error(errc::invalid_argument, e.text);
  }
  if (auto ok = validate(cfg); !ok) return std::move(ok).err();
  return cfg;
}

result<daemon_config> load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(errc::not_found, "cannot read config file " + path);
  std::stringstream text;
  text << in.rdbuf();
  auto cfg = parse_config(text.str(), path);
  if (!cfg) return cfg;
  std::error_code ec;
  const auto base = std::filesystem::absolute(path, ec).parent_path();
  for (auto& dir : cfg->plugin_dirs) {
    if (!dir.empty() && dir.front() != '/') dir = (base / dir).lexically_normal().string();
  }
  return cfg;
}

result<void> check_node_name(std::string_view name) {
  const bool good_chars = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':' ||
           c == '-';
  });
  if (name.empty() || name.size() > 64 || !good_chars) {
    return make_error(errc::invalid_argument, "node name '" + std::string(name) +
                                                  "' must be 1-64 characters of [A-Za-z0-9_:-] (no '.', which parts "
                                                  "NATS subjects)");
  }
  return ok();
}

result<void> validate(const daemon_config& cfg) {
  const std::set<std::string_view> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!levels.contains(cfg.log_level)) {
    return make_error(errc::invalid_argument, "unknown log_level '" + cfg.log_level + "'");
  }
  if (cfg.max_message_bytes > k_max_message_ceiling_bytes) {
    return make_error(errc::invalid_argument, "max_message_bytes " + std::to_string(cfg.max_message_bytes) +
                                                  " exceeds the ceiling of " +
                                                  std::to_string(k_max_message_ceiling_bytes));
  }
  std::set<std::string> pools;
  for (const auto& p : cfg.pools) {
    if (!pools.insert(p.name).second) {
      return make_error(errc::already_exists, "pool '" + p.name + "' appears twice in the config");
    }
  }
  std::set<std::string> ids;
  for (const auto& k : cfg.kernels) {
    if (!k.launch.pool.empty() && !pools.contains(k.launch.pool)) {
      return make_error(errc::not_found, "kernel '" + k.launch.kernel_id + "' names pool '" + k.launch.pool +
                                             "', which no [[pool]] defines");
    }
    if (!ids.insert(k.launch.kernel_id).second) {
      return make_error(errc::already_exists, "kernel id '" + k.launch.kernel_id + "' appears twice in the config");
    }
  }
  return ok();
}

}  // namespace pdc::daemon
