#include "cli.hpp"

#include <ostream>
#include <string>

#include "commands.hpp"
#include "pdc/core/socket_path.hpp"

#ifndef PDC_VERSION
#define PDC_VERSION "unknown"
#endif

namespace pdc::ctl {

namespace {
int report(std::ostream& err, std::string message, int code) {
  message = message.substr(0, message.find('\n'));
  err << "pdcctl: error: " << message << '\n';
  return code;
}
}  // namespace

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"Control pdcd: plugins, kernels, messages and metrics.", "pdcctl"};
  app.set_version_flag("--version", PDC_VERSION);
  app.fallthrough();  // global options are accepted after the subcommand too
  app.require_subcommand(1);
  std::string socket_flag;
  bool json = false;
  app.add_option("--socket", socket_flag, "pdcd control socket (default: $PDC_SOCKET, else the standard path)");
  app.add_flag("--json", json, "Print JSON instead of tables and text");
  app.footer("Exit codes: 0 ok, 1 refused or failed by pdcd, 2 usage error, 3 pdcd unreachable.");
  command_set commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e, out, err);  // --help, --version
    return report(err, e.what(), exit_usage);
  }
  if (auto prepared = commands.prepare(); !prepared) return report(err, prepared.err().what(), exit_usage);

  connect_options options;
  options.client_name = "pdcctl";
  if (commands.follows()) {
    // Following a stream outlives a pdcd restart: wait for it, say so on stderr.
    options.reconnect.enabled = true;
    options.reconnect.wait = true;
    options.reconnect.on_event = [&err](const connection_event& e) {
      if (e.change == connection_change::disconnected) {
        err << "pdcctl: " << e.reason.what() << "; reconnecting" << std::endl;
        return;
      }
      err << "pdcctl: reconnected to pdcd after " << e.attempts << (e.attempts == 1 ? " attempt" : " attempts")
          << std::endl;
      for (const auto& k : e.lost_subscriptions)
        err << "pdcctl: kernel " << k << " is gone; not following it" << std::endl;
    };
  }
  auto session = client::connect(resolve_client_socket_path(socket_flag), options);
  if (!session) return report(err, session.err().what(), exit_unreachable);
  session->set_call_timeout_ns(commands.call_timeout_ns());

  context ctx{*session, json, out};
  auto done = commands.run(ctx);
  if (!done)
    return report(
        err, done.err().what(),
        done.code() == errc::peer_gone || done.code() == errc::daemon_stopping ? exit_unreachable : exit_failed);
  return exit_ok;
}

}  // namespace pdc::ctl
