// pdcctl's commands: their options (registered on a CLI11 app), local input
// checks, and what each one asks the daemon and prints.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "pdc/client.hpp"
#include "top.hpp"

namespace pdc::ctl {

/// What a command runs against.
struct context {
  client& session;    ///< Connected session.
  bool json = false;  ///< --json: print JSON instead of text.
  std::ostream& out;  ///< Where results go (stdout).
};

/// Every subcommand with its option storage. Register on an app, parse, then
/// prepare() (usage errors: invalid local input) and run(). Not thread-safe.
class command_set {
 public:
  /// Adds the subcommands to `app`; `app` must not outlive this object.
  explicit command_set(CLI::App& app);
  command_set(const command_set&) = delete;
  command_set& operator=(const command_set&) = delete;

  /// After parsing: turns the chosen command's local inputs into values
  /// (payload file/hex/int64, enum names). An error here is a usage error.
  result<void> prepare();
  /// Runs the chosen command; the error is the daemon's or the transport's.
  result<void> run(context& ctx);
  /// Upper bound for the chosen command's control calls, ns.
  [[nodiscard]] std::int64_t call_timeout_ns() const noexcept;
  /// Whether the chosen command follows a stream (recv --follow): its client
  /// reconnects when pdcd restarts, and waits for it.
  [[nodiscard]] bool follows() const noexcept;

 private:
  enum class which : std::uint8_t {
    none,
    plugin_load,
    plugin_list,
    plugin_unload,
    launch,
    activate,
    deactivate,
    terminate,
    list,
    status,
    send,
    recv,
    top,
    metrics,
    connect,
    disconnect,
    pools,
  };

  void add_plugin_commands(CLI::App& app);
  void add_lifecycle_commands(CLI::App& app);
  void add_query_commands(CLI::App& app);
  void add_message_commands(CLI::App& app);
  CLI::App* leaf(CLI::App& parent, const char* name, const char* description, which w);

  result<void> run_plugin(context& ctx);
  result<void> run_lifecycle(context& ctx);
  result<void> run_query(context& ctx);
  result<void> run_send(context& ctx);
  result<void> run_recv(context& ctx);
  result<void> follow(context& ctx);
  result<void> print_done(context& ctx, const std::string& verb, const std::string& noun, const std::string& id);
  void print_message(context& ctx, const received_message& m) const;

  which chosen_ = which::none;
  std::string target_;     // PATH, NAME, TYPE or ID: the positional argument
  std::string to_kernel_;  // connect / disconnect: the second kernel
  std::string kernel_id_;
  std::string tier_name_ = "async";
  std::string backpressure_name_ = "block";
  std::string isolation_name_ = "none";
  launch_options launch_;
  bool drop_ = false;
  std::uint32_t terminate_timeout_ms_ = 5000;
  bool prometheus_ = false;
  bool no_latency_metrics_ = false;
  // send / recv
  std::string data_text_;
  std::string data_file_;
  std::string data_hex_;
  std::int64_t data_int64_ = 0;
  CLI::Option* data_opt_ = nullptr;
  CLI::Option* file_opt_ = nullptr;
  CLI::Option* hex_opt_ = nullptr;
  CLI::Option* int64_opt_ = nullptr;
  bool wait_reply_ = false;
  std::int64_t wait_timeout_ms_ = 5000;
  bool follow_ = false;
  top_options top_;
  std::string top_sort_ = "in";
  CLI::Option* recv_timeout_opt_ = nullptr;
  send_options send_opts_;
  std::uint32_t priority_ = k_default_priority;
  std::vector<std::byte> payload_;
};

/// Reads a whole file; errc::invalid_argument with the reason when it cannot.
result<std::vector<std::byte>> read_file(const std::string& path);

}  // namespace pdc::ctl
