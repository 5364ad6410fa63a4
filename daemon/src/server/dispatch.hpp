// The protocol surface: one short function per request (a table indexed by
// the request's body type), apart from the transport. Each decodes its
// request (server/codec), calls the registry and answers through the port
// the request came on, now or, for a terminate or a blocked send, later.
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pdc/proto/control.hpp"
#include "runtime/access.hpp"
#include "runtime/inbox.hpp"
#include "runtime/message_queue.hpp"

namespace pdc::daemon {

class kernel;
class registry;

/// What dispatch needs from the connection a request came on: the session
/// (server/session.hpp), or a fake in tests.
class request_port {
 public:
  virtual ~request_port() = default;
  [[nodiscard]] virtual std::uint64_t session_id() const noexcept = 0;
  /// Who is asking (credentials read when the connection was accepted).
  [[nodiscard]] virtual const peer_credentials& peer() const noexcept = 0;
  /// Sends a frame; `fds` travel with it (SCM_RIGHTS) and are closed once sent or on failure.
  virtual void send(flatbuffers::DetachedBuffer frame, std::vector<int> fds = {}) = 0;
  /// A Send that a full inbox (policy block) cannot take now: the port stops
  /// reading requests, retries it when space frees up, and answers timeout
  /// after the kernel's block timeout.
  virtual void hold_send(std::shared_ptr<kernel> k, queued_message m, std::uint64_t rid, bool ack) = 0;
  /// Attachments this connection made (released when it closes).
  virtual void attached(std::uint64_t attachment_id, std::weak_ptr<kernel> k) = 0;
  /// Forgets (and releases) one of them; false when it is not this connection's.
  virtual bool detach(std::uint64_t attachment_id) = 0;
  /// The Prometheus text this connection is reading page by page.
  [[nodiscard]] virtual std::string& pending_text() noexcept = 0;
  /// Attachments this connection holds.
  [[nodiscard]] virtual std::size_t attachment_count() const noexcept = 0;
  /// A handle for answers that come after the request returned; expired once the connection is gone.
  [[nodiscard]] virtual std::weak_ptr<request_port> weak_port() = 0;
};

/// Handles one verified request, answering it through `port`.
void dispatch(registry& reg, request_port& port, const wire::Request& req);

/// Answers the outcome of a Send's offer (accepted: a SendReply when `ack`; otherwise the refusal).
void answer_offer(request_port& port, std::uint64_t rid, bool ack, const kernel& k, offer_result r,
                  std::uint64_t message_id);

/// The daemon's version string (HelloReply, pdcd --version).
inline constexpr const char* k_daemon_version = "pdcd 0.2.0";

/// The Prometheus text of every kernel and the daemon's gauges, as an
/// administrator sees it (the HTTP endpoint, telemetry/http_metrics.hpp).
std::string prometheus_everything(registry& reg);

}  // namespace pdc::daemon
