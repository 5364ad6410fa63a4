// The cluster bridge (docs/cluster.md): this pdcd as a node of a NATS
// cluster. One libnats connection carries messages to other nodes' kernels
// (subject pdc.<node>.<kernel>.<from>) and brings theirs to exported local
// kernels, with replies through NATS reply subjects. It runs off the hot
// path: libnats's own threads receive, any thread may send, and nothing here
// touches a ring.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "app/config.hpp"
#include "pdc/core/result.hpp"
#include "pdc/proto/envelope.hpp"
#include "runtime/message_queue.hpp"

namespace pdc::daemon {

/// Session ids with this bit set name a request from another node that
/// awaits its answer through the bridge (a real session's id never has it).
inline constexpr std::uint64_t k_remote_session_bit = 1ULL << 61;
[[nodiscard]] constexpr bool is_remote_session(std::uint64_t session_id) noexcept {
  return (session_id & k_remote_session_bit) != 0;
}

/// The bridge's wire header, before the 48-byte envelope and the payload
/// (a batch: before 2-64 of them, each envelope followed by its payload).
struct bridge_header {
  static constexpr std::uint32_t k_magic = 0x42434450;  // "PDCB"
  enum kind : std::uint8_t { one_way = 0, request = 1, reply = 2, batch = 3 };
  std::uint32_t magic = k_magic;
  std::uint8_t version = 1;
  std::uint8_t what = one_way;
  std::uint16_t reserved = 0;  ///< A batch: how many messages it carries; else 0.
  std::uint64_t epoch = 0;     ///< The sending bridge's start (a fresh sequence).
  std::uint64_t seq = 0;       ///< Per destination node, from 1 (0 on replies).
};
static_assert(sizeof(bridge_header) == 24);

/// Splits "node/kernel": true when `address` names a kernel of a node (both
/// parts non-empty), false when it is a local kernel id.
bool split_remote_address(std::string_view address, std::string_view& node, std::string_view& kernel) noexcept;

class cluster_bridge {
 public:
  /// What the bridge needs from pdcd.
  struct host {
    /// Offers a message from node `from` to local kernel `kernel` (a libnats
    /// thread): ok, or the refusal with its reason. Exports and access lists
    /// are checked here; `m.from` names where the answer goes.
    std::function<result<void>(std::string_view kernel, std::string_view from, queued_message& m)> offer;
    /// Delivers a reply that came from another node to a session (runs on
    /// the control thread; the bridge posts it there).
    std::function<void(std::uint64_t session_id, const std::string& address, const envelope& env,
                       std::span<const std::byte> payload)>
        to_session;
    /// Runs `fn` on the control thread (any thread).
    std::function<void(std::function<void()>)> post;
  };

  /// Connects to the cluster's servers and subscribes to this node's
  /// subjects; unavailable (naming the servers) when none answers.
  static result<std::unique_ptr<cluster_bridge>> connect(const cluster_config& cfg, host h);
  ~cluster_bridge();
  cluster_bridge(const cluster_bridge&) = delete;
  cluster_bridge& operator=(const cluster_bridge&) = delete;

  [[nodiscard]] const std::string& node() const noexcept;
  /// Stops taking messages from other nodes: once it returns, no callback
  /// of the bridge runs (sending and answering still work). Idempotent.
  void stop();

  /// Sends envelope+payload to kernel `kernel` of node `node` (any thread).
  /// When `reply_session` is not 0 the message is a request, and its answer
  /// (or an error reply saying why none came) goes to that session. ok, or
  /// full (too many requests await replies), peer_gone (the connection is
  /// closed) or message_too_large.
  errc send(std::string_view node, std::string_view kernel, const envelope& env, std::span<const std::byte> payload,
            std::uint64_t reply_session);
  /// Answers a request that came from another node: `session_id` is the
  /// remote session the request carried (any thread). ok, or peer_gone when
  /// it is no longer awaited (it timed out) or cannot be sent.
  errc answer(std::uint64_t session_id, const envelope& env, std::span<const std::byte> payload);

  /// at_least_once kernels (docs/cluster.md, "Delivery"). Makes (or keeps)
  /// the kernel's JetStream stream PDC_<node>_<kernel> and its durable
  /// consumer, at most `capacity` messages unacknowledged (control thread).
  result<void> prepare_at_least_once(std::string_view kernel, std::uint32_t capacity);
  /// Starts taking the stream's messages into the kernel (control thread).
  result<void> start_at_least_once(std::string_view kernel);
  /// Stops taking them; what is unacknowledged is delivered again to the
  /// next kernel of that id, on this node or after a restart (control thread).
  void stop_at_least_once(std::string_view kernel);
  /// The handler of message `settle_id` ran: an at-least-once message is
  /// acknowledged to its consumer now (any thread).
  void settle(std::uint64_t settle_id);

  /// The bridge's metrics, Prometheus text (pdc_cluster_*).
  [[nodiscard]] std::string prometheus() const;
  /// One line for the log and status: node, servers, state.
  [[nodiscard]] std::string describe() const;

  struct impl;

 private:
  explicit cluster_bridge(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace pdc::daemon
