#include "render.hpp"

#include <string_view>
#include <vector>

#include "format.hpp"
#include "json_render.hpp"
#include "table.hpp"

namespace pdc::ctl {

namespace {
std::string duration_or_dash(const latency_summary& s, std::uint64_t ns) {
  return s.count == 0 ? "-" : format_duration_ns(ns);
}

std::string queue_text(const kernel_info& k) {
  return std::to_string(k.queue_depth) + "/" + std::to_string(k.capacity);
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

// COUNT, P50, P95, P99, P999, MAX, MEAN cells of one histogram.
std::vector<std::string> latency_cells(const latency_summary& s) {
  const auto mean_ns = s.mean_ns < 0.0 ? std::uint64_t{0} : static_cast<std::uint64_t>(s.mean_ns);
  return {std::to_string(s.count),       duration_or_dash(s, s.p50_ns),  duration_or_dash(s, s.p95_ns),
          duration_or_dash(s, s.p99_ns), duration_or_dash(s, s.p999_ns), duration_or_dash(s, s.max_ns),
          duration_or_dash(s, mean_ns)};
}

// Leading cells followed by the histogram's cells.
std::vector<std::string> latency_row(std::vector<std::string> lead, const latency_summary& s) {
  auto cells = latency_cells(s);
  lead.insert(lead.end(), cells.begin(), cells.end());
  return lead;
}

const std::vector<column>& latency_value_columns() {
  static const std::vector<column> k_columns{{"COUNT", true}, {"P50", true}, {"P95", true}, {"P99", true},
                                             {"P999", true},  {"MAX", true}, {"MEAN", true}};
  return k_columns;
}

std::vector<column> with_latency_columns(std::vector<column> lead) {
  lead.insert(lead.end(), latency_value_columns().begin(), latency_value_columns().end());
  return lead;
}
}  // namespace

payload_forms describe_payload(std::span<const std::byte> payload, bool want_int64) {
  payload_forms out;
  out.hex = to_hex(payload);
  if (is_printable_text(payload)) out.text.emplace(reinterpret_cast<const char*>(payload.data()), payload.size());
  if (want_int64) out.int64 = decode_int64(payload);
  return out;
}

std::string render_payload(std::span<const std::byte> payload, bool want_int64) {
  const auto forms = describe_payload(payload, want_int64);
  if (forms.int64) return std::to_string(*forms.int64) + " (hex " + forms.hex + ")\n";
  if (payload.empty()) return "(empty payload)\n";
  if (forms.text) return forms.text->back() == '\n' ? *forms.text : *forms.text + "\n";
  return "hex: " + forms.hex + "\n";
}

void write_message_json(detail::json_writer& w, const received_message& m, bool want_int64) {
  const auto forms = describe_payload(m.payload, want_int64);
  w.begin_object()
      .field("kernel_id", m.kernel_id)
      .field("message_id", m.env.message_id())
      .field("correlation_id", m.env.correlation_id())
      .field("type_id", m.env.type_id())
      .field("flags", std::uint32_t{m.env.flags()})
      .field("priority", std::uint32_t{m.env.priority()})
      .field("send_timestamp_ns", m.env.send_timestamp_ns())
      .field("length", static_cast<std::uint64_t>(m.payload.size()));
  if (forms.text) w.field("text", *forms.text);
  w.field("hex", forms.hex);
  if (forms.int64) w.field("int64", *forms.int64);
  w.end_object();
}

std::string render_kernel_list(std::span<const kernel_info> kernels) {
  if (kernels.empty()) return "no kernels\n";
  text_table t({{"KERNEL"}, {"TYPE"}, {"PLUGIN"}, {"STATE"}, {"TIER"}, {"QUEUE", true}, {"UPTIME", true}});
  for (const auto& k : kernels) {
    t.add_row({k.kernel_id, k.kernel_type, k.plugin, std::string(to_string(k.state)), std::string(to_string(k.tier)),
               queue_text(k), format_duration_ns(k.uptime_ns)});
  }
  return t.render();
}

std::string render_status_table(std::span<const kernel_info> kernels) {
  if (kernels.empty()) return "no kernels\n";
  text_table t({{"KERNEL"},
                {"STATE"},
                {"TIER"},
                {"QUEUE", true},
                {"IN", true},
                {"OUT", true},
                {"DROPPED", true},
                {"REJECTED", true},
                {"ERRORS", true},
                {"WAIT_P50", true},
                {"WAIT_P99", true},
                {"PROC_P50", true},
                {"PROC_P99", true}});
  for (const auto& k : kernels) {
    t.add_row({k.kernel_id, std::string(to_string(k.state)), std::string(to_string(k.tier)), queue_text(k),
               std::to_string(k.messages_in), std::to_string(k.messages_out), std::to_string(k.dropped),
               std::to_string(k.rejected), std::to_string(k.handler_errors),
               duration_or_dash(k.queue_wait, k.queue_wait.p50_ns), duration_or_dash(k.queue_wait, k.queue_wait.p99_ns),
               duration_or_dash(k.processing, k.processing.p50_ns),
               duration_or_dash(k.processing, k.processing.p99_ns)});
  }
  return t.render();
}

namespace {
std::string isolation_text(const kernel_info& k) {
  if (k.isolation == kernel_isolation::none) return "none (inside pdcd)";
  std::string out = "process";
  out += k.host_pid > 0 ? " (host pid " + std::to_string(k.host_pid) + ")" : " (no host running)";
  out += ", " + std::to_string(k.restarts) + (k.restarts == 1 ? " restart" : " restarts");
  if (!k.last_exit.empty()) out += ", last host ended by " + k.last_exit;
  if (k.recovery_ns != 0) out += ", recovered in " + format_duration_ns(k.recovery_ns);
  std::vector<std::string> bounds;
  if (!k.host_user.empty()) bounds.push_back("user " + k.host_user);
  if (k.max_address_space_mb != 0) bounds.push_back("memory " + std::to_string(k.max_address_space_mb) + " MiB");
  if (k.max_cpu_seconds != 0) bounds.push_back("cpu " + std::to_string(k.max_cpu_seconds) + " s");
  if (k.max_open_files != 0) bounds.push_back("files " + std::to_string(k.max_open_files));
  if (k.seccomp) bounds.push_back("seccomp");
  if (!bounds.empty()) out += "; confined: " + join(bounds, ", ");
  return out;
}
}  // namespace

std::string render_kernel_detail(const kernel_info& k) {
  const std::vector<std::pair<std::string, std::string>> fields{
      {"kernel", k.kernel_id},
      {"type", k.kernel_type + (k.plugin.empty() ? "" : " (plugin " + k.plugin + ")")},
      {"state", std::string(to_string(k.state)) + (k.stuck ? " (stuck: a handler does not return)" : "")},
      {"tier", std::string(to_string(k.tier)) + (k.pool.empty() ? "" : " (pool " + k.pool + ")") + ", " +
                   std::to_string(k.workers) + (k.workers == 1 ? " worker" : " workers")},
      {"isolation", isolation_text(k)},
      {"backpressure", std::string(to_string(k.backpressure))},
      {"exported",
       k.exported ? (k.at_least_once ? "yes (to the cluster, at least once)" : "yes (to the cluster)") : "no"},
      {"queue", queue_text(k) + " messages"},
      {"max message", std::to_string(k.max_message_bytes) + " bytes"},
      {"messages", "in " + std::to_string(k.messages_in) + ", out " + std::to_string(k.messages_out) + ", processed " +
                       std::to_string(k.processed)},
      {"dropped", std::to_string(k.dropped)},
      {"dead letters", std::to_string(k.dead_letters)},
      {"malformed", std::to_string(k.malformed)},
      {"rejected", std::to_string(k.rejected)},
      {"errors", std::to_string(k.handler_errors)},
      {"last error", k.last_error.empty() ? "-" : k.last_error},
      {"subscribers", std::to_string(k.subscribers)},
      {"owner", "uid " + std::to_string(k.owner_uid)},
      {"access", k.access.empty() ? "owner and administrators only" : join(k.access, " ")},
      {"denied", std::to_string(k.denied)},
      {"uptime", format_duration_ns(k.uptime_ns)},
  };
  std::string out;
  for (const auto& [name, value] : fields) {
    out += name;
    out.append(14 - name.size(), ' ');
    out += value;
    out += '\n';
  }
  if (!k.latency_metrics) return out + "\nlatency histograms are off for this kernel (--no-latency-metrics)\n";
  text_table latency(with_latency_columns({{"LATENCY"}}));
  latency.add_row(latency_row({"queue wait"}, k.queue_wait));
  latency.add_row(latency_row({"processing"}, k.processing));
  return out + "\n" + latency.render();
}

std::string render_metrics_table(std::span<const kernel_info> kernels) {
  if (kernels.empty()) return "no kernels\n";
  text_table t(with_latency_columns({{"KERNEL"}, {"HISTOGRAM"}}));
  for (const auto& k : kernels) {
    t.add_row(latency_row({k.kernel_id, "queue_wait"}, k.queue_wait));
    t.add_row(latency_row({k.kernel_id, "processing"}, k.processing));
  }
  return t.render();
}

std::string render_plugin_table(std::span<const plugin_info> plugins) {
  if (plugins.empty()) return "no plugins\n";
  text_table t({{"PLUGIN"}, {"VERSION"}, {"KERNELS", true}, {"TYPES"}, {"PATH"}});
  for (const auto& p : plugins) {
    t.add_row({p.name, p.version, std::to_string(p.live_kernels), join(p.kernel_types, ","), p.path});
  }
  return t.render();
}

std::string render_pool_table(std::span<const pool_info> pools) {
  if (pools.empty()) return "no pools (define them with [[pool]] in pdcd's config)\n";
  text_table t({{"POOL"}, {"THREADS", true}, {"IDLE_SPIN", true}, {"KERNELS"}});
  for (const auto& p : pools) {
    t.add_row({p.name, std::to_string(p.threads), std::to_string(p.idle_spin_us) + "us",
               p.kernels.empty() ? "-" : join(p.kernels, ",")});
  }
  return t.render();
}

}  // namespace pdc::ctl
