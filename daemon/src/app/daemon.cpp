#include "app/daemon.hpp"

#include <spdlog/spdlog.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include <sys/resource.h>
#include <unistd.h>

#include "app/sd_notify.hpp"
#include "cluster/bridge.hpp"
#include "pdc/core/socket_path.hpp"
#include "runtime/registry.hpp"
#include "server/control_server.hpp"
#include "telemetry/http_metrics.hpp"

namespace pdc::daemon {

struct daemon::impl {
  explicit impl(daemon_config c)
      : cfg(std::move(c)),
        reg(io, cfg),
        server(io, reg, cfg),
        rendezvous(io, reg),
        signals(io),
        guard(io),
        watchdog(io),
        http_metrics(io, reg) {
    reg.set_sink(&server);
  }
  ~impl() {
    // Nothing from other nodes after this; the kernels, destroyed next, may still answer through it.
    if (bridge) bridge->stop();
    reg.set_sink(nullptr);
  }

  void watch_signals() {
    signals.async_wait([this](const asio::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        reload();
        watch_signals();
        return;
      }
      spdlog::info("received {}: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      shutdown();
    });
  }

  // STATUS= for systemctl status.
  [[nodiscard]] std::string status_line() {
    return "STATUS=serving " + std::to_string(reg.kernels().size()) + " kernels on " + server.path() +
           (server.socket_activated() ? " (socket from systemd)" : "");
  }

  // WATCHDOG=1 at half systemd's interval, from the event loop itself: a
  // loop that stops making progress stops the pings, and systemd restarts it.
  void arm_watchdog(std::chrono::microseconds every) {
    watchdog.expires_after(every / 2);
    watchdog.async_wait([this, every](const asio::error_code& ec) {
      if (ec || stopping) return;
      notify_systemd("WATCHDOG=1");
      arm_watchdog(every);
    });
  }

  void reload() {
    notify_reloading();
    reload_config();
    notify_systemd("READY=1\n" + status_line());
  }

  void reload_config() {
    if (cfg.source.empty()) {
      spdlog::info("SIGHUP: no config file to reload");
      return;
    }
    auto fresh = load_config_file(cfg.source);
    if (!fresh) {
      spdlog::error("SIGHUP: keeping the running config; {}", fresh.err().what());
      return;
    }
    // Only settings that are safe to change live are applied.
    cfg.log_level = fresh->log_level;
    cfg.block_timeout_ms = fresh->block_timeout_ms;
    cfg.drain_timeout_ms = fresh->drain_timeout_ms;
    set_log_level(cfg.log_level);
    spdlog::info("SIGHUP: reloaded {} (log_level, block_timeout_ms, drain_timeout_ms)", cfg.source);
  }

  // Stops accepting, terminates every kernel in parallel within one drain
  // timeout, and stops the loop once they are all gone. Never blocks.
  void shutdown() {
    if (stopping) return;
    stopping = true;
    watchdog.cancel();
    notify_systemd("STOPPING=1\nSTATUS=stopping: draining " + std::to_string(reg.kernels().size()) + " kernels");
    server.stop_accepting();
    server.say_goodbye("pdcd is stopping");
    http_metrics.stop();
    rendezvous.stop();
    reg.terminate_all(std::uint64_t{cfg.drain_timeout_ms} * 1'000'000, [this] { finish(); });
    // A handler that never returns must not keep the daemon alive: after the
    // drain timeout and a grace period, exit without waiting for it.
    guard.expires_after(std::chrono::milliseconds(cfg.drain_timeout_ms) + k_stop_grace);
    guard.async_wait([this](const asio::error_code& ec) {
      if (ec) return;
      std::string busy;
      for (const auto& [id, k] : reg.kernels()) busy += (busy.empty() ? "" : ", ") + id;
      spdlog::error("kernels still running a handler {} ms after the drain timeout: {}; exiting without them",
                    k_stop_grace.count(), busy);
      spdlog::shutdown();
      std::_Exit(0);
    });
  }

  void finish() {
    guard.cancel();
    server.close_all();
    asio::error_code ignored;
    signals.cancel(ignored);
    io.stop();
  }

  static constexpr std::chrono::milliseconds k_stop_grace{2000};
  static constexpr std::chrono::milliseconds k_adopt_wait{3000};

  asio::io_context io{1};
  daemon_config cfg;
  std::unique_ptr<cluster_bridge> bridge;  // outlives the registry's kernels
  registry reg;
  control_server server;
  host_rendezvous rendezvous;
  asio::signal_set signals;
  asio::steady_timer guard;
  asio::steady_timer watchdog;
  metrics_http_server http_metrics;
  bool stopping = false;
};

daemon::daemon(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
daemon::~daemon() = default;

namespace {
// Descriptors the daemon holds whatever its load: its socket, event loop,
// signal and log descriptors, the closer's queue, plugins being loaded.
constexpr std::uint64_t k_base_descriptors = 64;
}  // namespace

std::uint64_t descriptors_needed(const daemon_config& cfg) {
  const auto& l = cfg.limits;
  std::uint64_t pool_threads = 0;
  for (const auto& p : cfg.pools) pool_threads += p.threads;
  // A session: its socket. An attachment: its memfd and its eventfd. A
  // kernel: its doorbell (eventfd + epoll set, and the event loop's
  // duplicate on the async tier). A thread of its own: a doorbell.
  return k_base_descriptors + l.max_sessions + 2ULL * l.max_attachments + 3ULL * l.max_kernels +
         2ULL * (l.max_kernel_threads + pool_threads);
}

result<void> ensure_descriptors(const daemon_config& cfg) {
  const std::uint64_t need = descriptors_needed(cfg);
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return ok();
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < need) {
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < need) {
      return make_error(errc::limit_reached,
                        "the configured limits need up to " + std::to_string(need) +
                            " file descriptors, but RLIMIT_NOFILE allows " + std::to_string(lim.rlim_max) +
                            " (raise LimitNOFILE= / ulimit -n, or lower [limits] max_sessions, max_attachments, "
                            "max_kernels or max_kernel_threads)");
    }
    const rlim_t old = lim.rlim_cur;
    lim.rlim_cur = static_cast<rlim_t>(need);
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
      return make_error(errc::system_error, "cannot raise RLIMIT_NOFILE from " + std::to_string(old) + " to " +
                                                std::to_string(need) + ": " + std::strerror(errno));
    }
    spdlog::info("raised the open-file limit from {} to {} (what [limits] may need)", old, need);
  }
  return ok();
}

result<std::unique_ptr<daemon>> daemon::create(daemon_config cfg, bool handle_signals) {
  if (auto v = validate(cfg); !v) return std::move(v).err();
  if (auto fds = ensure_descriptors(cfg); !fds) return std::move(fds).err();
  auto p = std::make_unique<impl>(std::move(cfg));
  if (auto admins = p->reg.resolve_admin_group(); !admins) return std::move(admins).err();
  if (auto access = p->reg.resolve_cluster_access(); !access) return std::move(access).err();
  if (auto pools = p->reg.start_pools(); !pools) return std::move(pools).err();
  if (p->cfg.cluster.enabled()) {
    cluster_bridge::host hooks;
    hooks.offer = [reg = &p->reg](std::string_view kernel, std::string_view from, queued_message& m) {
      return reg->offer_remote(kernel, from, m);
    };
    hooks.to_session = [reg = &p->reg](std::uint64_t session, const std::string& address, const envelope& env,
                                       std::span<const std::byte> payload) {
      reg->deliver_remote_reply(session, address, env, payload);
    };
    hooks.post = [io = &p->io](std::function<void()> fn) { asio::post(*io, std::move(fn)); };
    auto b = cluster_bridge::connect(p->cfg.cluster, std::move(hooks));
    if (!b) return std::move(b).err();
    p->bridge = std::move(*b);
    p->reg.set_bridge(p->bridge.get());
    spdlog::info("cluster: {}", p->bridge->describe());
  }
  auto inherited = take_inherited_socket();
  if (!inherited) return std::move(inherited).err();
  std::string path;
  if (*inherited) {
    // Socket activation: systemd's socket wins over the configured path.
    path = (*inherited)->path;
    if (!p->cfg.socket_path.empty() && resolve_socket_path(p->cfg.socket_path) != path) {
      spdlog::warn("serving the socket systemd passed, {}, not the configured {}", path, p->cfg.socket_path);
    }
    if (auto l = p->server.adopt_listener((*inherited)->fd, path); !l) return std::move(l).err();
    spdlog::info("listening socket {} taken from systemd (socket activation)", path);
  } else {
    path = resolve_socket_path(p->cfg.socket_path);
    if (auto l = p->server.listen(path); !l) return std::move(l).err();
  }
  if (!p->cfg.metrics_listen.empty()) {
    if (auto m = p->http_metrics.listen(p->cfg.metrics_listen); !m) return std::move(m).err();
    spdlog::info("metrics over HTTP at {}/metrics", p->http_metrics.where());
  }
  for (const auto& plugin : p->cfg.plugins) {
    if (auto r = p->reg.load_plugin(plugin); !r) spdlog::error("plugin {} not loaded: {}", plugin, r.err().what());
  }
  // Hosts of isolated kernels outlive their pdcd: those of the one before
  // reconnect here and are adopted before the config's kernels start.
  const std::string rendezvous_path = path + ".hosts";
  if (auto r = p->rendezvous.listen(rendezvous_path); !r) {
    spdlog::warn("no rendezvous for kernel hosts ({}): isolated kernels end with this pdcd", r.err().what());
  } else {
    p->cfg.isolation.rendezvous_path = rendezvous_path;
    const auto waiting = host_rendezvous::waiting_hosts(rendezvous_path);
    if (!waiting.empty()) {
      spdlog::info("{} kernel host(s) of the pdcd before are running; adopting them", waiting.size());
      const auto until = std::chrono::steady_clock::now() + impl::k_adopt_wait;
      while (p->rendezvous.adopted() < waiting.size() && std::chrono::steady_clock::now() < until) {
        p->io.run_for(std::chrono::milliseconds(10));
      }
      p->io.restart();
      if (p->rendezvous.adopted() < waiting.size()) {
        spdlog::warn("{} of {} kernel host(s) adopted within {} ms", p->rendezvous.adopted(), waiting.size(),
                     impl::k_adopt_wait.count());
      }
    }
  }
  for (const auto& k : p->cfg.kernels) {
    if (p->reg.kernels().contains(k.launch.kernel_id)) {
      spdlog::info("kernel '{}' of the config runs already (adopted from the pdcd before)", k.launch.kernel_id);
      continue;
    }
    auto req = k.launch;
    req.owner_uid = static_cast<std::uint32_t>(::geteuid());  // the daemon launches them
    if (auto r = p->reg.launch(std::move(req)); !r) {
      spdlog::error("kernel '{}' not launched: {}", k.launch.kernel_id, r.err().what());
      continue;
    }
    if (k.activate) {
      if (auto r = p->reg.activate(k.launch.kernel_id); !r) spdlog::error("{}", r.err().what());
    }
  }
  if (handle_signals) {
    p->signals.add(SIGTERM);
    p->signals.add(SIGINT);
    p->signals.add(SIGHUP);
    p->watch_signals();
  }
  return std::unique_ptr<daemon>(new daemon(std::move(p)));
}

void daemon::run() {
  impl_->server.start();
  spdlog::info("pdcd listening on {}", impl_->server.path());
  notify_systemd("READY=1\n" + impl_->status_line());
  if (const auto every = watchdog_interval()) {
    spdlog::info("systemd watchdog: WATCHDOG=1 every {} ms", every->count() / 2000);
    impl_->arm_watchdog(*every);
  }
  impl_->io.run();
  if (!impl_->stopping) {
    // The loop ran out of work without a stop request: shut down properly.
    impl_->io.restart();
    impl_->shutdown();
    impl_->io.run();
  }
  spdlog::info("pdcd stopped");
}

void daemon::request_stop() {
  asio::post(impl_->io, [p = impl_.get()] { p->shutdown(); });
}

const std::string& daemon::socket_path() const {
  return impl_->server.path();
}

void set_log_level(const std::string& level) {
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace pdc::daemon
