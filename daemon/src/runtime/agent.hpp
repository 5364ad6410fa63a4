// An agent: one worker's share of a kernel (Aeron's agent). It owns the
// attachments assigned to it (indexed by id), the counters and histograms of
// the messages it handles, and its plugin context; its executor runs
// do_work(budget) and, when that finds nothing, idles by one idle_strategy
// and parks through the agent's idle protocol (prepare_park / unpark) on the
// doorbell it was given. Every message a kernel handles passes here: read
// from a ring or the inbox, handed to the plugin, answered through the one
// output path (reply, emit, send_to). docs/tiers.md has the picture.
//
// Threads: do_work, the idle protocol, receive and the host calls run on the
// agent's thread (one at a time); adopt() and wake() come from the control
// thread; collect() from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "pdc/core/histogram.hpp"
#include "pdc/core/idle_strategy.hpp"
#include "pdc/core/published_counter.hpp"
#include "pdc/plugin.h"
#include "pdc/proto/envelope.hpp"
#include "runtime/attachment_source.hpp"
#include "runtime/doorbell.hpp"
#include "runtime/message_queue.hpp"
#include "runtime/reply_address.hpp"

namespace pdc::daemon {
class agent;
class kernel;
}  // namespace pdc::daemon

/// The plugin ABI's opaque handle: who is calling. One per agent, and one
/// per kernel for create() and destroy() (agent null there).
struct pdc_kernel_ctx {
  pdc::daemon::kernel* kernel = nullptr;
  pdc::daemon::agent* agent = nullptr;
};

namespace pdc::daemon {

/// What an agent has counted since the kernel launched (any thread reads).
struct agent_counters {
  published_counter messages_in;     ///< Messages taken from rings and the inbox.
  published_counter processed;       ///< Handler invocations.
  published_counter messages_out;    ///< Replies, emits and sends delivered.
  published_counter dropped;         ///< Outputs refused by a full queue, and sheds (drop_oldest).
  published_counter dead_letters;    ///< Replies whose sender was gone.
  published_counter handler_errors;  ///< Negative handler returns (and exceptions).
  published_counter malformed;       ///< Records whose envelope was malformed (refused, not handled).
};

class agent {
 public:
  /// Records taken from one ring before moving to the next (fairness).
  static constexpr std::size_t k_ring_batch = 32;
  /// Replies of a non-blocking kernel published with one commit at most (the
  /// rest of a ring batch waits for no more than this many handlers).
  static constexpr std::size_t k_reply_batch = 8;

  /// `bell` (owned by the executor or runner) is where the agent sleeps;
  /// `idle` is how its loop-style receive() waits.
  agent(kernel& k, std::uint32_t index, doorbell& bell, const idle_strategy& idle);
  ~agent();
  agent(const agent&) = delete;
  agent& operator=(const agent&) = delete;

  [[nodiscard]] kernel& owner() const noexcept { return *kernel_; }
  [[nodiscard]] std::uint32_t index() const noexcept { return index_; }
  [[nodiscard]] pdc_kernel_ctx* ctx() noexcept { return &ctx_; }
  [[nodiscard]] doorbell& bell() noexcept { return *bell_; }
  [[nodiscard]] const agent_counters& counters() const noexcept { return counters_; }

  // ---- control thread ----------------------------------------------------------
  /// Hands an attachment over; the agent starts serving it at its next
  /// do_work. False (nothing changed) when its doorbell cannot watch the
  /// attachment's wake-up descriptor.
  [[nodiscard]] bool adopt(std::shared_ptr<attachment_source> src);
  /// Something changed for the agent (work queued, gate moved, stopping):
  /// rings the doorbell if it sleeps. Any thread.
  void wake() noexcept;
  /// Detach: the agent lets go of the attachment at its next do_work.
  void release(std::uint64_t attachment_id) noexcept;

  // ---- the agent's thread ----------------------------------------------------------
  /// Handles up to `budget` messages from the inbox (first agent only) and
  /// its rings, round-robin, at most k_ring_batch per ring per turn; serves
  /// drop_oldest sheds even while the gate is closed. Returns the work done.
  std::size_t do_work(std::size_t budget);
  /// True when do_work would find something (the agent must not park).
  [[nodiscard]] bool has_work();
  /// Idle protocol: after the runner marked its doorbell parked, marks every
  /// ring parked and takes a last look; false when work arrived (do not
  /// sleep; already undone). Pair a true result with unpark() after waking.
  bool prepare_park();
  void unpark() noexcept;
  /// True once the kernel halted, or is stopping and this agent has nothing left.
  [[nodiscard]] bool finished();
  /// The clock of the last batch (0 before any): executors use it to pace turns.
  [[nodiscard]] std::uint64_t last_clock_ns() const noexcept { return clock_ns_; }
  /// Loop style: runs the plugin's run() until it returns.
  void run_loop();

  // ---- host calls (from a handler on the agent's thread) ------------------------
  int receive(pdc_message* out, std::int64_t timeout_ns);
  int reply(const pdc_message* request, std::span<const std::byte> data, std::uint32_t type_id);
  int emit(std::span<const std::byte> data, std::uint32_t type_id);
  int send_to(const char* target, std::span<const std::byte> data, std::uint32_t type_id);
  /// Loop style: true once run() must return.
  [[nodiscard]] bool should_terminate();

  // ---- any thread ------------------------------------------------------------------
  /// Adds the agent's histograms to `queue_wait` and `processing`.
  void collect_latency(histogram& queue_wait, histogram& processing) const;

 private:
  // The message being handled: where its answer goes, and whether it got one.
  struct current_message {
    bool active = false;
    std::uint64_t message_id = 0;
    std::uint64_t token = 0;
    reply_address from;
    attachment_source* source = nullptr;  // when it came from a ring
    bool answered = false;
  };

  enum class record : std::uint8_t { none, message, malformed };

  void apply_changes();
  std::size_t serve_sheds();
  std::size_t shed(attachment_source& src, std::uint64_t asked);
  std::size_t drain_inbox(std::size_t budget);
  std::size_t drain_rings(std::size_t budget);
  std::size_t drain_ring(attachment_source& src, std::size_t limit);
  void note_queue_wait(std::uint64_t wait_ns) noexcept;
  void flush_replies() noexcept;
  void flush_queue_wait() noexcept;
  /// Reads the next record of `src`: a message (envelope and payload, still
  /// to be released), a malformed record (counted and released already), or
  /// none (empty; or closed or corrupt, and `src` is then broken).
  record next_record(attachment_source& src, envelope& env, std::span<const std::byte>& payload);
  std::span<const std::byte> private_copy(std::span<const std::byte> payload);
  void note_malformed(attachment_source& src);
  void note_broken(attachment_source& src, const char* why);
  void begin_message(std::uint64_t message_id, std::uint64_t token, const reply_address& from,
                     attachment_source* source) noexcept;
  void invoke(const pdc_message& msg, std::uint64_t sent_ns);
  void handler_failed(const pdc_message& msg, int rc);
  std::uint64_t clock() noexcept;

  // Output path.
  envelope output_envelope(std::uint32_t len, std::uint32_t type_id, std::uint64_t correlation_id,
                           std::uint64_t reply_to, std::uint16_t flags) noexcept;
  errc deliver_reply(const reply_address& to, attachment_source* source, const envelope& env,
                     std::span<const std::byte> payload);
  int dead_letter(const envelope& env, std::span<const std::byte> payload);
  int publish_output(const envelope& env, std::span<const std::byte> payload);
  void fail_request(const reply_address& to, attachment_source* source, std::uint64_t message_id, errc code,
                    const std::string& why);
  attachment_source* find_source(std::uint64_t attachment_id) noexcept;

  // Loop style.
  void finish_held() noexcept;
  bool take_for_receive(pdc_message& out);

  kernel* kernel_;
  const std::uint32_t index_;
  doorbell* bell_;
  idle_strategy idle_;
  pdc_kernel_ctx ctx_;
  const bool serves_inbox_;
  const bool latency_metrics_;
  const bool may_defer_commits_;
  const bool copies_payloads_;  // unless the type reads payloads as volatile

  // ---- agent thread ----
  std::vector<attachment_source*> order_;  // round-robin order
  std::unordered_map<std::uint64_t, std::shared_ptr<attachment_source>> sources_;
  std::size_t next_source_ = 0;
  current_message current_;
  std::uint64_t next_output_id_;
  std::uint64_t clock_ns_ = 0;
  bool clock_valid_ = false;
  bool defer_commits_ = false;               // inside do_work, for a non-blocking kernel
  std::vector<attachment_source*> pending_;  // reply rings with uncommitted replies
  std::size_t pending_replies_ = 0;
  std::uint64_t wait_value_ = 0;  // a run of equal queue waits not yet recorded
  std::uint64_t wait_run_ = 0;
  // Loop style: the message receive() returned last, kept until the next receive.
  std::optional<queued_message> held_inbox_;
  std::vector<std::byte> held_bytes_;
  std::vector<std::byte> payload_copy_;  // reactive style: the handler's private copy
  std::uint64_t held_since_ns_ = 0;

  // ---- handed over by the control thread ----
  std::mutex changes_mu_;
  std::vector<std::shared_ptr<attachment_source>> incoming_;  // guarded by changes_mu_
  std::atomic<bool> changed_{false};

  // ---- published (agent writes, anyone reads) ----
  agent_counters counters_;
  published_histogram queue_wait_;
  published_histogram processing_;
};

}  // namespace pdc::daemon
