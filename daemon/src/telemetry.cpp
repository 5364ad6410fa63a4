#include "telemetry.hpp"

#include <cstdio>

namespace pdc::daemon {

wire::Tier to_wire(tier t) noexcept {
  switch (t) {
    case tier::async:
      return wire::Tier::Async;
    case tier::threaded:
      return wire::Tier::Threaded;
    case tier::spin:
      return wire::Tier::Spin;
    case tier::pool:
      return wire::Tier::Pool;
  }
  return wire::Tier::Async;
}

wire::Backpressure to_wire(backpressure b) noexcept {
  switch (b) {
    case backpressure::block:
      return wire::Backpressure::Block;
    case backpressure::reject:
      return wire::Backpressure::Reject;
    case backpressure::drop_oldest:
      return wire::Backpressure::DropOldest;
    case backpressure::drop_newest:
      return wire::Backpressure::DropNewest;
  }
  return wire::Backpressure::Block;
}

wire::KernelState to_wire(kernel_state s) noexcept {
  return static_cast<wire::KernelState>(static_cast<int>(s));
}

tier from_wire(wire::Tier t) noexcept {
  switch (t) {
    case wire::Tier::Threaded:
      return tier::threaded;
    case wire::Tier::Spin:
      return tier::spin;
    case wire::Tier::Pool:
      return tier::pool;
    default:
      return tier::async;
  }
}

backpressure from_wire(wire::Backpressure b) noexcept {
  switch (b) {
    case wire::Backpressure::Reject:
      return backpressure::reject;
    case wire::Backpressure::DropOldest:
      return backpressure::drop_oldest;
    case wire::Backpressure::DropNewest:
      return backpressure::drop_newest;
    default:
      return backpressure::block;
  }
}

namespace {

flatbuffers::Offset<wire::LatencySummary> summary(flatbuffers::FlatBufferBuilder& b, const histogram& h) {
  return wire::CreateLatencySummary(b, h.count(), h.p50(), h.p95(), h.p99(), h.p999(), h.max(), h.mean());
}

}  // namespace

flatbuffers::Offset<wire::KernelInfo> build_kernel_info(flatbuffers::FlatBufferBuilder& b, const kernel& k) {
  const auto m = k.metrics();
  const auto id = b.CreateString(k.id());
  const auto type = b.CreateString(k.type().name);
  const auto plugin = b.CreateString(k.type().plugin != nullptr ? k.type().plugin->name() : std::string());
  const auto last_error = b.CreateString(m.last_error);
  const auto wait = summary(b, m.queue_wait);
  const auto proc = summary(b, m.processing);
  wire::KernelInfoBuilder kb(b);
  kb.add_kernel_id(id);
  kb.add_kernel_type(type);
  kb.add_plugin(plugin);
  kb.add_tier(to_wire(k.params().tier_kind));
  kb.add_state(to_wire(k.state()));
  kb.add_backpressure(to_wire(k.params().policy));
  kb.add_capacity(k.params().capacity);
  kb.add_max_message_bytes(k.params().max_message_bytes);
  kb.add_queue_depth(k.queue_depth());
  kb.add_messages_in(m.messages_in);
  kb.add_messages_out(m.messages_out);
  kb.add_dropped(m.dropped);
  kb.add_rejected(m.rejected);
  kb.add_handler_errors(m.handler_errors);
  kb.add_last_error(last_error);
  kb.add_uptime_ns(k.uptime_ns());
  kb.add_queue_wait(wait);
  kb.add_processing(proc);
  kb.add_subscribers(static_cast<std::uint32_t>(k.subscriber_count()));
  return kb.Finish();
}

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

std::string labels(const kernel& k) {
  return "kernel=\"" + label_value(k.id()) + "\",type=\"" + label_value(k.type().name) + "\",tier=\"" +
         std::string(to_string(k.params().tier_kind)) + "\"";
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

std::string prometheus_text(const std::vector<const kernel*>& kernels) {
  std::string out;
  struct counter_def {
    const char* name;
    const char* help;
    std::uint64_t kernel_metrics::*field;
  };
  const counter_def counters[] = {
      {"pdc_kernel_messages_in_total", "Messages accepted into the kernel's queue.", &kernel_metrics::messages_in},
      {"pdc_kernel_messages_out_total", "Replies and outputs sent by the kernel.", &kernel_metrics::messages_out},
      {"pdc_kernel_processed_total", "Handler invocations.", &kernel_metrics::processed},
      {"pdc_kernel_dropped_total", "Messages dropped by backpressure policy or undeliverable.",
       &kernel_metrics::dropped},
      {"pdc_kernel_rejected_total", "Messages refused by backpressure policy.", &kernel_metrics::rejected},
      {"pdc_kernel_handler_errors_total", "Handler invocations that returned an error.",
       &kernel_metrics::handler_errors},
  };
  std::vector<kernel_metrics> snapshots;
  for (const auto* k : kernels) snapshots.push_back(k->metrics());
  for (const auto& c : counters) {
    metric_header(out, c.name, "counter", c.help);
    for (std::size_t i = 0; i < kernels.size(); ++i) {
      sample(out, c.name, labels(*kernels[i]), static_cast<double>(snapshots[i].*(c.field)));
    }
  }
  metric_header(out, "pdc_kernel_queue_depth", "gauge", "Messages waiting in the kernel's queue.");
  for (const auto* k : kernels)
    sample(out, "pdc_kernel_queue_depth", labels(*k), static_cast<double>(k->queue_depth()));
  metric_header(out, "pdc_kernel_queue_capacity", "gauge", "Capacity of the kernel's queue, in messages.");
  for (const auto* k : kernels) {
    sample(out, "pdc_kernel_queue_capacity", labels(*k), static_cast<double>(k->params().capacity));
  }
  metric_header(out, "pdc_kernel_state", "gauge", "Lifecycle state (1 for the current state).");
  for (const auto* k : kernels) {
    sample(out, "pdc_kernel_state", labels(*k) + ",state=\"" + std::string(to_string(k->state())) + "\"", 1);
  }
  const std::pair<const char*, histogram kernel_metrics::*> latencies[] = {
      {"pdc_kernel_queue_wait_seconds", &kernel_metrics::queue_wait},
      {"pdc_kernel_processing_seconds", &kernel_metrics::processing},
  };
  for (const auto& [name, field] : latencies) {
    metric_header(out, name, "summary",
                  field == &kernel_metrics::queue_wait ? "Time from enqueue to handler start." : "Handler run time.");
    for (std::size_t i = 0; i < kernels.size(); ++i) {
      const auto* k = kernels[i];
      const auto& h = snapshots[i].*field;
      for (double q : {0.5, 0.95, 0.99, 0.999}) {
        char qs[16];
        std::snprintf(qs, sizeof qs, "%g", q);
        sample(out, name, labels(*k) + ",quantile=\"" + qs + "\"", static_cast<double>(h.quantile(q)) / 1e9);
      }
      const std::string sum_name = std::string(name) + "_sum";
      const std::string count_name = std::string(name) + "_count";
      sample(out, sum_name.c_str(), labels(*k), h.mean() * static_cast<double>(h.count()) / 1e9);
      sample(out, count_name.c_str(), labels(*k), static_cast<double>(h.count()));
    }
  }
  return out;
}

}  // namespace pdc::daemon
