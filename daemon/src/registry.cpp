#include "registry.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include <asio/post.hpp>
#include "pdc/core/clock.hpp"

#include "tiers/async_executor.hpp"
#include "tiers/thread_executor.hpp"

namespace pdc::daemon {

result<void> check_kernel_id(const std::string& id) {
  if (id.empty() || id.size() > 128) {
    return make_error(errc::invalid_argument,
                      "kernel id must be 1 to 128 characters (got " + std::to_string(id.size()) + ")");
  }
  for (char c : id) {
    const bool okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                     c == '.' || c == ':' || c == '-';
    if (!okc) {
      return make_error(errc::invalid_argument, "kernel id '" + id + "' has a character outside [A-Za-z0-9_.:-]");
    }
  }
  return ok();
}

registry::registry(asio::io_context& io, const daemon_config& cfg) : io_(io), cfg_(cfg), loader_(host_api_table()) {}

registry::~registry() {
  // Kernels first: they hold their plugins loaded.
  kernels_.clear();
}

result<plugin_info> registry::load_plugin(const std::string& name_or_path) {
  std::string path = name_or_path;
  if (name_or_path.find('/') == std::string::npos) {
    for (const auto& dir : cfg_.plugin_dirs) {
      const auto candidate = std::filesystem::path(dir) / name_or_path;
      std::error_code ec;
      if (std::filesystem::exists(candidate, ec)) {
        path = candidate.string();
        break;
      }
    }
  }
  auto info = loader_.load(path);
  if (info) spdlog::info("plugin '{}' {} loaded from {}", info->name, info->version, info->path);
  return info;
}

result<void> registry::unload_plugin(const std::string& name) {
  auto r = loader_.unload(name);
  if (r) spdlog::info("plugin '{}' unloaded", name);
  return r;
}

std::uint32_t registry::live_kernels_of(const std::string& plugin_name) const {
  std::uint32_t n = 0;
  for (const auto& [id, k] : kernels_) {
    if (k->type().plugin != nullptr && k->type().plugin->name() == plugin_name) ++n;
  }
  return n;
}

result<void> registry::check_launch(const launch_request& req, const kernel_type_entry& type) const {
  if (auto ok_id = check_kernel_id(req.kernel_id); !ok_id) return ok_id;
  if (kernels_.contains(req.kernel_id)) {
    return make_error(errc::already_exists, "kernel '" + req.kernel_id + "' already exists");
  }
  const std::uint32_t bit = req.tier_kind == tier::async      ? PDC_TIER_ASYNC
                            : req.tier_kind == tier::threaded ? PDC_TIER_THREADED
                            : req.tier_kind == tier::spin     ? PDC_TIER_SPIN
                                                              : PDC_TIER_THREADED;  // pool is threaded
  if ((type.tiers & bit) == 0) {
    std::string why = "kernel type '" + type.name + "' cannot run on tier " + std::string(to_string(req.tier_kind));
    if (req.tier_kind == tier::async && type.is_loop()) {
      why += ": it is loop-style (run); use threaded or spin";
    } else if (req.tier_kind == tier::async && (type.flags & PDC_KERNEL_MAY_BLOCK) != 0) {
      why += ": its handler may block; use threaded";
    }
    return make_error(errc::not_supported, why);
  }
  if (req.tier_kind == tier::pool && (req.workers < 1 || req.workers > 64)) {
    return make_error(errc::invalid_argument, "a pool needs 1 to 64 workers (got " + std::to_string(req.workers) + ")");
  }
  if (req.idle_spin_us > 10'000'000) {
    return make_error(errc::invalid_argument,
                      "idle spin of " + std::to_string(req.idle_spin_us) + " us is above the 10 s limit");
  }
  if (req.cpu >= 0 && req.tier_kind != tier::spin && req.tier_kind != tier::threaded) {
    return make_error(errc::invalid_argument, "CPU pinning (--cpu) applies to the spin and threaded tiers only");
  }
  if (req.capacity < 1) return make_error(errc::invalid_argument, "capacity must be at least 1");
  if (req.max_message_bytes < 1 || req.max_message_bytes > cfg_.max_message_bytes) {
    return make_error(errc::invalid_argument, "max message size " + std::to_string(req.max_message_bytes) +
                                                  " must be 1.." + std::to_string(cfg_.max_message_bytes) +
                                                  " bytes (the daemon's max_message_bytes)");
  }
  return ok();
}

result<void> registry::launch(launch_request req) {
  if (req.capacity == 0) req.capacity = cfg_.default_capacity;
  if (req.max_message_bytes == 0) req.max_message_bytes = cfg_.max_message_bytes;
  if (req.block_timeout_ms == 0) req.block_timeout_ms = cfg_.block_timeout_ms;
  if (req.tier_kind == tier::pool && req.workers == 0) req.workers = 2;
  auto type = loader_.find_type(req.kernel_type);
  if (!type) {
    std::string known;
    for (const auto& p : loader_.list()) {
      for (const auto& t : p.kernel_types) known += (known.empty() ? "" : ", ") + t;
    }
    return make_error(errc::not_found, "unknown kernel type '" + req.kernel_type +
                                           "' (loaded types: " + (known.empty() ? "none" : known) + ")");
  }
  if (auto ok_launch = check_launch(req, *type); !ok_launch) return ok_launch;
  auto k = std::make_shared<kernel>(req, std::move(type), *this);
  std::unique_ptr<executor> exec;
  if (req.tier_kind == tier::async) {
    exec = std::make_unique<async_executor>(io_, k);
  } else {
    exec = std::make_unique<thread_executor>(*k, req.tier_kind == tier::pool ? req.workers : 1, req.cpu);
  }
  auto launched = k->launch(std::move(exec));
  if (!launched) return launched;
  spdlog::info("kernel '{}' launched: type {}, tier {}, capacity {}, backpressure {}", req.kernel_id, req.kernel_type,
               to_string(req.tier_kind), req.capacity, to_string(req.policy));
  kernels_.emplace(req.kernel_id, std::move(k));
  return ok();
}

result<std::shared_ptr<kernel>> registry::find(const std::string& id) const {
  auto it = kernels_.find(id);
  if (it != kernels_.end()) return it->second;
  std::string known;
  for (const auto& [kid, k] : kernels_) known += (known.empty() ? "" : ", ") + kid;
  return make_error(errc::not_found,
                    "kernel '" + id + "' not found (kernels: " + (known.empty() ? "none" : known) + ")");
}

result<void> registry::activate(const std::string& id) {
  auto k = find(id);
  if (!k) return std::move(k).err();
  auto r = (*k)->activate();
  if (r) spdlog::info("kernel '{}' activated", id);
  return r;
}

result<void> registry::deactivate(const std::string& id) {
  auto k = find(id);
  if (!k) return std::move(k).err();
  auto r = (*k)->deactivate();
  if (r) spdlog::info("kernel '{}' deactivated", id);
  return r;
}

result<void> registry::terminate(const std::string& id, bool drop, std::uint64_t timeout_ns) {
  auto k = find(id);
  if (!k) return std::move(k).err();
  auto r = (*k)->terminate(drop, timeout_ns);
  if (!r) return r;
  const auto m = (*k)->metrics();
  spdlog::info("kernel '{}' terminated ({} processed, {} dropped)", id, m.processed, m.dropped);
  kernels_.erase(id);
  for (auto& [other_id, other] : kernels_) other->unlink(id);
  return ok();
}

void registry::terminate_all(std::uint64_t timeout_ns) {
  std::vector<std::string> ids;
  for (const auto& [id, k] : kernels_) ids.push_back(id);
  for (const auto& id : ids) {
    if (auto r = terminate(id, false, timeout_ns); !r) spdlog::warn("terminate '{}': {}", id, r.err().what());
  }
}

result<void> registry::connect(const std::string& from, const std::string& to) {
  auto a = find(from);
  if (!a) return std::move(a).err();
  auto b = find(to);
  if (!b) return std::move(b).err();
  if (from == to) return make_error(errc::invalid_argument, "cannot connect kernel '" + from + "' to itself");
  const auto existing = (*a)->links();
  if (std::find(existing.begin(), existing.end(), to) != existing.end()) {
    return make_error(errc::already_exists, "kernel '" + from + "' is already connected to '" + to + "'");
  }
  // Refuse a cycle: outputs would circle for ever.
  std::vector<std::string> todo{to};
  std::set<std::string> seen;
  while (!todo.empty()) {
    const auto k = todo.back();
    todo.pop_back();
    if (k == from) {
      return make_error(errc::invalid_argument, "connecting '" + from + "' to '" + to + "' would make a cycle (" + to +
                                                    " already reaches " + from + ")");
    }
    if (!seen.insert(k).second) continue;
    if (auto kk = find(k)) {
      for (const auto& next : (*kk)->links()) todo.push_back(next);
    }
  }
  (*a)->link(to);
  spdlog::info("kernel '{}' connected to '{}'", from, to);
  return ok();
}

result<void> registry::disconnect(const std::string& from, const std::string& to) {
  auto a = find(from);
  if (!a) return std::move(a).err();
  const auto existing = (*a)->links();
  if (std::find(existing.begin(), existing.end(), to) == existing.end()) {
    return make_error(errc::not_found, "kernel '" + from + "' is not connected to '" + to + "'");
  }
  (*a)->unlink(to);
  spdlog::info("kernel '{}' disconnected from '{}'", from, to);
  return ok();
}

void registry::forget_session(std::uint64_t session_id) {
  for (auto& [id, k] : kernels_) k->unsubscribe(session_id);
}

errc registry::deliver(std::uint64_t session_id, const std::string& kernel_id, const envelope& env,
                       std::span<const std::byte> payload) {
  if (io_.get_executor().running_in_this_thread()) {
    return sink_ == nullptr ? errc::peer_gone : sink_->deliver(session_id, kernel_id, env, payload);
  }
  // From a tier-2/3 worker: sessions belong to the loop thread.
  asio::post(io_, [this, session_id, kernel_id, env, bytes = std::vector<std::byte>(payload.begin(), payload.end())] {
    if (sink_ != nullptr) sink_->deliver(session_id, kernel_id, env, bytes);
  });
  return errc::ok;
}

void registry::post(std::function<void()> fn) {
  asio::post(io_, std::move(fn));
}

errc registry::route(const std::string& from_kernel, const std::string& to_kernel, const envelope& env,
                     std::span<const std::byte> payload) {
  if (!io_.get_executor().running_in_this_thread()) {
    // From a tier-2/3 worker: the registry belongs to the loop thread.
    asio::post(io_,
               [this, from_kernel, to_kernel, env, bytes = std::vector<std::byte>(payload.begin(), payload.end())] {
                 if (const auto rc = route(from_kernel, to_kernel, env, bytes); rc != errc::ok) {
                   spdlog::warn("[{}] send_to '{}' failed: {}", from_kernel, to_kernel, to_string(rc));
                 }
               });
    return errc::ok;
  }
  auto target = find(to_kernel);
  if (!target) return errc::not_found;
  if (payload.size() > (*target)->params().max_message_bytes) return errc::message_too_large;
  queued_message m{env, {payload.begin(), payload.end()}, 0};
  switch ((*target)->offer(m)) {
    case offer_result::accepted:
      return errc::ok;
    case offer_result::wait:
    case offer_result::rejected:
      return errc::full;
    case offer_result::dropped_newest:
      return errc::dropped;
    case offer_result::terminated:
      return errc::terminated;
  }
  (void)from_kernel;
  return errc::internal;
}

void registry::log(const std::string& kernel_id, int level, std::string_view text) {
  const auto lvl = level >= PDC_LOG_ERROR  ? spdlog::level::err
                   : level >= PDC_LOG_WARN ? spdlog::level::warn
                   : level >= PDC_LOG_INFO ? spdlog::level::info
                                           : spdlog::level::debug;
  spdlog::log(lvl, "[{}] {}", kernel_id, text);
}

}  // namespace pdc::daemon
