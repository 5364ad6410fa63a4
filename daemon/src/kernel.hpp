// A running kernel: identity, lifecycle state, bounded queue, backpressure,
// subscribers, metrics, and the bridge between the plugin's handler and the
// daemon (the pdc_host_api functions land here).
//
// Threading: tier 1 (async) kernels live entirely on the daemon's event-loop
// thread; every method here is called from that thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config.hpp"
#include "lifecycle.hpp"
#include "message_queue.hpp"
#include "pdc/core/histogram.hpp"
#include "pdc/plugin.h"
#include "plugin_loader.hpp"
#include "tiers/executor.hpp"

namespace pdc::daemon {

/// What a kernel needs from the daemon around it.
class kernel_host {
 public:
  virtual ~kernel_host() = default;
  /// Sends envelope+payload to session `session_id` as a Delivery from
  /// `kernel_id`. peer_gone if no such session; full if its queue is full.
  virtual errc deliver(std::uint64_t session_id, const std::string& kernel_id, const envelope& env,
                       std::span<const std::byte> payload) = 0;
  /// Queues a message into another kernel (send_to). not_found if none.
  virtual errc route(const std::string& from_kernel, const std::string& to_kernel, const envelope& env,
                     std::span<const std::byte> payload) = 0;
  /// Logs one line attributed to `kernel_id`.
  virtual void log(const std::string& kernel_id, int level, std::string_view text) = 0;
};

/// Per-kernel counters and latency histograms.
struct kernel_metrics {
  std::uint64_t messages_in = 0;     ///< accepted into the queue
  std::uint64_t messages_out = 0;    ///< replies and emits sent
  std::uint64_t processed = 0;       ///< handler invocations
  std::uint64_t dropped = 0;         ///< dropped by policy (or undeliverable outputs)
  std::uint64_t rejected = 0;        ///< refused by policy or timed-out block
  std::uint64_t handler_errors = 0;  ///< negative handler returns
  std::string last_error;
  histogram queue_wait;  ///< enqueue -> handler start, ns
  histogram processing;  ///< handler duration, ns
};

/// Outcome of offering a message to a kernel.
enum class offer_result : std::uint8_t {
  accepted,        ///< queued
  wait,            ///< block policy and full: caller waits for on_space
  rejected,        ///< reject policy and full
  dropped_newest,  ///< drop_newest policy and full: this message was dropped
  terminated,      ///< kernel no longer accepts messages
};

class kernel : public std::enable_shared_from_this<kernel> {
 public:
  /// `params` must be complete (defaults applied). The kernel starts CREATED.
  kernel(launch_request params, kernel_type_ref type, kernel_host& host);
  ~kernel();
  kernel(const kernel&) = delete;
  kernel& operator=(const kernel&) = delete;

  [[nodiscard]] const std::string& id() const noexcept { return params_.kernel_id; }
  [[nodiscard]] const launch_request& params() const noexcept { return params_; }
  [[nodiscard]] const kernel_type_entry& type() const noexcept { return *type_; }
  [[nodiscard]] kernel_state state() const noexcept { return state_; }
  [[nodiscard]] const kernel_metrics& metrics() const noexcept { return metrics_; }
  [[nodiscard]] std::size_t queue_depth() const noexcept { return queue_.size(); }
  [[nodiscard]] std::uint64_t uptime_ns() const noexcept;
  [[nodiscard]] const std::set<std::uint64_t>& subscribers() const noexcept { return subscribers_; }

  /// CREATED -> LAUNCHED: runs the plugin's create() and installs `exec`.
  result<void> launch(std::unique_ptr<executor> exec);
  result<void> activate();
  result<void> deactivate();
  /// -> TERMINATING: refuses new messages; processes (drain) or drops the
  /// queue, within `timeout_ns`; runs destroy() -> TERMINATED. Every dropped
  /// message that awaited a reply gets an error reply.
  result<void> terminate(bool drop, std::uint64_t timeout_ns);

  /// Offers a message (payload already size-checked) per the backpressure
  /// policy. Moves from `m` only when the result is `accepted`.
  offer_result offer(queued_message& m);
  /// Counts a blocked sender that gave up (block policy timeout) as a rejection.
  void note_block_timeout() noexcept { ++metrics_.rejected; }
  /// Registers a callback run (once) when queue space frees up.
  void wait_for_space(std::function<void()> fn) { space_waiters_.push_back(std::move(fn)); }
  /// Processes up to `max` queued messages if ACTIVE (or draining). Returns how many.
  std::size_t process(std::size_t max);
  [[nodiscard]] bool runnable() const noexcept {
    return !queue_.empty() && (state_ == kernel_state::active || state_ == kernel_state::terminating);
  }

  void subscribe(std::uint64_t session_id) { subscribers_.insert(session_id); }
  void unsubscribe(std::uint64_t session_id) { subscribers_.erase(session_id); }

  // ---- host API entry points (called by the plugin through pdc_host_api) ----
  int host_reply(const pdc_message* request, const void* data, std::uint32_t len, std::uint32_t type_id);
  int host_emit(const void* data, std::uint32_t len, std::uint32_t type_id);
  int host_send_to(const char* target, const void* data, std::uint32_t len, std::uint32_t type_id);
  void host_log(int level, const char* text);

  /// The C handle plugins see for this kernel.
  [[nodiscard]] pdc_kernel_ctx* ctx() noexcept { return reinterpret_cast<pdc_kernel_ctx*>(this); }
  static kernel* from_ctx(pdc_kernel_ctx* ctx) noexcept { return reinterpret_cast<kernel*>(ctx); }

 private:
  void run_one(queued_message& m);
  void fail_waiting_sender(const queued_message& m, errc code, const std::string& why);
  void notify_space();
  envelope make_output_envelope(std::uint32_t len, std::uint32_t type_id, std::uint64_t correlation_id,
                                std::uint64_t reply_to, std::uint16_t flags);

  launch_request params_;
  kernel_type_ref type_;
  kernel_host& host_;
  kernel_state state_ = kernel_state::created;
  void* plugin_state_ = nullptr;
  bool created_ = false;
  std::unique_ptr<executor> exec_;
  message_queue queue_;
  std::vector<std::function<void()>> space_waiters_;
  std::set<std::uint64_t> subscribers_;
  kernel_metrics metrics_;
  std::uint64_t started_ns_ = 0;
  std::uint64_t next_message_id_ = 1;
  // Set while a handler runs: the request being handled and whether it was answered.
  const queued_message* current_ = nullptr;
  bool replied_ = false;
};

/// The daemon's pdc_host_api table (static storage).
const pdc_host_api* host_api_table() noexcept;

}  // namespace pdc::daemon
