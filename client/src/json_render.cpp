#include "json_render.hpp"

namespace pdc::detail {

void write_json(json_writer& w, const latency_summary& s) {
  w.begin_object()
      .field("count", s.count)
      .field("p50_ns", s.p50_ns)
      .field("p95_ns", s.p95_ns)
      .field("p99_ns", s.p99_ns)
      .field("p999_ns", s.p999_ns)
      .field("max_ns", s.max_ns)
      .field("mean_ns", s.mean_ns)
      .end_object();
}

void write_json(json_writer& w, const kernel_info& k) {
  w.begin_object()
      .field("kernel_id", k.kernel_id)
      .field("kernel_type", k.kernel_type)
      .field("plugin", k.plugin)
      .field("state", to_string(k.state))
      .field("tier", to_string(k.tier))
      .field("backpressure", to_string(k.backpressure))
      .field("capacity", k.capacity)
      .field("max_message_bytes", k.max_message_bytes)
      .field("queue_depth", k.queue_depth)
      .field("messages_in", k.messages_in)
      .field("messages_out", k.messages_out)
      .field("dropped", k.dropped)
      .field("rejected", k.rejected)
      .field("handler_errors", k.handler_errors)
      .field("last_error", k.last_error)
      .field("uptime_ns", k.uptime_ns)
      .field("subscribers", k.subscribers)
      .field("processed", k.processed)
      .field("dead_letters", k.dead_letters)
      .field("malformed", k.malformed)
      .field("pool", k.pool)
      .field("workers", k.workers)
      .field("latency_metrics", k.latency_metrics)
      .field("owner_uid", k.owner_uid)
      .field("denied", k.denied)
      .field("stuck", k.stuck)
      .field("isolation", to_string(k.isolation))
      .field("host_pid", k.host_pid)
      .field("restarts", k.restarts)
      .field("last_exit", k.last_exit)
      .field("recovery_ns", k.recovery_ns)
      .field("host_user", k.host_user)
      .field("max_address_space_mb", k.max_address_space_mb)
      .field("max_cpu_seconds", k.max_cpu_seconds)
      .field("max_open_files", k.max_open_files)
      .field("seccomp", k.seccomp)
      .field("exported", k.exported)
      .field("at_least_once", k.at_least_once);
  w.key("access").begin_array();
  for (const auto& e : k.access) w.string(e);
  w.end_array();
  w.key("queue_wait");
  write_json(w, k.queue_wait);
  w.key("processing");
  write_json(w, k.processing);
  w.end_object();
}

void write_json(json_writer& w, const plugin_info& p) {
  w.begin_object().field("name", p.name).field("version", p.version).field("path", p.path);
  w.key("kernel_types").begin_array();
  for (const auto& t : p.kernel_types) w.string(t);
  w.end_array().field("live_kernels", p.live_kernels).end_object();
}

void write_json(json_writer& w, std::span<const kernel_info> kernels) {
  w.begin_array();
  for (const auto& k : kernels) write_json(w, k);
  w.end_array();
}

void write_json(json_writer& w, std::span<const plugin_info> plugins) {
  w.begin_array();
  for (const auto& p : plugins) write_json(w, p);
  w.end_array();
}

void write_json(json_writer& w, const pool_info& p) {
  w.begin_object().field("name", p.name).field("threads", p.threads).field("idle_spin_us", p.idle_spin_us);
  w.key("kernels").begin_array();
  for (const auto& k : p.kernels) w.string(k);
  w.end_array().end_object();
}

void write_json(json_writer& w, std::span<const pool_info> pools) {
  w.begin_array();
  for (const auto& p : pools) write_json(w, p);
  w.end_array();
}

}  // namespace pdc::detail
