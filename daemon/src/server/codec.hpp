// The control protocol as the daemon reads and writes it (docs/protocol.md):
// requests decoded into the runtime's types, with unknown enum values
// refused, and every response and delivery frame encoded. libpdc's
// wire_convert is its mirror on the client side.
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pdc/core/result.hpp"
#include "pdc/proto/control.hpp"
#include "pdc/proto/envelope.hpp"
#include "plugins/plugin_loader.hpp"
#include "runtime/launch_request.hpp"
#include "telemetry/metrics.hpp"

namespace pdc::daemon {
struct attach_grant;
class pool_registry;
}  // namespace pdc::daemon

namespace pdc::daemon::codec {

using frame = flatbuffers::DetachedBuffer;

/// The string, or "" for an absent one.
std::string str(const flatbuffers::String* s);

/// A Launch request as the registry takes it; invalid_argument for an unknown tier or policy value.
result<launch_request> decode_launch(const wire::Launch& l);

/// A Response with a code and a one-line message (no body).
frame response(std::uint64_t rid, errc code, std::string_view message = {});
inline frame response(std::uint64_t rid, const error& e) {
  return response(rid, e.code, e.message);
}

/// A Response (code ok) whose body `body(builder)` builds, returning {type, offset}.
template <typename BodyFn>
frame response_with(std::uint64_t rid, BodyFn&& body) {
  flatbuffers::FlatBufferBuilder b(256);
  auto [type, offset] = body(b);
  const auto msg = b.CreateString("");
  const auto resp = wire::CreateResponse(b, rid, 0, msg, type, offset);
  b.Finish(wire::CreateServerFrame(b, wire::ServerBody::Response, resp.Union()));
  return b.Release();
}

frame hello_reply(std::uint64_t rid, std::string_view daemon_version, std::uint64_t session_id,
                  std::uint32_t max_message_bytes);
frame plugin_load_reply(std::uint64_t rid, const plugin_info& info);
/// `live` holds the live kernel count of each plugin, in order.
frame plugin_list_reply(std::uint64_t rid, const std::vector<plugin_info>& plugins,
                        const std::vector<std::uint32_t>& live);
frame kernel_list_reply(std::uint64_t rid, const std::vector<kernel_snapshot>& kernels, bool more = false);
/// `text` is one page of a Prometheus text of `text_bytes` bytes in all.
frame metrics_reply(std::uint64_t rid, const std::vector<kernel_snapshot>& kernels, std::string_view text,
                    bool more = false, std::uint64_t text_bytes = 0);
frame send_reply(std::uint64_t rid, std::uint64_t message_id);
frame attach_reply(std::uint64_t rid, const attach_grant& grant, const launch_request& params);
frame pool_list_reply(std::uint64_t rid, const pool_registry& pools);
/// A Delivery of envelope+payload from `kernel_id`.
frame delivery(std::string_view kernel_id, const envelope& env, std::span<const std::byte> payload);
/// A Goodbye: pdcd is stopping (`code` daemon_stopping), `text` says why.
frame goodbye(errc code, std::string_view text);

/// The KernelInfo table of one snapshot.
flatbuffers::Offset<wire::KernelInfo> kernel_info(flatbuffers::FlatBufferBuilder& b, const kernel_snapshot& k);

}  // namespace pdc::daemon::codec
