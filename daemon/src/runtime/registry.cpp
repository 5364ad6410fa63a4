#include "runtime/registry.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>
#include <set>
#include <string_view>
#include <thread>
#include <utility>

#include "cluster/bridge.hpp"
#include "isolation/process_executor.hpp"
#include "pdc/core/clock.hpp"
#include "plugins/plugin_policy.hpp"
#include "runtime/host_api.hpp"

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

registry::registry(asio::io_context& io, const daemon_config& cfg)
    : io_(io), cfg_(cfg), loader_(host_api_table()), pools_(*this), env_{io, *this, pools_} {}

registry::~registry() {
  // Kernels first: they hold their plugins loaded and run on the pools.
  // Destroyed outside the lock: their threads may still be routing.
  std::map<std::string, std::shared_ptr<kernel>, std::less<>> gone;
  {
    std::unique_lock lock(kernels_mu_);
    gone.swap(kernels_);
  }
  gone.clear();
}

result<void> registry::resolve_cluster_access() {
  auto list = access_list::parse(cfg_.cluster.access);
  if (!list) return make_error(list.err().code, "[cluster] access: " + list.err().what());
  cluster_access_ = std::move(*list);
  return ok();
}

result<void> registry::start_pools() {
  for (const auto& p : cfg_.pools) {
    if (auto r = pools_.add(p); !r) return r;
    spdlog::info("pool '{}' started: {} threads, idle spin {} us", p.name, p.threads, p.idle_spin_us);
  }
  return ok();
}

// ---- plugins ---------------------------------------------------------------------------

result<void> registry::resolve_admin_group() {
  if (cfg_.admin_group.empty()) return ok();
  auto gid = group_id(cfg_.admin_group);
  if (!gid) return make_error(errc::not_found, "admin_group: " + gid.err().what());
  admin_gid_ = *gid;
  return ok();
}

result<plugin_info> registry::load_plugin(const std::string& name_or_path) {
  auto path = trusted_plugin_path(name_or_path, cfg_.plugin_dirs);
  if (!path) return std::move(path).err();
  auto info = loader_.load(*path);
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

// ---- kernels -------------------------------------------------------------------------------

result<const tier_row*> registry::check_launch(const launch_request& req, const kernel_type_entry& type) const {
  if (auto ok_id = check_kernel_id(req.kernel_id); !ok_id) return std::move(ok_id).err();
  if (req.exported && !cfg_.cluster.enabled()) {
    return make_error(errc::invalid_argument, "kernel '" + req.kernel_id +
                                                  "' cannot be exported: this pdcd is no node of a cluster (no "
                                                  "[cluster] in its config)");
  }
  if (req.at_least_once && !req.exported) {
    return make_error(errc::invalid_argument,
                      "kernel '" + req.kernel_id + "': at-least-once delivery is for exported kernels (export = true)");
  }
  if (req.at_least_once && req.isolation == kernel_isolation::process) {
    return make_error(errc::not_supported, "kernel '" + req.kernel_id +
                                               "': at-least-once delivery is not supported with process isolation "
                                               "(the acknowledgement after the handler is not carried to its host)");
  }
  if (req.exported && req.kernel_id.find('.') != std::string::npos) {
    return make_error(errc::invalid_argument, "kernel '" + req.kernel_id +
                                                  "' cannot be exported: '.' parts NATS subjects, so an exported "
                                                  "kernel's id must not hold one");
  }
  if (kernels_.contains(req.kernel_id)) {
    return make_error(errc::already_exists, "kernel '" + req.kernel_id + "' already exists");
  }
  const tier_row* row = find_tier(req.tier);
  if (row == nullptr) {
    return make_error(errc::not_supported,
                      "tier " + std::string(to_string(req.tier)) + " is not available in this build of pdcd" +
                          (req.tier == kernel_tier::cuda ? std::string(": it was built without CUDA (no nvcc)") : ""));
  }
  if ((type.tiers & row->plugin_mask) == 0) {
    std::string why = "kernel type '" + type.name + "' cannot run on tier " + std::string(row->name);
    if (req.tier == kernel_tier::async && type.is_loop()) {
      why += ": it is loop-style (run); use threaded, spin or pool";
    } else if (req.tier == kernel_tier::async && (type.flags & PDC_KERNEL_MAY_BLOCK) != 0) {
      why += ": its handler may block; use threaded or pool";
    } else {
      std::vector<std::string_view> allowed;
      for (const auto& r : tier_rows()) {
        if ((type.tiers & r.plugin_mask) != 0) allowed.push_back(r.name);
      }
      if ((type.tiers & PDC_TIER_MASK(PDC_TIER_CUDA)) != 0 && find_tier(kernel_tier::cuda) == nullptr) {
        allowed.emplace_back("cuda (not in this build)");
      }
      why += ": it runs on ";
      for (std::size_t i = 0; i < allowed.size(); ++i) {
        if (i != 0) why += i + 1 == allowed.size() ? " and " : ", ";
        why += allowed[i];
      }
    }
    return make_error(errc::not_supported, why);
  }
  if (req.idle_spin_us > 10'000'000) {
    return make_error(errc::invalid_argument,
                      "idle spin of " + std::to_string(req.idle_spin_us) + " us is above the 10 s limit");
  }
  if (req.capacity < 1) return make_error(errc::invalid_argument, "capacity must be at least 1");
  if (req.max_message_bytes < 1 || req.max_message_bytes > cfg_.max_message_bytes) {
    return make_error(errc::invalid_argument, "max message size " + std::to_string(req.max_message_bytes) +
                                                  " must be 1.." + std::to_string(cfg_.max_message_bytes) +
                                                  " bytes (the daemon's max_message_bytes)");
  }
  if (const auto& c = req.confinement; c.any()) {
    if (req.isolation != kernel_isolation::process) {
      return make_error(errc::invalid_argument, "kernel '" + req.kernel_id +
                                                    "': a user, limits and seccomp confine a host process; launch it "
                                                    "with isolation process");
    }
    if (!c.user.empty()) {
      auto uid = user_uid(c.user);
      if (!uid) return make_error(errc::not_found, "kernel '" + req.kernel_id + "': " + uid.err().what());
      if (*uid != ::geteuid() && ::geteuid() != 0) {
        return make_error(errc::permission_denied, "kernel '" + req.kernel_id + "': pdcd runs as uid " +
                                                       std::to_string(::geteuid()) + " and cannot start a host as '" +
                                                       c.user + "' (only a root pdcd can)");
      }
    }
#ifndef PDC_HAVE_SECCOMP
    if (c.seccomp) {
      return make_error(errc::not_supported,
                        "kernel '" + req.kernel_id + "': this pdcd was built without libseccomp; no seccomp filter");
    }
#endif
  }
  if (!req.pool.empty() && req.tier != kernel_tier::pool) {
    return make_error(errc::invalid_argument,
                      "--pool applies to the pool tier only (got tier " + std::string(row->name) + ")");
  }
  return row;
}

std::string_view to_string(daemon_limit l) noexcept {
  switch (l) {
    case daemon_limit::sessions:
      return "sessions";
    case daemon_limit::attachments:
      return "attachments";
    case daemon_limit::kernels:
      return "kernels";
    case daemon_limit::kernel_threads:
      return "kernel_threads";
    case daemon_limit::queue_bytes:
      return "queue_bytes";
    case daemon_limit::count:
      break;
  }
  return "?";
}

error registry::refuse_at(daemon_limit l, const std::string& what) {
  limit_refusals_[static_cast<std::size_t>(l)].add();
  return make_error(errc::limit_reached, what);
}

std::size_t registry::attachment_count() const {
  std::size_t n = 0;
  for (const auto& [id, k] : kernels_) n += k->attachment_count();
  return n;
}

namespace {
// A terminate drains for at most this long, whatever it asked for.
constexpr std::uint64_t k_max_drain_ns = 3'600'000'000'000;  // one hour

// Threads a kernel holds in pdcd (named pools' threads are the pool's; an
// isolated kernel's are its host's).
std::uint32_t own_threads(const launch_request& r) {
  if (r.isolation == kernel_isolation::process) return 0;
  switch (r.tier) {
    case kernel_tier::threaded:
    case kernel_tier::spin:
      return 1;
    case kernel_tier::pool:
      return r.pool.empty() ? r.workers : 0;
    default:
      return 0;
  }
}
}  // namespace

result<void> registry::launch(launch_request req) {
  if (req.capacity == 0) req.capacity = cfg_.default_capacity;
  if (req.max_message_bytes == 0) req.max_message_bytes = cfg_.max_message_bytes;
  if (req.block_timeout_ms == 0) req.block_timeout_ms = cfg_.block_timeout_ms;
  const auto& limits = cfg_.limits;
  if (kernels_.size() >= limits.max_kernels) {
    return refuse_at(daemon_limit::kernels, "cannot launch kernel '" + req.kernel_id + "': pdcd runs " +
                                                std::to_string(kernels_.size()) +
                                                " kernels, its limit ([limits] max_kernels); terminate one first");
  }
  if (const std::uint64_t bytes = std::uint64_t{req.capacity} * req.max_message_bytes; bytes > limits.max_queue_bytes) {
    return refuse_at(daemon_limit::queue_bytes,
                     "cannot launch kernel '" + req.kernel_id + "': capacity " + std::to_string(req.capacity) +
                         " x max_message_bytes " + std::to_string(req.max_message_bytes) + " = " +
                         std::to_string(bytes) + " bytes of queue, over the limit of " +
                         std::to_string(limits.max_queue_bytes) + " ([limits] max_queue_bytes)");
  }
  auto type = loader_.find_type(req.kernel_type);
  if (!type) {
    std::string known;
    for (const auto& p : loader_.list()) {
      for (const auto& t : p.kernel_types) known += (known.empty() ? "" : ", ") + t;
    }
    return make_error(errc::not_found, "unknown kernel type '" + req.kernel_type +
                                           "' (loaded types: " + (known.empty() ? "none" : known) + ")");
  }
  auto row = check_launch(req, *type);
  if (!row) return std::move(row).err();
  auto agents = (*row)->agents(req, *type, env_);
  if (!agents) return std::move(agents).err();
  req.workers = *agents;
  if (const std::uint32_t wanted = own_threads(req); wanted != 0) {
    std::uint64_t held = 0;
    for (const auto& [id, k] : kernels_) held += own_threads(k->params());
    if (held + wanted > limits.max_kernel_threads) {
      return refuse_at(daemon_limit::kernel_threads,
                       "cannot launch kernel '" + req.kernel_id + "': it needs " + std::to_string(wanted) +
                           " thread(s) and kernels hold " + std::to_string(held) + " of the " +
                           std::to_string(limits.max_kernel_threads) + " allowed ([limits] max_kernel_threads)");
    }
  }
  const idle_strategy idle = idle_for(**row, req);
  auto access = access_list::parse(req.access);
  if (!access) return std::move(access).err();
  auto k = std::make_shared<kernel>(req, std::move(type), *this, std::move(access).value());
  auto exec = req.isolation == kernel_isolation::process
                  ? make_process_executor(*k, req, env_, cfg_.isolation, k->type().plugin->path())
                  : (*row)->make(*k, req, env_, idle);
  if (!exec) return std::move(exec).err();
  if (req.at_least_once && bridge_ != nullptr) {
    // Its stream and consumer first: a launch that cannot have them fails whole.
    if (auto js = bridge_->prepare_at_least_once(req.kernel_id, req.capacity); !js) return js;
  }
  if (auto launched = k->launch(std::move(exec).value()); !launched) return launched;
  spdlog::info("kernel '{}' launched: type {}, tier {}{}, {} worker(s), capacity {}, backpressure {}, isolation {}",
               req.kernel_id, req.kernel_type, to_string(req.tier), req.pool.empty() ? "" : " (pool " + req.pool + ")",
               req.workers, req.capacity, to_string(req.policy), to_string(req.isolation));
  if (!req.pool.empty()) {
    if (auto pool = pools_.find(req.pool)) (*pool)->kernels.push_back(req.kernel_id);
  }
  {
    std::unique_lock lock(kernels_mu_);
    kernels_.emplace(req.kernel_id, std::move(k));
  }
  if (req.at_least_once && bridge_ != nullptr) {
    if (auto js = bridge_->start_at_least_once(req.kernel_id); !js) {
      spdlog::error("kernel '{}': {}", req.kernel_id, js.err().what());
      kernels_.at(req.kernel_id)->set_error(js.err().what());
    }
  }
  return ok();
}

result<void> registry::adopt_host(adoption a) {
  auto refuse = [&](error e) -> result<void> {
    flatbuffers::FlatBufferBuilder b(256);
    const auto why = b.CreateString(e.what());
    b.Finish(host::CreateFrame(b, host::Body::Refused, host::CreateRefused(b, why).Union()));
    (void)a.link.send({b.GetBufferPointer(), b.GetSize()});
    return e;
  };
  launch_request req = a.start.req;
  if (kernels_.size() >= cfg_.limits.max_kernels) {
    return refuse(refuse_at(daemon_limit::kernels, "cannot adopt kernel '" + req.kernel_id + "': pdcd runs " +
                                                       std::to_string(kernels_.size()) +
                                                       " kernels ([limits] max_kernels)"));
  }
  auto type = loader_.find_type(req.kernel_type);
  if (!type) {
    // Its plugin, from where the earlier pdcd loaded it (the folder policy applies as to any load).
    if (auto loaded = load_plugin(a.start.plugin_path); !loaded) return refuse(std::move(loaded).err());
    type = loader_.find_type(req.kernel_type);
    if (!type)
      return refuse(
          make_error(errc::not_found, "no kernel type '" + req.kernel_type + "' after loading " + a.start.plugin_path));
  }
  if (type->plugin == nullptr || type->plugin->path() != a.start.plugin_path) {
    return refuse(make_error(errc::already_exists, "kernel type '" + req.kernel_type + "' comes from " +
                                                       (type->plugin ? type->plugin->path() : std::string("?")) +
                                                       " here, not from " + a.start.plugin_path));
  }
  auto row = check_launch(req, *type);
  if (!row) return refuse(std::move(row).err());
  auto access = access_list::parse(req.access);
  if (!access) return refuse(std::move(access).err());
  auto k = std::make_shared<kernel>(req, std::move(type), *this, std::move(access).value());
  auto made = make_process_executor(*k, req, env_, cfg_.isolation, a.start.plugin_path);
  if (!made) return refuse(std::move(made).err());
  auto* exec = static_cast<process_executor*>(made->get());
  const pid_t pid = a.pid;
  if (auto taken = exec->take_over(std::move(a.link), pid, a.state); !taken) return std::move(taken).err();
  if (auto launched = k->launch(std::move(made).value()); !launched) return launched;
  if (a.state == kernel_state::active || a.state == kernel_state::deactivated) (void)k->activate();
  if (a.state == kernel_state::deactivated) (void)k->deactivate();
  std::size_t served = 0;
  for (auto& at : a.attachments) {
    auto seg = segment::open(at.segment.release());
    auto view = seg ? attachment_daemon_view::adopt(std::move(seg).value()) : result<attachment_daemon_view>(seg.err());
    if (!view) {
      spdlog::warn("kernel '{}': adopted attachment {} is not one ({}); left out", req.kernel_id, at.attachment_id,
                   view.err().what());
      continue;
    }
    auto src = std::make_shared<attachment_source>(at.attachment_id, at.session_id, std::move(view).value(),
                                                   at.wake.release(), at.reply_wake.release());
    if (k->adopt_attachment(std::move(src))) ++served;
  }
  exec->adopted();
  spdlog::info("kernel '{}' adopted from the pdcd before: host pid {}, tier {}, {}, {} attachment(s)", req.kernel_id,
               pid, to_string(req.tier), to_string(a.state), served);
  std::unique_lock lock(kernels_mu_);
  kernels_.emplace(req.kernel_id, std::move(k));
  return ok();
}

result<std::shared_ptr<kernel>> registry::find(std::string_view id) const {
  auto it = kernels_.find(id);
  if (it != kernels_.end()) return it->second;
  // A few names help with a typo; a thousand would only bloat the answer.
  constexpr std::size_t k_named = 8;
  std::string known;
  std::size_t named = 0;
  for (const auto& [kid, k] : kernels_) {
    if (named++ == k_named) {
      known += " and " + std::to_string(kernels_.size() - k_named) + " more";
      break;
    }
    known += (known.empty() ? "" : ", ") + kid;
  }
  return make_error(errc::not_found,
                    "kernel '" + std::string(id) + "' not found (kernels: " + (known.empty() ? "none" : known) + ")");
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

void registry::terminate(const std::string& id, bool drop, std::uint64_t timeout_ns,
                         std::function<void(result<void>)> done) {
  auto found = find(id);
  if (!found) {
    done(std::move(found).err());
    return;
  }
  const std::shared_ptr<kernel> k = *found;  // alive through the call, whatever done does
  timeout_ns = std::min(timeout_ns, k_max_drain_ns);
  if (k->state() != kernel_state::terminating) {
    spdlog::info("kernel '{}' terminating ({})", id, drop ? "dropping what is queued" : "draining");
  }
  // The client hears once: when the kernel is gone, or when it is found stuck.
  auto answer = std::make_shared<std::function<void(result<void>)>>(std::move(done));
  k->on_stuck([answer, id] {
    if (auto d = std::exchange(*answer, nullptr)) {
      d(make_error(errc::timeout, "kernel '" + id +
                                      "' is stuck: a handler has not returned since the drain ended; it stays "
                                      "terminating (pdcctl status shows it) and is gone once the handler returns"));
    }
  });
  k->terminate(drop, timeout_ns, [this, weak = std::weak_ptr<kernel>(k), answer](result<void> r) {
    if (r) {
      if (auto gone = weak.lock()) forget(gone);
    }
    if (auto d = std::exchange(*answer, nullptr)) d(std::move(r));
  });
}

void registry::forget(const std::shared_ptr<kernel>& k) {
  const auto s = k->snapshot();
  spdlog::info("kernel '{}' terminated ({} processed, {} dropped)", k->id(), s.processed, s.dropped);
  const std::string id = k->id();
  if (k->params().at_least_once && bridge_ != nullptr) bridge_->stop_at_least_once(id);
  {
    std::unique_lock lock(kernels_mu_);
    const auto it = kernels_.find(id);
    if (it != kernels_.end() && it->second == k) kernels_.erase(it);
  }
  for (auto& [other_id, other] : kernels_) other->outs().unlink(id);
  if (!k->params().pool.empty()) {
    if (auto pool = pools_.find(k->params().pool)) std::erase((*pool)->kernels, id);
  }
  if (kernels_.empty() && !on_empty_.empty()) {
    auto waiters = std::move(on_empty_);
    on_empty_.clear();
    for (auto& w : waiters) post(std::move(w));
  }
}

void registry::terminate_all(std::uint64_t timeout_ns, std::function<void()> done) {
  if (kernels_.empty()) {
    post(std::move(done));
    return;
  }
  on_empty_.push_back(std::move(done));
  std::vector<std::string> ids;
  for (const auto& [id, k] : kernels_) {
    k->set_stop_reason(errc::daemon_stopping);  // clients hear pdcd is stopping, not a terminate
    if (k->state() != kernel_state::terminating) {
      ids.push_back(id);
    } else {
      k->drain_until(timeout_ns);  // one terminating with a longer timeout stops within this one too
    }
  }
  // All at once: each drains in parallel, within the same timeout.
  for (const auto& id : ids) {
    terminate(id, false, timeout_ns, [id](const result<void>& r) {
      if (!r) spdlog::warn("terminate '{}': {}", id, r.err().what());
    });
  }
}

result<void> registry::connect(const std::string& from, const std::string& to) {
  auto a = find(from);
  if (!a) return std::move(a).err();
  auto b = find(to);
  if (!b) return std::move(b).err();
  if (from == to) return make_error(errc::invalid_argument, "cannot connect kernel '" + from + "' to itself");
  const auto existing = (*a)->outs().snapshot()->kernels;
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
      for (const auto& next : (*kk)->outs().snapshot()->kernels) todo.push_back(next);
    }
  }
  (*a)->outs().link(to);
  spdlog::info("kernel '{}' connected to '{}'", from, to);
  return ok();
}

result<void> registry::disconnect(const std::string& from, const std::string& to) {
  auto a = find(from);
  if (!a) return std::move(a).err();
  if (!(*a)->outs().unlink(to)) {
    return make_error(errc::not_found, "kernel '" + from + "' is not connected to '" + to + "'");
  }
  spdlog::info("kernel '{}' disconnected from '{}'", from, to);
  return ok();
}

void registry::forget_session(std::uint64_t session_id) {
  for (auto& [id, k] : kernels_) k->outs().unsubscribe(session_id);
}

// ---- kernel_host ------------------------------------------------------------------------

bool registry::on_control_thread() const noexcept {
  return io_.get_executor().running_in_this_thread();
}

void registry::deliver_now(std::uint64_t session_id, kernel& from, delivery what, const envelope& env,
                           std::span<const std::byte> payload) {
  const errc rc = sink_ == nullptr ? errc::peer_gone : sink_->deliver(session_id, from.id(), env, payload);
  from.delivered(what, rc, env, payload);
}

errc registry::deliver(std::uint64_t session_id, kernel& from, delivery what, const envelope& env,
                       std::span<const std::byte> payload) {
  if (is_remote_session(session_id)) {
    // The answer to another node's request: straight to NATS from this
    // thread; a request no longer awaited is counted by the bridge.
    if (bridge_ != nullptr && what != delivery::output) (void)bridge_->answer(session_id, env, payload);
    return errc::ok;
  }
  if (on_control_thread()) {
    deliver_now(session_id, from, what, env, payload);
    return errc::ok;
  }
  // From an agent's thread: sessions belong to the control thread. The
  // hand-over is bounded in bytes, so a client that never reads cannot make
  // the daemon buffer without limit.
  const std::uint64_t bytes = sizeof(envelope) + payload.size() + 128;
  if (in_flight_.fetch_add(bytes, std::memory_order_relaxed) + bytes > cfg_.max_in_flight_bytes) {
    in_flight_.fetch_sub(bytes, std::memory_order_relaxed);
    return errc::full;
  }
  asio::post(io_, [this, session_id, weak = from.weak_from_this(), what, env, bytes,
                   copy = std::vector<std::byte>(payload.begin(), payload.end())] {
    in_flight_.fetch_sub(bytes, std::memory_order_relaxed);
    if (auto k = weak.lock()) deliver_now(session_id, *k, what, env, copy);
  });
  return errc::ok;
}

errc registry::route(kernel& /*from*/, std::string_view to, const envelope& env, std::span<const std::byte> payload) {
  std::string_view node;
  std::string_view remote_id;
  if (split_remote_address(to, node, remote_id)) {
    if (bridge_ == nullptr) return errc::not_found;
    if (node != bridge_->node()) {
      if (payload.size() > cfg_.max_message_bytes) return errc::message_too_large;
      return bridge_->send(node, remote_id, env, payload, 0);
    }
    to = remote_id;  // this node's own
  }
  std::shared_ptr<kernel> target;
  {
    std::shared_lock lock(kernels_mu_);
    const auto it = kernels_.find(to);
    if (it == kernels_.end()) return errc::not_found;
    target = it->second;
  }
  if (payload.size() > target->params().max_message_bytes) return errc::message_too_large;
  queued_message m{env, {payload.begin(), payload.end()}, reply_address::nobody(), 0};
  switch (target->offer(m)) {
    case offer_result::accepted:
      return errc::ok;
    case offer_result::wait:
      return errc::full;  // a kernel never waits for another's queue
    case offer_result::rejected:
      return errc::rejected;
    case offer_result::dropped_newest:
      return errc::dropped;
    case offer_result::closed:
      return errc::terminated;
  }
  return errc::internal;
}

void registry::settle(std::uint64_t settle_id) {
  if (bridge_ != nullptr) bridge_->settle(settle_id);
}

result<void> registry::offer_remote(std::string_view id, std::string_view from, queued_message& m) {
  std::shared_ptr<kernel> target;
  {
    std::shared_lock lock(kernels_mu_);
    const auto it = kernels_.find(id);
    if (it != kernels_.end()) target = it->second;
  }
  const std::string& me = cfg_.cluster.node;
  // A kernel that is not exported is not there, as far as other nodes can tell.
  if (target == nullptr || !target->params().exported) {
    return make_error(errc::not_found, "node '" + me + "' exports no kernel '" + std::string(id) + "'");
  }
  if (!target->permits_node(from, kernel_right::send)) {
    post([this, weak = target->weak_from_this()] {
      count_denied();
      if (auto k = weak.lock()) k->count_denied();
    });
    return make_error(errc::permission_denied, "node '" + std::string(from) + "' may not send to kernel '" +
                                                   std::string(id) + "' of node '" + me +
                                                   "': its access list has no node: entry granting it");
  }
  const auto limit = target->params().max_message_bytes;
  if (m.payload.size() > limit) {
    return make_error(errc::message_too_large, "message of " + std::to_string(m.payload.size()) +
                                                   " bytes exceeds kernel '" + std::string(id) + "' limit of " +
                                                   std::to_string(limit) + " bytes; refused");
  }
  // block: this bridge thread waits for room (polling, up to the kernel's
  // block timeout), which holds back what that connection brings next.
  const std::uint64_t until = now_ns() + static_cast<std::uint64_t>(target->params().block_timeout_ms) * 1'000'000ULL;
  std::uint64_t pause_us = 20;
  for (;;) {
    switch (target->offer(m)) {
      case offer_result::accepted:
        return ok();
      case offer_result::rejected:
        return make_error(errc::rejected, "kernel '" + std::string(id) + "' of node '" + me +
                                              "': queue is full (policy reject); message refused");
      case offer_result::dropped_newest:
        return make_error(errc::dropped, "kernel '" + std::string(id) + "' of node '" + me +
                                             "': queue is full (policy drop_newest); message dropped");
      case offer_result::closed:
        return make_error(errc::terminated,
                          "kernel '" + std::string(id) + "' of node '" + me + "' is terminating; message refused");
      case offer_result::wait:
        break;
    }
    if (now_ns() >= until) {
      target->note_block_timeout();
      return make_error(errc::timeout, "kernel '" + std::string(id) + "' of node '" + me + "': queue stayed full for " +
                                           std::to_string(target->params().block_timeout_ms) +
                                           " ms (policy block); message not queued");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(pause_us));
    pause_us = std::min<std::uint64_t>(pause_us * 2, 1000);
  }
}

void registry::log(const kernel& k, int level, std::string_view text) {
  const auto lvl = level >= PDC_LOG_ERROR  ? spdlog::level::err
                   : level >= PDC_LOG_WARN ? spdlog::level::warn
                   : level >= PDC_LOG_INFO ? spdlog::level::info
                                           : spdlog::level::debug;
  std::uint64_t suppressed = 0;
  if (!k.take_log_line(now_ns(), suppressed)) return;
  if (suppressed != 0) {
    spdlog::warn("[{}] {} log lines suppressed (more than {} a second)", k.id(), suppressed,
                 kernel::k_log_lines_per_second);
  }
  spdlog::log(lvl, "[{}] {}", k.id(), text);
}

void registry::post(std::function<void()> fn) {
  asio::post(io_, std::move(fn));
}

void registry::post_after(std::uint64_t delay_ns, std::function<void()> fn) {
  auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::nanoseconds(delay_ns));
  timer->async_wait([timer, fn = std::move(fn)](const asio::error_code& ec) {
    if (!ec) fn();
  });
}

}  // namespace pdc::daemon
