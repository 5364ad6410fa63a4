#include "tiers/thread_pool.hpp"

#include <algorithm>

namespace pdc::daemon {

thread_pool::thread_pool(kernel_host& host, pool_config cfg) : cfg_(std::move(cfg)) {
  const auto idle = idle_strategy::spin_park(std::uint64_t{cfg_.idle_spin_us} * 1000);
  for (std::uint32_t i = 0; i < cfg_.threads; ++i) {
    runners_.push_back(
        std::make_unique<agent_runner>(host, "pdc@" + cfg_.name.substr(0, 6) + "/" + std::to_string(i), idle, -1));
  }
}

result<void> thread_pool::start() {
  for (auto& r : runners_) {
    if (auto started = r->start(); !started) return started;
  }
  return ok();
}

std::vector<agent_runner*> thread_pool::least_loaded(std::size_t n) const {
  std::vector<agent_runner*> by_load;
  for (const auto& r : runners_) by_load.push_back(r.get());
  std::stable_sort(by_load.begin(), by_load.end(),
                   [](const agent_runner* a, const agent_runner* b) { return a->load() < b->load(); });
  std::vector<agent_runner*> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(by_load[i % by_load.size()]);
  return out;
}

result<void> pool_registry::add(const pool_config& cfg) {
  if (pools_.contains(cfg.name)) return make_error(errc::already_exists, "pool '" + cfg.name + "' is defined twice");
  auto pool = std::make_unique<thread_pool>(host_, cfg);
  if (auto started = pool->start(); !started) {
    return make_error(started.code(), "pool '" + cfg.name + "': " + started.err().what());
  }
  pools_.emplace(cfg.name, std::move(pool));
  return ok();
}

result<thread_pool*> pool_registry::find(const std::string& name) const {
  const auto it = pools_.find(name);
  if (it != pools_.end()) return it->second.get();
  std::string known;
  for (const auto& [n, p] : pools_) known += (known.empty() ? "" : ", ") + n;
  return make_error(errc::not_found, "no pool named '" + name + "' (pools: " + (known.empty() ? "none" : known) +
                                         "; define them with [[pool]] in the config)");
}

}  // namespace pdc::daemon
