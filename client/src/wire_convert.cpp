#include "wire_convert.hpp"

namespace pdc::detail {

namespace {
std::string str(const flatbuffers::String* s) {
  return s != nullptr ? s->str() : std::string();
}

latency_summary to_summary(const wire::LatencySummary* in) {
  latency_summary out;
  if (in == nullptr) return out;
  out.count = in->count();
  out.p50_ns = in->p50_ns();
  out.p95_ns = in->p95_ns();
  out.p99_ns = in->p99_ns();
  out.p999_ns = in->p999_ns();
  out.max_ns = in->max_ns();
  out.mean_ns = in->mean_ns();
  return out;
}
}  // namespace

kernel_info to_kernel_info(const wire::KernelInfo& in) {
  kernel_info out;
  out.kernel_id = str(in.kernel_id());
  out.kernel_type = str(in.kernel_type());
  out.plugin = str(in.plugin());
  out.tier = static_cast<kernel_tier>(in.tier());
  out.state = static_cast<kernel_state>(in.state());
  out.backpressure = static_cast<backpressure_policy>(in.backpressure());
  out.capacity = in.capacity();
  out.max_message_bytes = in.max_message_bytes();
  out.queue_depth = in.queue_depth();
  out.messages_in = in.messages_in();
  out.messages_out = in.messages_out();
  out.dropped = in.dropped();
  out.rejected = in.rejected();
  out.handler_errors = in.handler_errors();
  out.last_error = str(in.last_error());
  out.uptime_ns = in.uptime_ns();
  out.queue_wait = to_summary(in.queue_wait());
  out.processing = to_summary(in.processing());
  out.subscribers = in.subscribers();
  return out;
}

std::vector<kernel_info> to_kernel_infos(const flatbuffers::Vector<flatbuffers::Offset<wire::KernelInfo>>* in) {
  std::vector<kernel_info> out;
  if (in == nullptr) return out;
  out.reserve(in->size());
  for (const auto* k : *in) {
    if (k != nullptr) out.push_back(to_kernel_info(*k));
  }
  return out;
}

plugin_info to_plugin_info(const wire::PluginInfo& in) {
  plugin_info out;
  out.name = str(in.name());
  out.version = str(in.version());
  out.path = str(in.path());
  if (const auto* types = in.kernel_types()) {
    for (const auto* t : *types) out.kernel_types.push_back(str(t));
  }
  out.live_kernels = in.live_kernels();
  return out;
}

}  // namespace pdc::detail
