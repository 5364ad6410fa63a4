#include "commands.hpp"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

#include "format.hpp"
#include "json_render.hpp"
#include "pdc/core/clock.hpp"
#include "render.hpp"

namespace pdc::ctl {

namespace {
// Control calls normally answer in microseconds; this only guards against a stuck daemon.
constexpr std::int64_t k_call_timeout_ns = 30'000'000'000;
constexpr std::int64_t k_ns_per_ms = 1'000'000;

std::int64_t ms_to_ns(std::int64_t ms) {
  return ms < 0 ? -1 : ms * k_ns_per_ms;
}

void print_json(context& ctx, const detail::json_writer& w) {
  ctx.out << w.str() << '\n';
}

// Every name of a kind, as the CLI accepts it.
template <typename E, std::size_t N>
std::vector<std::string> names_of(const E (&all)[N]) {
  std::vector<std::string> out;
  for (const E e : all) out.emplace_back(to_string(e));
  return out;
}

template <typename E, std::size_t N>
std::string choices_of(const E (&all)[N]) {
  std::string out;
  for (const E e : all) out += (out.empty() ? "" : "|") + std::string(to_string(e));
  return out;
}

template <typename T>
void print_json_value(context& ctx, const T& value) {
  detail::json_writer w(2);
  detail::write_json(w, value);
  print_json(ctx, w);
}
}  // namespace

result<std::vector<std::byte>> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(errc::invalid_argument, "cannot read " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return make_error(errc::invalid_argument, "cannot read " + path);
  std::vector<std::byte> out(bytes.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) out[i] = static_cast<std::byte>(bytes[i]);
  return out;
}

// ---- registration ------------------------------------------------------------

command_set::command_set(CLI::App& app) {
  add_plugin_commands(app);
  add_lifecycle_commands(app);
  add_query_commands(app);
  add_message_commands(app);
}

CLI::App* command_set::leaf(CLI::App& parent, const char* name, const char* description, which w) {
  auto* sub = parent.add_subcommand(name, description);
  sub->callback([this, w] { chosen_ = w; });
  return sub;
}

void command_set::add_plugin_commands(CLI::App& app) {
  auto* plugin = app.add_subcommand("plugin", "Load, list and unload kernel plugins");
  plugin->require_subcommand(1);
  leaf(*plugin, "load", "Load a plugin .so: a file name in pdcd's plugin folders, or a path inside one",
       which::plugin_load)
      ->add_option("path", target_, "Plugin file")
      ->required();
  leaf(*plugin, "list", "List loaded plugins", which::plugin_list);
  leaf(*plugin, "unload", "Unload a plugin (no kernel of it may be alive)", which::plugin_unload)
      ->add_option("name", target_, "Plugin name")
      ->required();
}

void command_set::add_lifecycle_commands(CLI::App& app) {
  auto* launch = leaf(app, "launch", "Launch a kernel (gated until activated)", which::launch);
  launch->add_option("type", launch_.kernel_type, "Kernel type")->required();
  launch->add_option("--id", launch_.kernel_id, "Kernel id (unique)")->required();
  launch->add_option("--tier", tier_name_, choices_of(k_all_tiers))
      ->check(CLI::IsMember(names_of(k_all_tiers)))
      ->capture_default_str();
  launch->add_option("--capacity", launch_.capacity, "Queue capacity, messages (0: daemon default)");
  launch->add_option("--backpressure", backpressure_name_, choices_of(k_all_backpressure_policies))
      ->check(CLI::IsMember(names_of(k_all_backpressure_policies)))
      ->capture_default_str();
  launch
      ->add_option("--isolation", isolation_name_,
                   "Where its handlers run: none (inside pdcd) or process (a supervised host process that "
                   "restarts alone when it crashes)")
      ->check(CLI::IsMember(names_of(k_all_isolations)))
      ->capture_default_str();
  launch->add_option("--user", launch_.host_user, "Process isolation: run the host as this user (a root pdcd only)");
  launch->add_option("--max-memory-mb", launch_.max_address_space_mb,
                     "Process isolation: the host's address-space limit, MiB (0: none)");
  launch->add_option("--max-cpu-seconds", launch_.max_cpu_seconds,
                     "Process isolation: the host's CPU-time limit, s (past it the host is restarted; 0: none)");
  launch->add_option("--max-open-files", launch_.max_open_files,
                     "Process isolation: the host's open-file limit (0: none)");
  launch->add_flag("--export", launch_.exported,
                   "Reachable from other nodes of the cluster as NODE/ID (pdcd must be a node; docs/cluster.md)");
  launch->add_flag("--at-least-once", launch_.at_least_once,
                   "With --export: other nodes' messages come through JetStream, acknowledged after the handler");
  launch->add_flag("--seccomp", launch_.seccomp,
                   "Process isolation: filter the host's system calls (exec, ptrace, mount... end it)");
  launch->add_option("--max-message", launch_.max_message_bytes, "Largest payload, bytes (0: daemon default)");
  launch->add_option("--block-timeout", launch_.block_timeout_ms, "Wait limit for block, ms (0: daemon default)");
  launch->add_option("--workers", launch_.workers,
                     "Pool tier: workers (private pool: its threads, default 2; named pool: default 1)");
  launch->add_option("--pool", launch_.pool, "Pool tier: run on this named pool of the daemon (pdcctl pools)");
  launch->add_option("--cpu", launch_.cpu, "CPU to pin a spin or threaded kernel to (-1: none)")->capture_default_str();
  launch->add_option("--idle-spin-us", launch_.idle_spin_us,
                     "Polling before an idle worker parks, us (0: the tier's default)");
  launch->add_flag("--no-latency-metrics", no_latency_metrics_,
                   "Do not record the queue-wait and processing histograms");
  launch->add_option("--allow", launch_.access,
                     "Let others use it: user:NAME|group:NAME|uid:N|gid:N|anyone=send,attach,subscribe,status|all "
                     "(repeatable)");
  launch->add_option("--config", launch_.config, "Text passed to the kernel type's create()");

  leaf(app, "activate", "Open a kernel's gate", which::activate)->add_option("id", target_, "Kernel id")->required();
  leaf(app, "deactivate", "Close a kernel's gate (messages keep queuing)", which::deactivate)
      ->add_option("id", target_, "Kernel id")
      ->required();
  auto* terminate = leaf(app, "terminate", "Terminate a kernel (drains its queue first)", which::terminate);
  terminate->add_option("id", target_, "Kernel id")->required();
  terminate->add_flag("--drop", drop_, "Drop queued messages instead of draining");
  terminate->add_option("--timeout", terminate_timeout_ms_, "Drain time limit, ms")->capture_default_str();
  auto* connect = leaf(app, "connect", "Pipe kernel A's outputs into kernel B", which::connect);
  connect->add_option("from", target_, "Kernel A (its outputs)")->required();
  connect->add_option("to", to_kernel_, "Kernel B (receives them)")->required();
  auto* disconnect = leaf(app, "disconnect", "Undo 'connect A B'", which::disconnect);
  disconnect->add_option("from", target_, "Kernel A")->required();
  disconnect->add_option("to", to_kernel_, "Kernel B")->required();
}

void command_set::add_query_commands(CLI::App& app) {
  leaf(app, "list", "List kernels", which::list);
  leaf(app, "pools", "List the daemon's named thread pools and their kernels", which::pools);
  leaf(app, "status", "Kernel status: a table of all, or one kernel in detail", which::status)
      ->add_option("id", target_, "Kernel id (omit for all)");
  auto* metrics = leaf(app, "metrics", "Kernel metrics and latency histograms", which::metrics);
  metrics->add_option("id", target_, "Kernel id (omit for all)");
  metrics->add_flag("--prometheus", prometheus_, "Prometheus text exposition format");
  auto* top = leaf(app, "top",
                   "A live table of kernels (msg/s, queue, p99 latencies, errors, drops); in a terminal: s sorts by "
                   "the next column, r reverses, q quits",
                   which::top);
  top->add_option("--interval", top_.interval_ms, "Refresh period, ms")
      ->check(CLI::Range(50U, 3'600'000U))
      ->capture_default_str();
  std::string columns;
  for (const auto c : k_top_columns) columns += (columns.empty() ? "" : "|") + std::string(name_of(c));
  top->add_option("--sort", top_sort_, "Sort column: " + columns)->capture_default_str();
  top->add_flag("--reverse", top_.reverse, "Reverse the order (numbers smallest first, names Z to A)");
  top->add_option("-n,--iterations", top_.iterations, "Stop after this many refreshes (0: until q or Ctrl-C)")
      ->capture_default_str();
}

void command_set::add_message_commands(CLI::App& app) {
  auto* send = leaf(app, "send", "Send a message to a kernel", which::send);
  send->add_option("id", kernel_id_, "Kernel id, or NODE/ID: a kernel another node of the cluster exports")->required();
  auto* payload = send->add_option_group("payload", "Exactly one payload source");
  data_opt_ = payload->add_option("--data", data_text_, "Payload text (UTF-8 bytes)");
  file_opt_ = payload->add_option("--file", data_file_, "Payload read from a file");
  hex_opt_ = payload->add_option("--hex", data_hex_, "Payload as hex digits (e.g. 0a1b2c)");
  int64_opt_ = payload->add_option("--int64", data_int64_, "Payload as a little-endian 64-bit integer");
  payload->require_option(1);
  send->add_flag("--wait-reply", wait_reply_, "Wait for the kernel's reply and print it");
  send->add_option("--timeout", wait_timeout_ms_, "Reply wait limit, ms (negative: forever)")->capture_default_str();
  send->add_option("--type", send_opts_.type_id, "Application type id of the payload")->capture_default_str();
  send->add_option("--priority", priority_, "Priority 0-255")->check(CLI::Range(0, 255))->capture_default_str();

  auto* recv = leaf(app, "recv", "Subscribe to a kernel and print the next message it emits", which::recv);
  recv->add_option("id", kernel_id_, "Kernel id")->required();
  recv_timeout_opt_ =
      recv->add_option("--timeout", wait_timeout_ms_,
                       "Wait limit, ms (negative: forever); with --follow, how long to follow (default then: forever)")
          ->capture_default_str();
  recv->add_flag("--follow", follow_,
                 "Print every message until --timeout passes or pdcctl is interrupted; reconnect and subscribe "
                 "again when pdcd restarts");
}

// ---- local checks ----------------------------------------------------------------

result<void> command_set::prepare() {
  if (chosen_ == which::launch) {
    auto tier = parse_tier(tier_name_);
    if (!tier) return std::move(tier).err();
    auto policy = parse_backpressure(backpressure_name_);
    if (!policy) return std::move(policy).err();
    launch_.tier = *tier;
    launch_.backpressure = *policy;
    auto isolation = parse_isolation(isolation_name_);
    if (!isolation) return std::move(isolation).err();
    launch_.isolation = *isolation;
    launch_.latency_metrics = !no_latency_metrics_;
  }
  if (chosen_ == which::top) {
    const auto c = parse_top_column(top_sort_);
    if (!c) return make_error(errc::invalid_argument, "--sort: no column '" + top_sort_ + "'");
    top_.sort = *c;
  }
  if (chosen_ != which::send) return ok();
  send_opts_.priority = static_cast<std::uint8_t>(priority_);
  if (data_opt_->count() > 0) {
    const auto bytes = bytes_of(data_text_);
    payload_.assign(bytes.begin(), bytes.end());
  } else if (file_opt_->count() > 0) {
    auto bytes = read_file(data_file_);
    if (!bytes) return std::move(bytes).err();
    payload_ = std::move(*bytes);
  } else if (hex_opt_->count() > 0) {
    auto bytes = parse_hex(data_hex_);
    if (!bytes) return std::move(bytes).err();
    payload_ = std::move(*bytes);
  } else {
    payload_ = encode_int64(data_int64_);
  }
  return ok();
}

bool command_set::follows() const noexcept {
  return chosen_ == which::recv && follow_;
}

std::int64_t command_set::call_timeout_ns() const noexcept {
  if (chosen_ == which::terminate) return k_call_timeout_ns + ms_to_ns(terminate_timeout_ms_);
  return k_call_timeout_ns;
}

// ---- running -----------------------------------------------------------------

result<void> command_set::run(context& ctx) {
  switch (chosen_) {
    case which::plugin_load:
    case which::plugin_list:
    case which::plugin_unload:
      return run_plugin(ctx);
    case which::launch:
    case which::activate:
    case which::deactivate:
    case which::terminate:
    case which::connect:
    case which::disconnect:
      return run_lifecycle(ctx);
    case which::list:
    case which::status:
    case which::metrics:
    case which::pools:
      return run_query(ctx);
    case which::send:
      return run_send(ctx);
    case which::recv:
      return run_recv(ctx);
    case which::top:
      if (ctx.json) return make_error(errc::invalid_argument, "top has no JSON output; use pdcctl --json status");
      return run_top(ctx.session, ctx.out, top_);
    case which::none:
      break;
  }
  return make_error(errc::invalid_argument, "no command given");
}

result<void> command_set::print_done(context& ctx, const std::string& verb, const std::string& noun,
                                     const std::string& id) {
  if (ctx.json) {
    detail::json_writer w(2);
    w.begin_object().field("ok", true).field(noun, id).field("action", verb).end_object();
    print_json(ctx, w);
  } else {
    ctx.out << verb << ' ' << (noun == "kernel_id" ? "kernel" : "plugin") << ' ' << id << '\n';
  }
  return ok();
}

result<void> command_set::run_plugin(context& ctx) {
  if (chosen_ == which::plugin_load) {
    // A path with a folder is the caller's: made absolute here, since pdcd
    // refuses relative ones (its working folder is not the caller's).
    std::string path = target_;
    if (path.find('/') != std::string::npos && path.front() != '/') {
      std::error_code ec;
      path = std::filesystem::absolute(path, ec).lexically_normal().string();
    }
    auto p = ctx.session.plugin_load(path);
    if (!p) return std::move(p).err();
    if (ctx.json) {
      print_json_value(ctx, *p);
    } else {
      std::string types;
      for (const auto& t : p->kernel_types) types += (types.empty() ? "" : ", ") + t;
      ctx.out << "loaded plugin " << p->name << ' ' << p->version << " from " << p->path << " (types: " << types
              << ")\n";
    }
    return ok();
  }
  if (chosen_ == which::plugin_unload) {
    auto r = ctx.session.plugin_unload(target_);
    if (!r) return r;
    return print_done(ctx, "unloaded", "plugin", target_);
  }
  auto plugins = ctx.session.plugin_list();
  if (!plugins) return std::move(plugins).err();
  if (ctx.json) {
    print_json_value(ctx, std::span<const plugin_info>(*plugins));
  } else {
    ctx.out << render_plugin_table(*plugins);
  }
  return ok();
}

result<void> command_set::run_lifecycle(context& ctx) {
  switch (chosen_) {
    case which::launch: {
      auto r = ctx.session.launch(launch_);
      if (!r) return r;
      if (!ctx.json) {
        ctx.out << "launched kernel " << launch_.kernel_id << " (type " << launch_.kernel_type << ", tier "
                << to_string(launch_.tier) << "); start it with: pdcctl activate " << launch_.kernel_id << '\n';
        return ok();
      }
      return print_done(ctx, "launched", "kernel_id", launch_.kernel_id);
    }
    case which::activate: {
      auto r = ctx.session.activate(target_);
      return r ? print_done(ctx, "activated", "kernel_id", target_) : r;
    }
    case which::deactivate: {
      auto r = ctx.session.deactivate(target_);
      return r ? print_done(ctx, "deactivated", "kernel_id", target_) : r;
    }
    case which::connect: {
      auto r = ctx.session.connect_kernels(target_, to_kernel_);
      if (!r) return r;
      if (!ctx.json) {
        ctx.out << "connected kernel " << target_ << " -> " << to_kernel_ << '\n';
        return ok();
      }
      return print_done(ctx, "connected", "kernel_id", target_ + " -> " + to_kernel_);
    }
    case which::disconnect: {
      auto r = ctx.session.disconnect_kernels(target_, to_kernel_);
      if (!r) return r;
      if (!ctx.json) {
        ctx.out << "disconnected kernel " << target_ << " -> " << to_kernel_ << '\n';
        return ok();
      }
      return print_done(ctx, "disconnected", "kernel_id", target_ + " -> " + to_kernel_);
    }
    default: {
      auto r = ctx.session.terminate(target_, drop_, terminate_timeout_ms_);
      return r ? print_done(ctx, "terminated", "kernel_id", target_) : r;
    }
  }
}

result<void> command_set::run_query(context& ctx) {
  if (chosen_ == which::pools) {
    auto pools = ctx.session.pools();
    if (!pools) return std::move(pools).err();
    if (ctx.json) {
      print_json_value(ctx, std::span<const pool_info>(*pools));
    } else {
      ctx.out << render_pool_table(*pools);
    }
    return ok();
  }
  if (chosen_ == which::metrics) {
    const auto format = prometheus_ ? metrics_format::prometheus : metrics_format::structured;
    auto m = ctx.session.metrics(target_, format);
    if (!m) return std::move(m).err();
    if (prometheus_) {
      if (ctx.json) {
        detail::json_writer w(2);
        w.begin_object().field("text", m->text).end_object();
        print_json(ctx, w);
      } else {
        ctx.out << m->text << (m->text.empty() || m->text.back() == '\n' ? "" : "\n");
      }
    } else if (ctx.json) {
      print_json_value(ctx, std::span<const kernel_info>(m->kernels));
    } else {
      ctx.out << render_metrics_table(m->kernels);
    }
    return ok();
  }
  if (chosen_ == which::status && !target_.empty()) {
    auto k = ctx.session.status(target_);
    if (!k) return std::move(k).err();
    if (ctx.json) {
      print_json_value(ctx, *k);
    } else {
      ctx.out << render_kernel_detail(*k);
    }
    return ok();
  }
  auto kernels = ctx.session.list();
  if (!kernels) return std::move(kernels).err();
  if (ctx.json) {
    print_json_value(ctx, std::span<const kernel_info>(*kernels));
  } else {
    ctx.out << (chosen_ == which::list ? render_kernel_list(*kernels) : render_status_table(*kernels));
  }
  return ok();
}

void command_set::print_message(context& ctx, const received_message& m) const {
  const bool want_int64 = int64_opt_->count() > 0;
  if (ctx.json) {
    detail::json_writer w(2);
    write_message_json(w, m, want_int64);
    print_json(ctx, w);
  } else {
    ctx.out << render_payload(m.payload, want_int64);
  }
}

result<void> command_set::run_send(context& ctx) {
  if (wait_reply_) {
    auto reply = ctx.session.request(kernel_id_, payload_, ms_to_ns(wait_timeout_ms_), send_opts_);
    if (!reply) return std::move(reply).err();
    print_message(ctx, *reply);
    return ok();
  }
  // Nobody will wait for an answer: the kernel's reply becomes an output
  // (to its subscribers, pdcctl recv), not a dead letter.
  send_options opts = send_opts_;
  opts.no_reply = true;
  auto id = ctx.session.send(kernel_id_, payload_, opts);
  if (!id) return std::move(id).err();
  if (ctx.json) {
    detail::json_writer w(2);
    w.begin_object().field("ok", true).field("kernel_id", kernel_id_).field("message_id", *id).end_object();
    print_json(ctx, w);
  } else {
    ctx.out << "sent message " << *id << " to kernel " << kernel_id_ << '\n';
  }
  return ok();
}

result<void> command_set::run_recv(context& ctx) {
  auto subscribed = ctx.session.subscribe(kernel_id_);
  if (!subscribed) return subscribed;
  if (follow_) return follow(ctx);
  const auto dl = deadline::after_ns(ms_to_ns(wait_timeout_ms_));
  for (;;) {
    const auto left = dl.is_never() ? std::int64_t{-1} : static_cast<std::int64_t>(dl.remaining_ns());
    auto m = ctx.session.receive(left);
    if (!m) {
      if (m.code() != errc::timeout) return std::move(m).err();
      return make_error(errc::timeout,
                        "no message from kernel " + kernel_id_ + " within " + std::to_string(wait_timeout_ms_) + " ms");
    }
    if (m->kernel_id != kernel_id_) continue;  // not ours (cannot happen with one subscription)
    print_message(ctx, *m);
    (void)ctx.session.unsubscribe(kernel_id_);  // best effort; the session ends anyway
    return ok();
  }
}

// recv --follow: every message until the timeout (none unless given), over
// reconnections (the client renews the subscription; cli.cpp reports them).
result<void> command_set::follow(context& ctx) {
  const bool bounded = recv_timeout_opt_ != nullptr && recv_timeout_opt_->count() > 0;
  const std::int64_t timeout_ns = bounded ? ms_to_ns(wait_timeout_ms_) : -1;
  const auto dl = deadline::after_ns(timeout_ns);
  for (;;) {
    const auto left = dl.is_never() ? std::int64_t{-1} : static_cast<std::int64_t>(dl.remaining_ns());
    auto m = ctx.session.receive(left);
    if (!m) {
      if (m.code() == errc::timeout) return ok();  // followed for as long as asked
      return std::move(m).err();
    }
    if (m->kernel_id != kernel_id_) continue;
    print_message(ctx, *m);
    ctx.out.flush();
  }
}

}  // namespace pdc::ctl
