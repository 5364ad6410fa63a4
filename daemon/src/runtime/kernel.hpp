// A kernel: a running instance of a kernel type. It holds what the kernel
// is (identity, parameters, plugin state), where it stands (lifecycle
// state, the gate its agents read), what feeds it (the inbox, attachments)
// and where its outputs go; its executor's agents do the work.
//
// Threads: the control thread owns the lifecycle, attachments and
// configuration; agents read the state flags (atomic) and the inbox and
// outputs (thread-safe) from their threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "pdc/core/histogram.hpp"
#include "pdc/core/published_counter.hpp"
#include "pdc/plugin.h"
#include "plugins/plugin_loader.hpp"
#include "runtime/access.hpp"
#include "runtime/attachment_source.hpp"
#include "runtime/inbox.hpp"
#include "runtime/kernel_host.hpp"
#include "runtime/launch_request.hpp"
#include "runtime/lifecycle.hpp"
#include "runtime/outputs.hpp"
#include "telemetry/metrics.hpp"
#include "tiers/executor.hpp"

namespace pdc::daemon {

/// What an attach hands the client (fds are new duplicates the caller closes).
struct attach_grant {
  std::uint64_t attachment_id = 0;
  int segment_fd = -1;
  int doorbell_fd = -1;
  int reply_wake_fd = -1;  ///< The client's end of the wake-up socket pair.
  std::uint64_t segment_bytes = 0;
};

class kernel : public std::enable_shared_from_this<kernel> {
 public:
  /// `params` must be complete (defaults applied), `access` resolved from
  /// params.access. The kernel starts created.
  kernel(launch_request params, kernel_type_ref type, kernel_host& host, access_list access = {});
  ~kernel();
  kernel(const kernel&) = delete;
  kernel& operator=(const kernel&) = delete;

  [[nodiscard]] const std::string& id() const noexcept { return params_.kernel_id; }
  [[nodiscard]] const launch_request& params() const noexcept { return params_; }
  [[nodiscard]] const kernel_type_entry& type() const noexcept { return *type_; }
  /// SYNC: kernel_state — seq_cst loads of the state flags (state, stopping,
  /// halted): an agent's last look before it sleeps (Dekker pair with the
  /// seq_cst store of each change and the doorbell load in notify()). On x86
  /// and ARM they cost what an acquire load costs.
  [[nodiscard]] kernel_state state() const noexcept { return state_.load(std::memory_order_seq_cst); }
  [[nodiscard]] kernel_host& host() const noexcept { return host_; }
  [[nodiscard]] inbox& in() noexcept { return inbox_; }
  [[nodiscard]] outputs& outs() noexcept { return outputs_; }
  [[nodiscard]] void* plugin_state() const noexcept { return plugin_state_; }
  [[nodiscard]] std::uint64_t uptime_ns() const noexcept;
  /// The kernel's metrics and settings now (control thread).
  [[nodiscard]] kernel_snapshot snapshot() const;
  [[nodiscard]] std::size_t attachment_count() const noexcept { return attachments_.size(); }
  /// True when `peer` may use the kernel so (its owner and administrators may do anything).
  [[nodiscard]] bool permits(const peer_credentials& peer, kernel_right r) const noexcept {
    return access_.permits(peer, params_.owner_uid, r);
  }
  /// True when a sender on another node may use the kernel so (any thread:
  /// the list does not change after launch).
  [[nodiscard]] bool permits_node(std::string_view node, kernel_right r) const noexcept {
    return access_.permits_node(node, r);
  }
  /// Counts a request refused by the access list (control thread).
  void count_denied() noexcept { denied_.add(); }

  // ---- control thread ----------------------------------------------------------
  /// created -> launched: runs the type's create(), then starts `exec`.
  result<void> launch(std::unique_ptr<executor> exec);
  result<void> activate();
  result<void> deactivate();
  /// -> terminating at once: refuses new messages; the agents drain what is
  /// queued (or drop it) within `timeout_ns`; then every attachment is closed
  /// (reason terminated), what is left in the inbox is answered with errors,
  /// destroy() runs -> terminated, and `done` is called. Never blocks: a
  /// busy kernel finishes later, on the control thread.
  void terminate(bool drop, std::uint64_t timeout_ns, std::function<void(result<void>)> done);
  /// How long halted agents may take to finish before the kernel counts as stuck.
  static constexpr std::uint64_t k_stuck_grace_ns = 2'000'000'000;
  /// Runs `notice` (control thread, once) if the terminate finds the kernel
  /// stuck in a handler that does not return: `done` then runs only once
  /// the handler returns, which may be never.
  void on_stuck(std::function<void()> notice) { on_stuck_ = std::move(notice); }
  /// Log lines a kernel may write per second; beyond, they are counted and
  /// summed up in one line when the next second allows one.
  static constexpr std::uint32_t k_log_lines_per_second = 50;
  /// True when the kernel may log one more line now (any thread); `suppressed`
  /// is set to the lines refused since the last one allowed.
  bool take_log_line(std::uint64_t now_ns, std::uint64_t& suppressed) const;
  /// A handler did not return within the grace after the kernel was halted.
  [[nodiscard]] bool stuck() const noexcept { return stuck_.load(std::memory_order_relaxed); }
  /// A terminating kernel stops draining `timeout_ns` from now at the
  /// latest (what is left is dropped). Control thread.
  void drain_until(std::uint64_t timeout_ns);
  /// Why its end is reported to clients: errc::terminated (a terminate), or
  /// errc::daemon_stopping (pdcd's shutdown). Closes the rings with it and
  /// answers what is queued with it. Set before terminate().
  void set_stop_reason(errc why) noexcept { stop_reason_.store(why, std::memory_order_relaxed); }
  [[nodiscard]] errc stop_reason() const noexcept { return stop_reason_.load(std::memory_order_relaxed); }
  /// Creates an attachment for `session_id` (ring sizes in bytes, 0 = default).
  result<attach_grant> attach(std::uint64_t session_id, std::uint64_t request_ring_bytes,
                              std::uint64_t reply_ring_bytes);
  /// Serves an attachment whose segment exists already (a kernel host
  /// process is handed pdcd's). Control thread.
  result<void> adopt_attachment(std::shared_ptr<attachment_source> src);
  /// Calls `fn` for each attachment (control thread).
  template <typename F>
  void for_each_attachment(F&& fn) const {
    for (const auto& [aid, src] : attachments_) fn(*src);
  }
  /// Adds only what the agents counted (a kernel host reports them to pdcd).
  void collect_agents(kernel_snapshot& s) const {
    if (exec_) exec_->collect(s);
  }
  /// Releases an attachment (client detach, or its session closed).
  void detach(std::uint64_t attachment_id);
  /// An agent let go of an attachment its client closed or broke.
  void forget_attachment(std::uint64_t attachment_id);
  /// Counts a delivery to a session (kernel_host::deliver) by its outcome:
  /// ok (out), full (dropped: the client does not read) or peer_gone (a reply
  /// becomes a dead letter and goes to the subscribers; an output is dropped).
  void delivered(delivery what, errc outcome, const envelope& env, std::span<const std::byte> payload);

  // ---- any thread ------------------------------------------------------------------
  /// Offers a socket-path message by the backpressure policy; moves from `m`
  /// only when accepted. Under drop_oldest the evicted message's sender is told.
  offer_result offer(queued_message& m);
  /// Tells a socket-path sender that its message failed (error reply).
  void fail_sender(const reply_address& to, std::uint64_t message_id, errc code, const std::string& why);
  /// True while the gate lets messages through (active, or terminating to drain).
  [[nodiscard]] bool gate_open() const noexcept {
    const auto s = state();
    return s == kernel_state::active || s == kernel_state::terminating;
  }
  /// True once a terminate asked the agents to finish.
  [[nodiscard]] bool stopping() const noexcept { return stopping_.load(std::memory_order_seq_cst); }
  /// True once processing must stop at once (drop, or the drain time is over).
  [[nodiscard]] bool halted() const noexcept { return halted_.load(std::memory_order_seq_cst); }
  /// Records the kernel's last error (one line).
  void set_error(std::string text);
  [[nodiscard]] std::string last_error() const;
  /// Counts a blocked socket sender that gave up waiting.
  void note_block_timeout() noexcept { inbox_.count_block_timeout(); }
  /// The create()/destroy() context (no agent).
  [[nodiscard]] pdc_kernel_ctx* control_ctx() noexcept { return &control_ctx_; }

 private:
  void halt() noexcept;
  void watch_for_stuck();
  void finish_terminate();
  void fold_client_counts(const attachment_source& src) noexcept;

  launch_request params_;
  kernel_type_ref type_;
  kernel_host& host_;
  pdc_kernel_ctx control_ctx_;
  std::atomic<kernel_state> state_{kernel_state::created};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> halted_{false};
  // Relaxed: written on the control thread before terminate(), whose own
  // synchronisation (the stopping flag, seq_cst) orders it for the agents.
  std::atomic<errc> stop_reason_{errc::terminated};
  void* plugin_state_ = nullptr;
  bool created_ = false;
  std::uint64_t started_ns_ = 0;
  inbox inbox_;
  outputs outputs_;
  std::unique_ptr<executor> exec_;

  // ---- control thread ----
  std::map<std::uint64_t, std::shared_ptr<attachment_source>> attachments_;
  std::uint64_t retired_client_rejected_ = 0;  // counts of attachments that are gone
  std::uint64_t retired_client_dropped_ = 0;
  // Deliveries to sessions, counted on the control thread (kernel_host::deliver).
  published_counter session_out_;
  published_counter session_dropped_;
  published_counter session_dead_letters_;
  published_counter denied_;  // requests the access list refused
  access_list access_;
  std::uint64_t unanswered_at_terminate_ = 0;
  std::function<void(result<void>)> terminate_done_;
  std::function<void()> on_stuck_;
  std::atomic<bool> stuck_{false};

  // A client can make a handler log per message it sends: bounded per second.
  mutable std::mutex log_mu_;
  mutable std::uint64_t log_window_ns_ = 0;   // guarded by log_mu_
  mutable std::uint32_t log_lines_ = 0;       // guarded by log_mu_
  mutable std::uint64_t log_suppressed_ = 0;  // guarded by log_mu_

  mutable std::mutex error_mu_;
  std::string last_error_;  // guarded by error_mu_
};

/// Allocates a daemon-wide unique attachment id.
std::uint64_t next_attachment_id() noexcept;

}  // namespace pdc::daemon
