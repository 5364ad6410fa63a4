#include "server/dispatch.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <iterator>

#include "cluster/bridge.hpp"
#include "runtime/registry.hpp"
#include "server/codec.hpp"

namespace pdc::daemon {

namespace {

using codec::str;
using handler = void (*)(registry&, request_port&, const wire::Request&);

void answer(request_port& port, std::uint64_t rid, const result<void>& r) {
  port.send(r ? codec::response(rid, errc::ok) : codec::response(rid, r.err()));
}

std::string uid_text(const request_port& port) {
  return "uid " + std::to_string(port.peer().uid);
}

// Administrators only: answers permission_denied (and counts it) otherwise.
// `what` names the operation and, where there is one, its target.
bool require_admin(registry& reg, request_port& port, const wire::Request& req, const std::string& what) {
  if (port.peer().admin) return true;
  reg.count_denied();
  const auto& group = reg.config().admin_group;
  port.send(codec::response(req.id(), errc::permission_denied,
                            uid_text(port) + " may not " + what + ": only administrators may (root, pdcd's user" +
                                (group.empty() ? std::string() : ", group " + group) + ")"));
  return false;
}

std::string quoted(const flatbuffers::String* s) {
  return "'" + str(s) + "'";
}

// The kernel's access list must grant `right`: answers permission_denied (and counts it) otherwise.
bool require_right(registry& reg, request_port& port, const wire::Request& req, kernel& k, kernel_right right) {
  if (k.permits(port.peer(), right)) return true;
  reg.count_denied();
  k.count_denied();
  port.send(codec::response(req.id(), errc::permission_denied,
                            uid_text(port) + " may not " + std::string(to_string(right)) + " kernel '" + k.id() +
                                "': its access list does not grant it"));
  return false;
}

void on_hello(registry& reg, request_port& port, const wire::Request& req) {
  const auto* h = req.body_as_Hello();
  if (h->protocol_version() != 0 && h->protocol_version() != k_protocol_version) {
    port.send(codec::response(req.id(), errc::version_mismatch,
                              "client speaks protocol " + std::to_string(h->protocol_version()) + ", pdcd speaks " +
                                  std::to_string(k_protocol_version)));
    return;
  }
  spdlog::debug("session {} is '{}'", port.session_id(), str(h->client_name()));
  port.send(codec::hello_reply(req.id(), k_daemon_version, port.session_id(), reg.config().max_message_bytes));
}

void on_plugin_load(registry& reg, request_port& port, const wire::Request& req) {
  if (!require_admin(reg, port, req, "load plugin " + quoted(req.body_as_PluginLoad()->path()))) return;
  auto info = reg.load_plugin(str(req.body_as_PluginLoad()->path()));
  port.send(info ? codec::plugin_load_reply(req.id(), *info) : codec::response(req.id(), info.err()));
}

void on_plugin_unload(registry& reg, request_port& port, const wire::Request& req) {
  if (!require_admin(reg, port, req, "unload plugin " + quoted(req.body_as_PluginUnload()->name()))) return;
  answer(port, req.id(), reg.unload_plugin(str(req.body_as_PluginUnload()->name())));
}

void on_plugin_list(registry& reg, request_port& port, const wire::Request& req) {
  if (!require_admin(reg, port, req, "list plugins")) return;
  const auto plugins = reg.plugins();
  std::vector<std::uint32_t> live;
  for (const auto& p : plugins) live.push_back(reg.live_kernels_of(p.name));
  port.send(codec::plugin_list_reply(req.id(), plugins, live));
}

void on_launch(registry& reg, request_port& port, const wire::Request& req) {
  if (!require_admin(reg, port, req, "launch kernel " + quoted(req.body_as_Launch()->kernel_id()))) return;
  auto lr = codec::decode_launch(*req.body_as_Launch());
  if (!lr) {
    port.send(codec::response(req.id(), errc::invalid_argument, "launch refused: " + lr.err().what()));
    return;
  }
  lr->owner_uid = port.peer().uid;  // the daemon, not the request, says who launched it
  answer(port, req.id(), reg.launch(std::move(lr).value()));
}

void on_activate(registry& reg, request_port& port, const wire::Request& req) {
  if (!require_admin(reg, port, req, "activate kernel " + quoted(req.body_as_Activate()->kernel_id()))) return;
  answer(port, req.id(), reg.activate(str(req.body_as_Activate()->kernel_id())));
}

void on_deactivate(registry& reg, request_port& port, const wire::Request& req) {
  if (!require_admin(reg, port, req, "deactivate kernel " + quoted(req.body_as_Deactivate()->kernel_id()))) return;
  answer(port, req.id(), reg.deactivate(str(req.body_as_Deactivate()->kernel_id())));
}

void on_terminate(registry& reg, request_port& port, const wire::Request& req) {
  if (!require_admin(reg, port, req, "terminate kernel " + quoted(req.body_as_Terminate()->kernel_id()))) return;
  const auto* t = req.body_as_Terminate();
  // Answered once the kernel is drained; the control thread serves others meanwhile.
  reg.terminate(str(t->kernel_id()), t->drop(), std::uint64_t{t->timeout_ms()} * 1'000'000,
                [weak = port.weak_port(), rid = req.id()](const result<void>& r) {
                  if (auto p = weak.lock()) answer(*p, rid, r);
                });
}

// A reply page stays well inside one packet (the socket buffers hold a
// little more than two of the largest frames) and inside a client's receive
// buffer, whatever the number of kernels.
constexpr std::size_t k_page_bytes = 48 * 1024;

// An upper bound of a snapshot's encoded size.
std::size_t encoded_bound(const kernel_snapshot& s) {
  std::size_t n =
      1024 + s.kernel_id.size() + s.kernel_type.size() + s.plugin.size() + s.pool.size() + s.last_error.size();
  for (const auto& a : s.access) n += a.size() + 8;
  for (const auto& c : s.connections) n += c.size() + 8;
  return n;
}

// One page of the kernels a Status / List / Metrics request is about, as
// snapshots: those after `after` (by id) that the peer may see (status
// right), or the one named. `more` says whether a next page has some.
result<std::vector<kernel_snapshot>> snapshots(registry& reg, request_port& port, const wire::Request& req,
                                               const std::string& id, const std::string& after, bool& more) {
  std::vector<kernel_snapshot> out;
  more = false;
  if (id.empty()) {
    std::size_t bytes = 0;
    const auto& all = reg.kernels();
    for (auto it = after.empty() ? all.begin() : all.upper_bound(after); it != all.end(); ++it) {
      if (!it->second->permits(port.peer(), kernel_right::status)) continue;
      auto s = it->second->snapshot();
      const std::size_t size = encoded_bound(s);
      if (!out.empty() && bytes + size > k_page_bytes) {
        more = true;
        break;
      }
      bytes += size;
      out.push_back(std::move(s));
    }
    return out;
  }
  auto k = reg.find(id);
  if (!k) return std::move(k).err();
  if (!require_right(reg, port, req, **k, kernel_right::status)) return errc::permission_denied;
  out.push_back((*k)->snapshot());
  return out;
}

void on_list(registry& reg, request_port& port, const wire::Request& req) {
  std::string id;
  std::string after;
  if (req.body_type() == wire::RequestBody::Status) {
    id = str(req.body_as_Status()->kernel_id());
    after = str(req.body_as_Status()->after());
  } else {
    after = str(req.body_as_List()->after());
  }
  bool more = false;
  auto ks = snapshots(reg, port, req, id, after, more);
  if (!ks && ks.code() == errc::permission_denied) return;  // answered
  port.send(ks ? codec::kernel_list_reply(req.id(), *ks, more) : codec::response(req.id(), ks.err()));
}

daemon_snapshot daemon_numbers(registry& reg) {
  daemon_snapshot d{reg.denied(),
                    reg.bytes_in_flight(),
                    reg.config().max_in_flight_bytes,
                    reg.kernels().size(),
                    reg.pools().all().size(),
                    reg.sessions(),
                    reg.attachment_count(),
                    {}};
  for (std::size_t i = 0; i < static_cast<std::size_t>(daemon_limit::count); ++i) {
    const auto l = static_cast<daemon_limit>(i);
    d.limit_refusals.emplace_back(std::string(to_string(l)), reg.refused_at(l));
  }
  return d;
}

// Prometheus text is made whole at the first page (offset 0), kept by the
// connection and handed out in pages: the pages of one text agree.
void on_prometheus(registry& reg, request_port& port, const wire::Request& req, const wire::Metrics& m) {
  std::string& text = port.pending_text();
  const std::uint64_t offset = m.text_offset();
  if (offset == 0) {
    bool more = true;
    std::string after;
    std::vector<kernel_snapshot> all;
    const std::string id = str(m.kernel_id());
    while (more) {
      auto ks = snapshots(reg, port, req, id, after, more);
      if (!ks) {
        if (ks.code() != errc::permission_denied) port.send(codec::response(req.id(), ks.err()));
        return;
      }
      if (ks->empty()) break;
      after = ks->back().kernel_id;
      std::move(ks->begin(), ks->end(), std::back_inserter(all));
    }
    text = prometheus_text(all, daemon_numbers(reg));
    if (reg.bridge() != nullptr && port.peer().admin) text += reg.bridge()->prometheus();
  } else if (offset >= text.size()) {
    port.send(codec::response(req.id(), errc::invalid_argument,
                              "metrics text offset " + std::to_string(offset) +
                                  " is past the text this connection is reading (" + std::to_string(text.size()) +
                                  " bytes); start again from offset 0"));
    return;
  }
  const std::size_t total = text.size();
  const std::size_t n = std::min<std::size_t>(k_page_bytes, total - offset);
  const bool more = offset + n < total;
  port.send(codec::metrics_reply(req.id(), {}, std::string_view(text).substr(offset, n), more, total));
  if (!more) std::string().swap(text);  // read to the end: let it go
}

void on_metrics(registry& reg, request_port& port, const wire::Request& req) {
  const auto* m = req.body_as_Metrics();
  if (m->format() == wire::MetricsFormat::Prometheus) return on_prometheus(reg, port, req, *m);
  bool more = false;
  auto ks = snapshots(reg, port, req, str(m->kernel_id()), str(m->after()), more);
  if (!ks) {
    if (ks.code() != errc::permission_denied) port.send(codec::response(req.id(), ks.err()));
    return;
  }
  port.send(codec::metrics_reply(req.id(), *ks, {}, more));
}

// A Send's message: its envelope and payload, or false after answering
// protocol_error (none, or an envelope that does not fit what follows it).
bool read_send_message(request_port& port, std::uint64_t rid, const wire::Send& send, envelope& env,
                       std::span<const std::byte>& payload) {
  const auto* bytes = send.message();
  if (bytes == nullptr) {
    port.send(codec::response(rid, errc::protocol_error, "send carries no message; refused"));
    return false;
  }
  const std::span<const std::byte> raw(reinterpret_cast<const std::byte*>(bytes->data()), bytes->size());
  if (!read_envelope(raw, env)) {
    port.send(codec::response(rid, errc::protocol_error,
                              "message of " + std::to_string(raw.size()) +
                                  " bytes does not hold a 48-byte envelope and the payload length it "
                                  "declares; refused"));
    return false;
  }
  payload = payload_of(raw);
  return true;
}

// A Send to "node/kernel" of another node: through the cluster bridge
// (docs/cluster.md); its reply, if it wants one, comes back to this session.
void send_remote(registry& reg, request_port& port, const wire::Request& req, const std::string& address,
                 std::string_view node, std::string_view kernel_id) {
  const auto rid = req.id();
  const auto* send = req.body_as_Send();
  cluster_bridge* bridge = reg.bridge();
  if (bridge == nullptr) {
    return port.send(codec::response(rid, errc::not_found,
                                     "'" + address + "' names kernel '" + std::string(kernel_id) + "' of node '" +
                                         std::string(node) +
                                         "', but this pdcd is no node of a cluster (no [cluster] in its config)"));
  }
  if (auto ok_node = check_node_name(node); !ok_node) return port.send(codec::response(rid, ok_node.err()));
  if (auto ok_id = check_kernel_id(std::string(kernel_id)); !ok_id) return port.send(codec::response(rid, ok_id.err()));
  if (kernel_id.find('.') != std::string_view::npos) {
    return port.send(codec::response(rid, errc::not_found,
                                     "'" + address + "': a kernel id with a '.' is never exported to the cluster"));
  }
  if (!reg.may_send_remote(port.peer())) {
    reg.count_denied();
    return port.send(codec::response(rid, errc::permission_denied,
                                     uid_text(port) + " may not send to other nodes ('" + address +
                                         "'): only administrators and whom [cluster] access grants send may"));
  }
  envelope env;
  std::span<const std::byte> payload;
  if (!read_send_message(port, rid, *send, env, payload)) return;
  const auto limit = reg.config().max_message_bytes;
  if (payload.size() > limit) {
    return port.send(codec::response(rid, errc::message_too_large,
                                     "message of " + std::to_string(payload.size()) +
                                         " bytes exceeds this node's limit of " + std::to_string(limit) +
                                         " bytes; refused"));
  }
  const bool wants_reply = (env.flags() & k_envelope_flag_no_reply) == 0;
  const envelope out = make_envelope(env.message_id(), env.payload_length(), env.send_timestamp_ns(),
                                     env.correlation_id(), 0, env.type_id(), env.flags(), env.priority());
  const errc rc = bridge->send(node, kernel_id, out, payload, wants_reply ? port.session_id() : 0);
  switch (rc) {
    case errc::ok:
      if (send->ack()) port.send(codec::send_reply(rid, env.message_id()));
      return;
    case errc::full:
      return port.send(codec::response(rid, errc::full,
                                       "too many requests to other nodes await their replies ([cluster] "
                                       "max_pending); '" +
                                           address + "' not sent"));
    case errc::message_too_large:
      return port.send(codec::response(rid, rc, "NATS refuses a message this large; '" + address + "' not sent"));
    default:
      return port.send(codec::response(rid, rc, "the NATS connection is closed; '" + address + "' not sent"));
  }
}

void on_send(registry& reg, request_port& port, const wire::Request& req) {
  const auto rid = req.id();
  const auto* send = req.body_as_Send();
  std::string target = str(send->kernel_id());
  std::string_view node;
  std::string_view remote_id;
  if (split_remote_address(target, node, remote_id)) {
    if (reg.bridge() == nullptr || node != reg.bridge()->node()) {
      return send_remote(reg, port, req, target, node, remote_id);
    }
    target = std::string(remote_id);  // this node's own kernel
  }
  auto k = reg.find(target);
  if (!k) return port.send(codec::response(rid, k.err()));
  if (!require_right(reg, port, req, **k, kernel_right::send)) return;
  envelope env;
  std::span<const std::byte> payload;
  if (!read_send_message(port, rid, *send, env, payload)) return;
  const auto limit = (*k)->params().max_message_bytes;
  if (payload.size() > limit) {
    return port.send(codec::response(rid, errc::message_too_large,
                                     "message of " + std::to_string(payload.size()) + " bytes exceeds kernel '" +
                                         (*k)->id() + "' limit of " + std::to_string(limit) + " bytes; refused"));
  }
  // The daemon, not the client, says where the answer goes.
  const bool wants_reply = (env.flags() & k_envelope_flag_no_reply) == 0;
  queued_message m{make_envelope(env.message_id(), env.payload_length(), env.send_timestamp_ns(), env.correlation_id(),
                                 0, env.type_id(), env.flags(), env.priority()),
                   {payload.begin(), payload.end()},
                   wants_reply ? reply_address::session(port.session_id()) : reply_address::nobody(),
                   0};
  const auto message_id = env.message_id();
  const auto r = (*k)->offer(m);
  if (r == offer_result::wait) {
    port.hold_send(*k, std::move(m), rid, send->ack());
    return;
  }
  answer_offer(port, rid, send->ack(), **k, r, message_id);
}

void on_subscribe(registry& reg, request_port& port, const wire::Request& req) {
  auto k = reg.find(str(req.body_as_Subscribe()->kernel_id()));
  if (!k) return port.send(codec::response(req.id(), k.err()));
  if (!require_right(reg, port, req, **k, kernel_right::subscribe)) return;
  (*k)->outs().subscribe(port.session_id());
  port.send(codec::response(req.id(), errc::ok));
}

void on_unsubscribe(registry& reg, request_port& port, const wire::Request& req) {
  auto k = reg.find(str(req.body_as_Unsubscribe()->kernel_id()));
  if (!k) return port.send(codec::response(req.id(), k.err()));
  (*k)->outs().unsubscribe(port.session_id());
  port.send(codec::response(req.id(), errc::ok));
}

void on_attach(registry& reg, request_port& port, const wire::Request& req) {
  const auto* a = req.body_as_Attach();
  auto k = reg.find(str(a->kernel_id()));
  if (!k) return port.send(codec::response(req.id(), k.err()));
  if (!require_right(reg, port, req, **k, kernel_right::attach)) return;
  const auto& limits = reg.config().limits;
  if (port.attachment_count() >= limits.max_attachments_per_session) {
    return port.send(codec::response(
        req.id(), reg.refuse_at(daemon_limit::attachments,
                                "cannot attach to kernel '" + (*k)->id() + "': this connection holds " +
                                    std::to_string(port.attachment_count()) +
                                    " attachments, its limit ([limits] max_attachments_per_session); detach one")));
  }
  if (const auto all = reg.attachment_count(); all >= limits.max_attachments) {
    return port.send(
        codec::response(req.id(), reg.refuse_at(daemon_limit::attachments, "cannot attach to kernel '" + (*k)->id() +
                                                                               "': pdcd has " + std::to_string(all) +
                                                                               " attachments open, its limit ([limits] "
                                                                               "max_attachments)")));
  }
  auto grant = (*k)->attach(port.session_id(), a->request_ring_bytes(), a->reply_ring_bytes());
  if (!grant) return port.send(codec::response(req.id(), grant.err()));
  port.attached(grant->attachment_id, *k);
  spdlog::info("session {} attached to kernel '{}' (attachment {}, {} bytes)", port.session_id(), (*k)->id(),
               grant->attachment_id, grant->segment_bytes);
  port.send(codec::attach_reply(req.id(), *grant, (*k)->params()),
            {grant->segment_fd, grant->doorbell_fd, grant->reply_wake_fd});
}

void on_detach(registry& /*reg*/, request_port& port, const wire::Request& req) {
  const auto aid = req.body_as_Detach()->attachment_id();
  if (!port.detach(aid)) {
    return port.send(codec::response(req.id(), errc::not_found,
                                     "attachment " + std::to_string(aid) + " is not attached by this session"));
  }
  port.send(codec::response(req.id(), errc::ok));
}

void on_connect(registry& reg, request_port& port, const wire::Request& req) {
  if (!require_admin(reg, port, req,
                     "connect kernel " + quoted(req.body_as_Connect()->from_kernel()) + " to " +
                         quoted(req.body_as_Connect()->to_kernel())))
    return;
  const auto* c = req.body_as_Connect();
  answer(port, req.id(), reg.connect(str(c->from_kernel()), str(c->to_kernel())));
}

void on_disconnect(registry& reg, request_port& port, const wire::Request& req) {
  if (!require_admin(reg, port, req,
                     "disconnect kernel " + quoted(req.body_as_Disconnect()->from_kernel()) + " from " +
                         quoted(req.body_as_Disconnect()->to_kernel())))
    return;
  const auto* c = req.body_as_Disconnect();
  answer(port, req.id(), reg.disconnect(str(c->from_kernel()), str(c->to_kernel())));
}

void on_pool_list(registry& reg, request_port& port, const wire::Request& req) {
  if (!require_admin(reg, port, req, "list pools")) return;
  port.send(codec::pool_list_reply(req.id(), reg.pools()));
}

// One entry per RequestBody value, in the schema's order.
constexpr std::array<handler, static_cast<std::size_t>(wire::RequestBody::MAX) + 1> k_handlers = [] {
  std::array<handler, static_cast<std::size_t>(wire::RequestBody::MAX) + 1> t{};
  using B = wire::RequestBody;
  const auto at = [&](B b, handler h) { t[static_cast<std::size_t>(b)] = h; };
  at(B::Hello, on_hello);
  at(B::PluginLoad, on_plugin_load);
  at(B::PluginUnload, on_plugin_unload);
  at(B::PluginList, on_plugin_list);
  at(B::Launch, on_launch);
  at(B::Activate, on_activate);
  at(B::Deactivate, on_deactivate);
  at(B::Terminate, on_terminate);
  at(B::Status, on_list);
  at(B::List, on_list);
  at(B::Metrics, on_metrics);
  at(B::Send, on_send);
  at(B::Subscribe, on_subscribe);
  at(B::Unsubscribe, on_unsubscribe);
  at(B::Attach, on_attach);
  at(B::Detach, on_detach);
  at(B::Connect, on_connect);
  at(B::Disconnect, on_disconnect);
  at(B::PoolList, on_pool_list);
  return t;
}();

}  // namespace

std::string prometheus_everything(registry& reg) {
  std::vector<kernel_snapshot> all;
  all.reserve(reg.kernels().size());
  for (const auto& [id, k] : reg.kernels()) all.push_back(k->snapshot());
  std::string text = prometheus_text(all, daemon_numbers(reg));
  if (reg.bridge() != nullptr) text += reg.bridge()->prometheus();
  return text;
}

void dispatch(registry& reg, request_port& port, const wire::Request& req) {
  const auto index = static_cast<std::size_t>(req.body_type());
  const handler h = index < k_handlers.size() ? k_handlers[index] : nullptr;
  if (h == nullptr || req.body() == nullptr) {
    port.send(codec::response(req.id(), errc::not_supported, "request has no body or an unknown operation; refused"));
    return;
  }
  h(reg, port, req);
}

void answer_offer(request_port& port, std::uint64_t rid, bool ack, const kernel& k, offer_result r,
                  std::uint64_t message_id) {
  switch (r) {
    case offer_result::accepted:
      if (ack) port.send(codec::send_reply(rid, message_id));
      return;
    case offer_result::rejected:
      return port.send(codec::response(rid, errc::rejected,
                                       "kernel '" + k.id() + "' queue is full (" + std::to_string(k.params().capacity) +
                                           " messages, policy reject); message refused"));
    case offer_result::dropped_newest:
      return port.send(codec::response(rid, errc::dropped,
                                       "kernel '" + k.id() + "' queue is full (policy drop_newest); message dropped"));
    case offer_result::closed:
      return port.send(
          codec::response(rid, errc::terminated, "kernel '" + k.id() + "' is terminating; message refused"));
    case offer_result::wait:
      break;
  }
  port.send(codec::response(rid, errc::internal, "unexpected offer outcome"));
}

}  // namespace pdc::daemon
