// The inside of pdc-kernel-host: one kernel, its executor and its plugin, in
// a process of its own (docs/isolation.md). pdcd starts it with its end of
// the host link at a known descriptor and a Start frame; from then on the
// host serves the attachments pdcd hands it, takes socket-path messages
// from the link, and sends back what must leave the process (deliveries to
// sessions, sends to other kernels, log lines, its counters).
//
// Threads: the host's control thread runs the io_context (the link, the
// lifecycle, the async tier's agents); deliver/route/log come from any agent.
#pragma once

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <memory>
#include <string>
#include <thread>

#include "isolation/link.hpp"
#include "plugins/plugin_loader.hpp"
#include "runtime/kernel.hpp"
#include "runtime/kernel_host.hpp"
#include "tiers/thread_pool.hpp"
#include "tiers/tier_table.hpp"

namespace pdc::daemon {

class kernel_host_process final : public kernel_host {
 public:
  /// `link_fd`: the host's end of the link (taken).
  explicit kernel_host_process(int link_fd);
  ~kernel_host_process() override;
  kernel_host_process(const kernel_host_process&) = delete;
  kernel_host_process& operator=(const kernel_host_process&) = delete;

  /// Serves until the kernel terminated or pdcd went away; the exit code.
  int run();

  // ---- kernel_host ----
  errc deliver(std::uint64_t session_id, kernel& from, delivery what, const envelope& env,
               std::span<const std::byte> payload) override;
  errc route(kernel& from, std::string_view to, const envelope& env, std::span<const std::byte> payload) override;
  void log(const kernel& k, int level, std::string_view text) override;
  void post(std::function<void()> fn) override;
  void post_after(std::uint64_t delay_ns, std::function<void()> fn) override;
  [[nodiscard]] bool on_control_thread() const noexcept override;

 private:
  void read_link();
  void on_packet(link_packet& p);
  void start(const host::Start& s);
  void fail(errc code, const std::string& why);
  void on_message(const host::Message& m);
  void on_attach(const host::Attach& a, link_packet& p);
  void send_stats();
  void schedule_stats();
  void finish(int code);
  errc send_frame(host::Body type, flatbuffers::FlatBufferBuilder& b, flatbuffers::Offset<void> body);
  void orphaned();
  void schedule_reconnect();
  bool reconnect();

  asio::io_context io_;
  host_link link_;
  asio::posix::stream_descriptor watch_;
  asio::steady_timer stats_timer_;
  plugin_loader loader_;
  pool_registry pools_;
  executor_env env_;
  std::shared_ptr<kernel> kernel_;
  std::thread::id control_thread_;
  std::uint32_t stats_interval_ms_ = 100;
  int exit_code_ = 0;
  bool started_ = false;
  host_start start_;       // what pdcd started us with (sent again to adopt us)
  bool adopting_ = false;  // waiting for a new pdcd's Adopted or Refused
  std::uint32_t reconnect_delay_ms_ = 50;
  std::uint64_t orphaned_ns_ = 0;
};

}  // namespace pdc::daemon
