#include "server/codec.hpp"

#include <cstring>

#include "pdc/proto/kinds_wire.hpp"
#include "runtime/kernel.hpp"
#include "tiers/thread_pool.hpp"

namespace pdc::daemon::codec {

std::string str(const flatbuffers::String* s) {
  return s == nullptr ? std::string() : s->str();
}

result<launch_request> decode_launch(const wire::Launch& l) {
  launch_request r;
  r.kernel_type = str(l.kernel_type());
  r.kernel_id = str(l.kernel_id());
  auto tier = from_wire(l.tier());
  if (!tier) return std::move(tier).err();
  r.tier = *tier;
  auto policy = from_wire(l.backpressure());
  if (!policy) return std::move(policy).err();
  r.policy = *policy;
  r.capacity = l.capacity();
  r.max_message_bytes = l.max_message_bytes();
  r.block_timeout_ms = l.block_timeout_ms();
  r.config = str(l.config());
  r.workers = l.workers();
  r.cpu = l.cpu();
  r.idle_spin_us = l.idle_spin_us();
  r.pool = str(l.pool());
  r.latency_metrics = l.latency_metrics();
  auto isolation = from_wire(l.isolation());
  if (!isolation) return std::move(isolation).err();
  r.isolation = *isolation;
  r.confinement.user = str(l.host_user());
  r.confinement.max_address_space_mb = l.max_address_space_mb();
  r.confinement.max_cpu_seconds = l.max_cpu_seconds();
  r.confinement.max_open_files = l.max_open_files();
  r.confinement.seccomp = l.seccomp();
  r.exported = l.exported();
  r.at_least_once = l.at_least_once();
  if (const auto* access = l.access()) {
    for (const auto* e : *access) r.access.push_back(str(e));
  }
  return r;
}

frame response(std::uint64_t rid, errc code, std::string_view message) {
  flatbuffers::FlatBufferBuilder b(128 + message.size());
  const auto msg = b.CreateString(message.data(), message.size());
  const auto resp = wire::CreateResponse(b, rid, static_cast<std::int32_t>(code), msg);
  b.Finish(wire::CreateServerFrame(b, wire::ServerBody::Response, resp.Union()));
  return b.Release();
}

frame hello_reply(std::uint64_t rid, std::string_view daemon_version, std::uint64_t session_id,
                  std::uint32_t max_message_bytes) {
  return response_with(rid, [&](flatbuffers::FlatBufferBuilder& b) {
    const auto v = b.CreateString(daemon_version.data(), daemon_version.size());
    return std::pair{wire::ResponseBody::HelloReply,
                     wire::CreateHelloReply(b, k_protocol_version, v, session_id, max_message_bytes).Union()};
  });
}

namespace {
flatbuffers::Offset<wire::PluginInfo> plugin_table(flatbuffers::FlatBufferBuilder& b, const plugin_info& p,
                                                   std::uint32_t live) {
  std::vector<flatbuffers::Offset<flatbuffers::String>> types;
  for (const auto& t : p.kernel_types) types.push_back(b.CreateString(t));
  return wire::CreatePluginInfo(b, b.CreateString(p.name), b.CreateString(p.version), b.CreateString(p.path),
                                b.CreateVector(types), live);
}

flatbuffers::Offset<wire::LatencySummary> summary(flatbuffers::FlatBufferBuilder& b, const histogram& h) {
  return wire::CreateLatencySummary(b, h.count(), h.p50(), h.p95(), h.p99(), h.p999(), h.max(), h.mean());
}
}  // namespace

frame plugin_load_reply(std::uint64_t rid, const plugin_info& info) {
  return response_with(rid, [&](flatbuffers::FlatBufferBuilder& b) {
    const auto pi = plugin_table(b, info, 0);
    return std::pair{wire::ResponseBody::PluginLoadReply, wire::CreatePluginLoadReply(b, pi).Union()};
  });
}

frame plugin_list_reply(std::uint64_t rid, const std::vector<plugin_info>& plugins,
                        const std::vector<std::uint32_t>& live) {
  return response_with(rid, [&](flatbuffers::FlatBufferBuilder& b) {
    std::vector<flatbuffers::Offset<wire::PluginInfo>> items;
    for (std::size_t i = 0; i < plugins.size(); ++i) {
      items.push_back(plugin_table(b, plugins[i], i < live.size() ? live[i] : 0));
    }
    return std::pair{wire::ResponseBody::PluginListReply,
                     wire::CreatePluginListReply(b, b.CreateVector(items)).Union()};
  });
}

flatbuffers::Offset<wire::KernelInfo> kernel_info(flatbuffers::FlatBufferBuilder& b, const kernel_snapshot& k) {
  const auto id = b.CreateString(k.kernel_id);
  const auto type = b.CreateString(k.kernel_type);
  const auto plugin = b.CreateString(k.plugin);
  const auto last_error = b.CreateString(k.last_error);
  const auto pool = b.CreateString(k.pool);
  const auto last_exit = b.CreateString(k.last_exit);
  const auto host_user = b.CreateString(k.confinement.user);
  std::vector<flatbuffers::Offset<flatbuffers::String>> entries;
  for (const auto& e : k.access) entries.push_back(b.CreateString(e));
  const auto access = b.CreateVector(entries);
  const auto wait = summary(b, k.queue_wait);
  const auto proc = summary(b, k.processing);
  wire::KernelInfoBuilder kb(b);
  kb.add_kernel_id(id);
  kb.add_kernel_type(type);
  kb.add_plugin(plugin);
  kb.add_tier(to_wire(k.tier));
  kb.add_state(to_wire(k.state));
  kb.add_backpressure(to_wire(k.policy));
  kb.add_capacity(k.capacity);
  kb.add_max_message_bytes(k.max_message_bytes);
  kb.add_queue_depth(k.queue_depth);
  kb.add_messages_in(k.messages_in);
  kb.add_messages_out(k.messages_out);
  kb.add_dropped(k.dropped);
  kb.add_rejected(k.rejected);
  kb.add_handler_errors(k.handler_errors);
  kb.add_last_error(last_error);
  kb.add_uptime_ns(k.uptime_ns);
  kb.add_queue_wait(wait);
  kb.add_processing(proc);
  kb.add_subscribers(k.subscribers);
  kb.add_processed(k.processed);
  kb.add_dead_letters(k.dead_letters);
  kb.add_pool(pool);
  kb.add_workers(k.workers);
  kb.add_latency_metrics(k.latency_metrics);
  kb.add_malformed(k.malformed);
  kb.add_owner_uid(k.owner_uid);
  kb.add_access(access);
  kb.add_denied(k.denied);
  kb.add_stuck(k.stuck);
  kb.add_isolation(to_wire(k.isolation));
  kb.add_host_pid(k.host_pid);
  kb.add_restarts(k.restarts);
  kb.add_last_exit(last_exit);
  kb.add_recovery_ns(k.recovery_ns);
  kb.add_host_user(host_user);
  kb.add_max_address_space_mb(k.confinement.max_address_space_mb);
  kb.add_max_cpu_seconds(k.confinement.max_cpu_seconds);
  kb.add_max_open_files(k.confinement.max_open_files);
  kb.add_seccomp(k.confinement.seccomp);
  kb.add_exported(k.exported);
  kb.add_at_least_once(k.at_least_once);
  return kb.Finish();
}

frame kernel_list_reply(std::uint64_t rid, const std::vector<kernel_snapshot>& kernels, bool more) {
  return response_with(rid, [&](flatbuffers::FlatBufferBuilder& b) {
    std::vector<flatbuffers::Offset<wire::KernelInfo>> infos;
    for (const auto& k : kernels) infos.push_back(kernel_info(b, k));
    return std::pair{wire::ResponseBody::KernelListReply,
                     wire::CreateKernelListReply(b, b.CreateVector(infos), more).Union()};
  });
}

frame metrics_reply(std::uint64_t rid, const std::vector<kernel_snapshot>& kernels, std::string_view text, bool more,
                    std::uint64_t text_bytes) {
  return response_with(rid, [&](flatbuffers::FlatBufferBuilder& b) {
    std::vector<flatbuffers::Offset<wire::KernelInfo>> infos;
    for (const auto& k : kernels) infos.push_back(kernel_info(b, k));
    const auto vec = b.CreateVector(infos);
    const auto t = b.CreateString(text.data(), text.size());
    return std::pair{wire::ResponseBody::MetricsReply, wire::CreateMetricsReply(b, vec, t, more, text_bytes).Union()};
  });
}

frame send_reply(std::uint64_t rid, std::uint64_t message_id) {
  return response_with(rid, [&](flatbuffers::FlatBufferBuilder& b) {
    return std::pair{wire::ResponseBody::SendReply, wire::CreateSendReply(b, message_id).Union()};
  });
}

frame attach_reply(std::uint64_t rid, const attach_grant& grant, const launch_request& params) {
  return response_with(rid, [&](flatbuffers::FlatBufferBuilder& b) {
    wire::AttachReplyBuilder ab(b);
    ab.add_attachment_id(grant.attachment_id);
    ab.add_segment_bytes(grant.segment_bytes);
    ab.add_max_message_bytes(params.max_message_bytes);
    ab.add_backpressure(to_wire(params.policy));
    ab.add_block_timeout_ms(params.block_timeout_ms);
    return std::pair{wire::ResponseBody::AttachReply, ab.Finish().Union()};
  });
}

frame pool_list_reply(std::uint64_t rid, const pool_registry& pools) {
  return response_with(rid, [&](flatbuffers::FlatBufferBuilder& b) {
    std::vector<flatbuffers::Offset<wire::PoolInfo>> items;
    for (const auto& [name, pool] : pools.all()) {
      std::vector<flatbuffers::Offset<flatbuffers::String>> kernels;
      for (const auto& k : pool->kernels) kernels.push_back(b.CreateString(k));
      items.push_back(wire::CreatePoolInfo(b, b.CreateString(name), pool->config().threads, b.CreateVector(kernels),
                                           pool->config().idle_spin_us));
    }
    return std::pair{wire::ResponseBody::PoolListReply, wire::CreatePoolListReply(b, b.CreateVector(items)).Union()};
  });
}

frame delivery(std::string_view kernel_id, const envelope& env, std::span<const std::byte> payload) {
  flatbuffers::FlatBufferBuilder b(sizeof(envelope) + payload.size() + 128);
  std::uint8_t* dst = nullptr;
  const auto vec = b.CreateUninitializedVector(sizeof(envelope) + payload.size(), &dst);
  std::memcpy(dst, &env, sizeof env);
  if (!payload.empty()) std::memcpy(dst + sizeof env, payload.data(), payload.size());
  const auto kid = b.CreateString(kernel_id.data(), kernel_id.size());
  const auto d = wire::CreateDelivery(b, kid, vec);
  b.Finish(wire::CreateServerFrame(b, wire::ServerBody::Delivery, d.Union()));
  return b.Release();
}

frame goodbye(errc code, std::string_view text) {
  flatbuffers::FlatBufferBuilder b(128);
  const auto msg = b.CreateString(text.data(), text.size());
  const auto g = wire::CreateGoodbye(b, static_cast<std::int32_t>(code), msg);
  b.Finish(wire::CreateServerFrame(b, wire::ServerBody::Goodbye, g.Union()));
  return b.Release();
}

}  // namespace pdc::daemon::codec
