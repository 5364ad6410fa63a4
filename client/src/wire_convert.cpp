#include "wire_convert.hpp"

#include "pdc/proto/kinds_wire.hpp"

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

result<kernel_info> to_kernel_info(const wire::KernelInfo& in) {
  kernel_info out;
  out.kernel_id = str(in.kernel_id());
  out.kernel_type = str(in.kernel_type());
  out.plugin = str(in.plugin());
  auto tier = from_wire(in.tier());
  auto state = from_wire(in.state());
  auto policy = from_wire(in.backpressure());
  if (!tier || !state || !policy) {
    const auto& e = !tier ? tier.err() : !state ? state.err() : policy.err();
    return make_error(errc::protocol_error, "pdcd described kernel '" + out.kernel_id + "' with an " + e.what());
  }
  out.tier = *tier;
  out.state = *state;
  out.backpressure = *policy;
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
  out.processed = in.processed();
  out.dead_letters = in.dead_letters();
  out.malformed = in.malformed();
  out.pool = str(in.pool());
  out.workers = in.workers();
  out.latency_metrics = in.latency_metrics();
  out.owner_uid = in.owner_uid();
  out.denied = in.denied();
  out.stuck = in.stuck();
  auto isolation = from_wire(in.isolation());
  if (!isolation) return std::move(isolation).err();
  out.isolation = *isolation;
  out.host_pid = in.host_pid();
  out.restarts = in.restarts();
  out.last_exit = str(in.last_exit());
  out.recovery_ns = in.recovery_ns();
  out.host_user = str(in.host_user());
  out.max_address_space_mb = in.max_address_space_mb();
  out.max_cpu_seconds = in.max_cpu_seconds();
  out.max_open_files = in.max_open_files();
  out.seccomp = in.seccomp();
  out.exported = in.exported();
  out.at_least_once = in.at_least_once();
  if (const auto* access = in.access()) {
    for (const auto* e : *access) out.access.push_back(str(e));
  }
  return out;
}

result<std::vector<kernel_info>> to_kernel_infos(const flatbuffers::Vector<flatbuffers::Offset<wire::KernelInfo>>* in) {
  std::vector<kernel_info> out;
  if (in == nullptr) return out;
  out.reserve(in->size());
  for (const auto* k : *in) {
    if (k == nullptr) continue;
    auto info = to_kernel_info(*k);
    if (!info) return std::move(info).err();
    out.push_back(std::move(info).value());
  }
  return out;
}

pool_info to_pool_info(const wire::PoolInfo& in) {
  pool_info out;
  out.name = str(in.name());
  out.threads = in.threads();
  out.idle_spin_us = in.idle_spin_us();
  if (const auto* kernels = in.kernels()) {
    for (const auto* k : *kernels) out.kernels.push_back(str(k));
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
