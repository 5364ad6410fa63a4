// The executor of a process-isolated kernel (isolation = process): its
// agents and plugin run in a pdc-kernel-host process that this executor
// starts, feeds and supervises (docs/isolation.md). pdcd keeps the control
// plane (lifecycle, inbox, attachments' segments, subscriptions) and hands
// the host each attachment's segment, so a client's rings go straight to the
// host. The host's death is seen at once (a pidfd on the event loop): the
// requests it had are answered kernel_restarted, and a new host starts after
// a back-off, within a restart budget; past it the kernel is failed.
//
// Threads: everything here runs on pdcd's control thread (notify() posts
// there from other threads).
#pragma once

#include <sys/types.h>

#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "isolation/link.hpp"
#include "pdc/core/histogram.hpp"
#include "runtime/launch_request.hpp"
#include "tiers/executor.hpp"
#include "tiers/tier_table.hpp"

namespace pdc::daemon {

/// What a host reported last (its counters since it started).
struct host_stats {
  std::uint64_t messages_in = 0, processed = 0, messages_out = 0, dropped = 0, dead_letters = 0;
  std::uint64_t handler_errors = 0, malformed = 0, inbox_taken = 0;
  std::uint32_t workers = 0;
  histogram queue_wait, processing;
  void add(const host_stats& o) noexcept;
};

class process_executor final : public executor {
 public:
  process_executor(kernel& k, const launch_request& req, const executor_env& env, const isolation_config& cfg,
                   std::string plugin_path);
  ~process_executor() override;

  result<void> start() override;
  void notify() noexcept override;
  void stop(std::function<void()> stopped) override;
  [[nodiscard]] bool runs_plugin() const noexcept override { return false; }
  [[nodiscard]] result<void> adopt(std::shared_ptr<attachment_source> src) override;
  void release(std::uint64_t attachment_id) noexcept override;
  void collect(kernel_snapshot& s) const override;
  void targets_changed() override;
  [[nodiscard]] result<void> serviceable() const override;

  /// Adoption: a host an earlier pdcd started, that reconnected. start() then
  /// only watches it, and attachments handed over stay unannounced (the host
  /// serves them already) until adopted() tells the host it belongs here.
  result<void> take_over(host_link link, pid_t pid, kernel_state host_state);
  void adopted();

 private:
  enum class health : std::uint8_t { starting, running, restarting, failed, stopped };

  result<void> spawn();
  void watch();
  void on_link_readable();
  void on_packet(const link_packet& p);
  void on_host_exit();
  void host_ready(std::int32_t pid);
  void host_lost(const std::string& how);
  void fail_in_flight();
  void schedule_restart();
  void restart_now();
  void become_failed(const std::string& why);
  void sync();
  void pump();
  void send_packet(std::vector<std::uint8_t> bytes, std::vector<int> fds = {});
  void flush_outbox();
  void send_attach(const attachment_source& src);
  void send_targets();
  void check_progress();
  void kill_host() noexcept;
  void fail_waiting(errc code, const std::string& why);
  [[nodiscard]] bool work_waits() const;
  [[nodiscard]] std::uint32_t backoff_ms() const noexcept;

  kernel& k_;
  const launch_request req_;
  executor_env env_;
  const isolation_config cfg_;
  const std::string plugin_path_;
  std::string host_path_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // handlers check it first

  health health_ = health::starting;
  bool adopting_ = false;      // take_over() until adopted()
  bool adopted_child_ = true;  // false for an adopted host: it is not our child
  host_link link_;
  int pidfd_ = -1;
  pid_t pid_ = 0;
  std::unique_ptr<asio::posix::stream_descriptor> link_watch_;
  std::unique_ptr<asio::posix::stream_descriptor> pid_watch_;
  asio::steady_timer restart_timer_;
  asio::steady_timer progress_timer_;
  std::uint64_t started_ns_ = 0;  // the current host's spawn

  // What the current host was told.
  kernel_state told_state_ = kernel_state::launched;
  bool told_terminate_ = false;
  bool told_halt_ = false;
  bool kill_armed_ = false;
  std::function<void()> stopped_;

  // Outgoing packets the socket had no room for, in order.
  struct packet {
    std::vector<std::uint8_t> bytes;
    std::vector<int> fds;  // owned: closed once sent or dropped
  };
  std::deque<packet> outbox_;
  bool write_waiting_ = false;

  std::map<std::uint64_t, std::shared_ptr<attachment_source>> attachments_;
  // Socket-path messages forwarded to the current host and not yet answered
  // (sender session, message id), oldest first; bounded by the capacity.
  std::deque<std::pair<std::uint64_t, std::uint64_t>> awaiting_;
  std::uint64_t forwarded_ = 0;  // socket-path messages sent to the current host

  host_stats last_;     // the current host's last report
  host_stats retired_;  // the sum of the hosts before it
  std::string host_error_;
  std::uint64_t last_processed_ = 0;
  std::uint64_t progress_ns_ = 0;  // when the host last reported progress (or started)
  std::uint64_t stats_ns_ = 0;     // when it last reported at all

  std::uint32_t restarts_ = 0;
  std::deque<std::uint64_t> restart_times_;  // within the window
  std::string last_exit_;
  std::uint64_t lost_ns_ = 0;  // when the last host was found dead
  std::uint64_t recovery_ns_ = 0;
};

/// The tier's agent rule and a process executor for `req` (isolation = process).
result<std::unique_ptr<executor>> make_process_executor(kernel& k, const launch_request& req, const executor_env& env,
                                                        const isolation_config& cfg, const std::string& plugin_path);

/// "signal SIGSEGV (core dumped)", "exit code 3": how a waited-for child ended.
std::string describe_exit(int code, int status);

}  // namespace pdc::daemon
