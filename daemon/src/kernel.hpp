// A running kernel: identity, lifecycle state, socket-path queue with
// backpressure, attachments, subscribers, metrics, and the bridge between the
// plugin's handler and the daemon (the pdc_host_api functions land here).
//
// Threads: the control thread (the daemon's event loop) owns lifecycle and
// configuration; workers (the loop itself on tier 1, dedicated threads on
// tiers 2/3) run handlers. Shared state is atomic or guarded as marked.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "attachment.hpp"
#include "config.hpp"
#include "lifecycle.hpp"
#include "message_queue.hpp"
#include "pdc/core/histogram.hpp"
#include "pdc/plugin.h"
#include "plugin_loader.hpp"
#include "tiers/executor.hpp"
#include "worker.hpp"

namespace pdc::daemon {

/// What a kernel needs from the daemon around it. Every method may be
/// called from any worker thread.
class kernel_host {
 public:
  virtual ~kernel_host() = default;
  /// Sends envelope+payload to session `session_id` as a Delivery from
  /// `kernel_id` (from a worker thread: copied and handed to the control thread).
  virtual errc deliver(std::uint64_t session_id, const std::string& kernel_id, const envelope& env,
                       std::span<const std::byte> payload) = 0;
  /// Queues a message into another kernel (send_to).
  virtual errc route(const std::string& from_kernel, const std::string& to_kernel, const envelope& env,
                     std::span<const std::byte> payload) = 0;
  /// Logs one line attributed to `kernel_id`.
  virtual void log(const std::string& kernel_id, int level, std::string_view text) = 0;
  /// Runs `fn` on the control thread (soon; from any thread).
  virtual void post(std::function<void()> fn) = 0;
};

/// Counters and merged histograms of one kernel at one moment.
struct kernel_metrics {
  std::uint64_t messages_in = 0;     ///< accepted (socket queue) or read from rings
  std::uint64_t messages_out = 0;    ///< replies and emits sent
  std::uint64_t processed = 0;       ///< handler invocations
  std::uint64_t dropped = 0;         ///< dropped by policy, or undeliverable outputs
  std::uint64_t rejected = 0;        ///< refused by policy, or a block wait that timed out
  std::uint64_t handler_errors = 0;  ///< negative handler returns
  std::string last_error;
  histogram queue_wait;  ///< enqueue (or client send) -> handler start, ns
  histogram processing;  ///< handler duration, ns
};

/// Outcome of offering a message to a kernel's socket-path queue.
enum class offer_result : std::uint8_t {
  accepted,        ///< queued
  wait,            ///< block policy and full: caller waits for on_space
  rejected,        ///< reject policy and full
  dropped_newest,  ///< drop_newest policy and full: this message was dropped
  terminated,      ///< kernel no longer accepts messages
};

/// What an attach hands the client (fds are new duplicates the caller closes).
struct attach_grant {
  std::uint64_t attachment_id = 0;
  int segment_fd = -1;
  int doorbell_fd = -1;
  std::uint64_t segment_bytes = 0;
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
  [[nodiscard]] kernel_state state() const noexcept { return state_.load(std::memory_order_acquire); }
  /// A consistent-enough copy of the counters and merged histograms.
  [[nodiscard]] kernel_metrics metrics() const;
  /// Messages waiting: socket queue plus unread ring bytes' records (approximate).
  [[nodiscard]] std::uint64_t queue_depth() const noexcept;
  [[nodiscard]] std::uint64_t uptime_ns() const noexcept;
  [[nodiscard]] std::size_t subscriber_count() const;
  [[nodiscard]] std::string last_error() const;
  [[nodiscard]] std::size_t attachment_count() const noexcept { return attachments_.size(); }

  // ---- control thread ----
  /// CREATED -> LAUNCHED: runs the plugin's create(), then starts `exec`.
  result<void> launch(std::unique_ptr<executor> exec);
  result<void> activate();
  result<void> deactivate();
  /// -> TERMINATING: refuses new messages; drains (or drops) within
  /// `timeout_ns`; answers what is left with error replies; closes every
  /// attachment (reason: terminated); runs destroy() -> TERMINATED.
  result<void> terminate(bool drop, std::uint64_t timeout_ns);
  /// Offers a socket-path message per the backpressure policy. Moves from
  /// `m` only when the result is `accepted`.
  offer_result offer(queued_message& m);
  /// Registers a callback run (once, on the control thread) when queue space frees up.
  void wait_for_space(std::function<void()> fn);
  /// Counts a blocked sender that gave up (block policy timeout) as a rejection.
  void note_block_timeout() noexcept { rejected_.fetch_add(1, std::memory_order_relaxed); }
  /// Creates an attachment for `session_id` (ring sizes in bytes, 0 = default).
  result<attach_grant> attach(std::uint64_t session_id, std::uint64_t request_ring_bytes,
                              std::uint64_t reply_ring_bytes);
  /// Releases an attachment (client detach or session gone).
  void detach(std::uint64_t attachment_id);
  /// Pipes this kernel's outputs into kernel `target` too (control thread).
  void link(const std::string& target);
  void unlink(const std::string& target);
  [[nodiscard]] std::vector<std::string> links() const;
  void subscribe(std::uint64_t session_id);
  void unsubscribe(std::uint64_t session_id);
  /// Called (on the control thread) after workers freed socket-queue space.
  void notify_space();

  // ---- workers ----
  /// True when the gate lets messages through (ACTIVE, or TERMINATING to drain).
  [[nodiscard]] bool gate_open() const noexcept;
  /// Handles up to `budget` messages from the worker's sources. Returns how many.
  std::size_t poll(worker& w, std::size_t budget);
  /// True when the worker's sources hold nothing (it may park).
  [[nodiscard]] bool idle(worker& w);
  /// Marks every source of `w` parked; false if something arrived meanwhile.
  bool prepare_park(worker& w);
  void unpark(worker& w);
  /// Loop style: runs the plugin's run() on this worker until it returns.
  void run_loop_style(worker& w);
  /// Loop style receive (host API).
  int receive(worker& w, pdc_message* out, std::int64_t timeout_ns);
  /// True once a terminate asked workers to stop.
  [[nodiscard]] bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }
  /// Stops processing at once (terminate's drain time is over, or drop).
  void halt() noexcept { halted_.store(true, std::memory_order_seq_cst); }
  [[nodiscard]] bool halted() const noexcept { return halted_.load(std::memory_order_acquire); }
  /// Waits for work on `w` (spin per the tier, then park on the doorbell).
  void idle_wait(worker& w, std::uint64_t max_wait_ns);

  // ---- host API entry points (called by the plugin through pdc_host_api) ----
  int host_reply(const pdc_message* request, const void* data, std::uint32_t len, std::uint32_t type_id);
  int host_emit(const void* data, std::uint32_t len, std::uint32_t type_id);
  int host_send_to(const char* target, const void* data, std::uint32_t len, std::uint32_t type_id);
  void host_log(int level, const char* text);

  [[nodiscard]] pdc_kernel_ctx* ctx() noexcept { return reinterpret_cast<pdc_kernel_ctx*>(this); }
  static kernel* from_ctx(pdc_kernel_ctx* ctx) noexcept { return reinterpret_cast<kernel*>(ctx); }

 private:
  bool handle_socket_message(worker& w);
  /// drop_oldest on a ring: drops the oldest records the client asked to shed.
  std::size_t shed(worker& w, attachment_source& src);
  /// Folds a departing attachment's producer-side counts into the kernel's.
  void retire(const attachment_source& src);
  bool handle_ring_record(worker& w, attachment_source& src);
  void run_handler(worker& w, const pdc_message& msg, std::uint64_t queued_at_ns);
  void fail_waiting_sender(const envelope& env, errc code, const std::string& why);
  errc send_to_attachment(worker* w, std::uint64_t attachment_id, const envelope& env,
                          std::span<const std::byte> payload);
  envelope make_output_envelope(std::uint32_t len, std::uint32_t type_id, std::uint64_t correlation_id,
                                std::uint64_t reply_to, std::uint16_t flags);
  void set_error(std::string text);
  std::optional<queued_message> pop_socket();

  launch_request params_;
  kernel_type_ref type_;
  kernel_host& host_;
  std::atomic<kernel_state> state_{kernel_state::created};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> halted_{false};
  void* plugin_state_ = nullptr;
  bool created_ = false;
  std::unique_ptr<executor> exec_;
  std::uint64_t started_ns_ = 0;
  std::atomic<std::uint64_t> next_message_id_{1};

  // Socket-path queue: produced by the control thread, consumed by worker 0.
  mutable std::mutex queue_mu_;
  message_queue queue_;                               // guarded by queue_mu_
  std::atomic<std::uint64_t> queued_{0};              // queue_.size() mirror for lock-free checks
  std::atomic<bool> space_wanted_{false};             // a sender waits for room
  std::vector<std::function<void()>> space_waiters_;  // control thread only

  // Attachments by id (control thread); each also lives in one worker.
  std::map<std::uint64_t, std::shared_ptr<attachment_source>> attachments_;

  mutable std::mutex subscribers_mu_;
  std::set<std::uint64_t> subscribers_;  // guarded by subscribers_mu_
  std::set<std::string> links_;          // guarded by subscribers_mu_

  std::atomic<std::uint64_t> messages_in_{0}, messages_out_{0}, processed_{0}, dropped_{0}, rejected_{0},
      handler_errors_{0};
  // Producer-side counts of attachments that are gone (control thread).
  std::uint64_t retired_rejected_ = 0;
  std::uint64_t retired_dropped_ = 0;
  mutable std::mutex error_mu_;
  std::string last_error_;  // guarded by error_mu_
};

/// The daemon's pdc_host_api table (static storage).
const pdc_host_api* host_api_table() noexcept;

/// Allocates a daemon-wide unique attachment id.
std::uint64_t next_attachment_id() noexcept;

}  // namespace pdc::daemon
