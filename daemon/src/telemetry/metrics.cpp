#include "telemetry/metrics.hpp"

#include <algorithm>

#include <cstdio>
#include <iterator>

namespace pdc::daemon {

namespace {

std::string label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void metric_header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

std::string labels(const kernel_snapshot& k) {
  return "kernel=\"" + label_value(k.kernel_id) + "\",type=\"" + label_value(k.kernel_type) + "\",tier=\"" +
         std::string(to_string(k.tier)) + "\"";
}

void sample(std::string& out, const char* name, const std::string& lbl, double v) {
  char num[64];
  std::snprintf(num, sizeof num, "%.9g", v);
  out += name;
  out += '{';
  out += lbl;
  out += "} ";
  out += num;
  out += '\n';
}

}  // namespace

std::string prometheus_text(const std::vector<kernel_snapshot>& kernels, const daemon_snapshot& daemon) {
  std::string out;
  struct daemon_metric {
    const char* name;
    const char* type;
    const char* help;
  };
  const daemon_metric gauges[] = {
      {"pdc_daemon_permission_denied_total", "counter", "Requests refused for want of rights (all kinds)."},
      {"pdc_daemon_handover_bytes", "gauge",
       "Bytes agents handed to the control thread for sessions, not yet delivered."},
      {"pdc_daemon_handover_limit_bytes", "gauge", "The hand-over's bound (max_in_flight_bytes)."},
      {"pdc_daemon_kernels", "gauge", "Kernels alive."},
      {"pdc_daemon_pools", "gauge", "Named thread pools."},
      {"pdc_daemon_sessions", "gauge", "Clients connected."},
      {"pdc_daemon_attachments", "gauge", "Attachments open."},
  };
  const std::uint64_t values[] = {daemon.denied, daemon.handover_bytes, daemon.handover_limit, daemon.kernels,
                                  daemon.pools,  daemon.sessions,       daemon.attachments};
  for (std::size_t i = 0; i < std::size(gauges); ++i) {
    metric_header(out, gauges[i].name, gauges[i].type, gauges[i].help);
    out += gauges[i].name;
    out += ' ';
    out += std::to_string(values[i]);
    out += '\n';
  }
  metric_header(out, "pdc_daemon_limit_refusals_total", "counter",
                "Operations refused at a bound of [limits] (label limit).");
  for (const auto& [limit, count] : daemon.limit_refusals) {
    sample(out, "pdc_daemon_limit_refusals_total", "limit=\"" + limit + "\"", static_cast<double>(count));
  }
  struct counter_def {
    const char* name;
    const char* help;
    std::uint64_t kernel_snapshot::*field;
  };
  const counter_def counters[] = {
      {"pdc_kernel_messages_in_total", "Messages accepted into the kernel's inbox or read from its rings.",
       &kernel_snapshot::messages_in},
      {"pdc_kernel_messages_out_total", "Replies and outputs delivered by the kernel.", &kernel_snapshot::messages_out},
      {"pdc_kernel_processed_total", "Handler invocations.", &kernel_snapshot::processed},
      {"pdc_kernel_dropped_total", "Messages dropped by backpressure policy, or outputs refused by a full queue.",
       &kernel_snapshot::dropped},
      {"pdc_kernel_rejected_total", "Messages refused by backpressure policy.", &kernel_snapshot::rejected},
      {"pdc_kernel_dead_letters_total", "Replies whose sender was gone (delivered to subscribers, if any).",
       &kernel_snapshot::dead_letters},
      {"pdc_kernel_handler_errors_total", "Handler invocations that returned an error.",
       &kernel_snapshot::handler_errors},
      {"pdc_kernel_malformed_total", "Records refused because their envelope was malformed.",
       &kernel_snapshot::malformed},
      {"pdc_kernel_permission_denied_total", "Requests the kernel's access list refused.", &kernel_snapshot::denied},
  };
  for (const auto& c : counters) {
    metric_header(out, c.name, "counter", c.help);
    for (const auto& k : kernels) sample(out, c.name, labels(k), static_cast<double>(k.*(c.field)));
  }
  metric_header(out, "pdc_kernel_queue_depth", "gauge", "Messages waiting for the kernel.");
  for (const auto& k : kernels) sample(out, "pdc_kernel_queue_depth", labels(k), static_cast<double>(k.queue_depth));
  metric_header(out, "pdc_kernel_queue_capacity", "gauge", "Capacity of the kernel's inbox, in messages.");
  for (const auto& k : kernels) sample(out, "pdc_kernel_queue_capacity", labels(k), static_cast<double>(k.capacity));
  metric_header(out, "pdc_kernel_state", "gauge", "Lifecycle state (1 for the current state).");
  for (const auto& k : kernels) {
    sample(out, "pdc_kernel_state", labels(k) + ",state=\"" + std::string(to_string(k.state)) + "\"", 1);
  }
  metric_header(out, "pdc_kernel_stuck", "gauge", "1 when the kernel is terminating and a handler does not return.");
  for (const auto& k : kernels) sample(out, "pdc_kernel_stuck", labels(k), k.stuck ? 1 : 0);
  // Process isolation (docs/isolation.md): only kernels that run in a host process.
  metric_header(out, "pdc_kernel_host_restarts_total", "counter",
                "Restarts of the kernel's host process (isolation = process).");
  for (const auto& k : kernels) {
    if (k.isolation == kernel_isolation::process) {
      sample(out, "pdc_kernel_host_restarts_total", labels(k), static_cast<double>(k.restarts));
    }
  }
  metric_header(out, "pdc_kernel_host_recovery_seconds", "gauge",
                "From the last host's death to its successor's ready (isolation = process).");
  for (const auto& k : kernels) {
    if (k.isolation == kernel_isolation::process && k.restarts != 0) {
      sample(out, "pdc_kernel_host_recovery_seconds", labels(k), static_cast<double>(k.recovery_ns) / 1e9);
    }
  }
  metric_header(out, "pdc_kernel_host_last_exit", "gauge",
                "1, labelled with how the kernel's last host process ended (isolation = process).");
  for (const auto& k : kernels) {
    if (k.isolation == kernel_isolation::process && !k.last_exit.empty()) {
      std::string how = k.last_exit;
      std::replace(how.begin(), how.end(), '"', '\'');
      sample(out, "pdc_kernel_host_last_exit", labels(k) + ",exit=\"" + how + "\"", 1);
    }
  }
  const std::pair<const char*, histogram kernel_snapshot::*> latencies[] = {
      {"pdc_kernel_queue_wait_seconds", &kernel_snapshot::queue_wait},
      {"pdc_kernel_processing_seconds", &kernel_snapshot::processing},
  };
  for (const auto& [name, field] : latencies) {
    metric_header(out, name, "summary",
                  field == &kernel_snapshot::queue_wait ? "Time from enqueue (or client send) to handler start."
                                                        : "Handler run time per message, measured per batch.");
    for (const auto& k : kernels) {
      if (!k.latency_metrics) continue;
      const auto& h = k.*field;
      for (double q : {0.5, 0.95, 0.99, 0.999}) {
        char qs[16];
        std::snprintf(qs, sizeof qs, "%g", q);
        sample(out, name, labels(k) + ",quantile=\"" + qs + "\"", static_cast<double>(h.quantile(q)) / 1e9);
      }
      const std::string sum_name = std::string(name) + "_sum";
      const std::string count_name = std::string(name) + "_count";
      sample(out, sum_name.c_str(), labels(k), h.mean() * static_cast<double>(h.count()) / 1e9);
      sample(out, count_name.c_str(), labels(k), static_cast<double>(h.count()));
    }
  }
  return out;
}

}  // namespace pdc::daemon
