// What a kernel needs from the daemon around it: the sessions it answers,
// the kernels it sends to, the log, and the control thread. The registry
// implements it; unit tests use a fake that runs everything on the test thread.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "pdc/core/errc.hpp"
#include "pdc/proto/envelope.hpp"

namespace pdc::daemon {

class kernel;

/// What a delivery to a session is: it decides what a gone session means.
enum class delivery : std::uint8_t {
  reply,   ///< An answer to the session's request: a gone session makes it a dead letter.
  output,  ///< An output to a subscriber: a gone session drops it.
  error,   ///< An error reply (the failure it reports is counted already).
};

class kernel_host {
 public:
  virtual ~kernel_host() = default;
  /// Sends envelope+payload to session `session_id` as a Delivery from
  /// `from`. Any thread: off the control thread it is copied and handed over.
  /// The outcome is counted on the control thread (kernel::delivered), the
  /// same way on every tier; the result is ok, or full when the hand-over to
  /// the control thread has too many bytes in flight (nothing was sent).
  virtual errc deliver(std::uint64_t session_id, kernel& from, delivery what, const envelope& env,
                       std::span<const std::byte> payload) = 0;
  /// Queues a message into kernel `to`'s inbox, by its policy (any thread):
  /// ok, not_found, full (block policy: a kernel never waits), rejected,
  /// dropped, terminated or message_too_large.
  virtual errc route(kernel& from, std::string_view to, const envelope& env, std::span<const std::byte> payload) = 0;
  /// The handler of an inbox message that carried `settle_id` returned
  /// (the kernel's agent thread). Default: nothing to do.
  virtual void settle(std::uint64_t settle_id) { (void)settle_id; }
  /// Logs one line attributed to the kernel (any thread).
  virtual void log(const kernel& k, int level, std::string_view text) = 0;
  /// Runs `fn` on the control thread, soon (any thread).
  virtual void post(std::function<void()> fn) = 0;
  /// Runs `fn` on the control thread after `delay_ns` (control thread).
  virtual void post_after(std::uint64_t delay_ns, std::function<void()> fn) = 0;
  /// True when called on the control thread.
  [[nodiscard]] virtual bool on_control_thread() const noexcept = 0;
};

}  // namespace pdc::daemon
