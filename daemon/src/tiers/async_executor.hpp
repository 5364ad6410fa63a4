// Tier 1 (async): a kernel's one agent runs on the daemon's Asio event loop,
// shared by every tier-1 kernel and the control socket. A turn runs batches
// until one finds nothing, spins there by the adaptive idle strategy
// (0.5-20 us by default), and parks by registering the agent's doorbell with
// the loop. A turn yields to the loop after k_turn_batches batches, so one
// busy kernel cannot starve the others or the sockets.
#pragma once

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>

#include "pdc/core/idle_strategy.hpp"
#include "runtime/doorbell.hpp"
#include "tiers/executor.hpp"

namespace pdc::daemon {

class kernel;
class kernel_host;

class async_executor final : public executor {
 public:
  /// Messages handled per batch, and batches per turn before yielding to the loop.
  static constexpr std::size_t k_batch = 64;
  static constexpr std::size_t k_turn_batches = 32;

  async_executor(kernel& k, asio::io_context& io, kernel_host& host, const idle_strategy& idle);
  ~async_executor() override;

  result<void> start() override;
  void notify() noexcept override;
  void stop(std::function<void()> stopped) override;

 private:
  void run_turn();
  void post_turn();
  void park();
  void arm();
  void retire();

  asio::io_context& io_;
  kernel_host& host_;
  doorbell bell_;
  asio::posix::stream_descriptor bell_wait_;
  idler idler_;
  bool scheduled_ = false;  // a turn is posted
  bool armed_ = false;      // an async wait on the doorbell is pending
  bool parked_ = false;     // the agent's idle protocol said yes
  bool stopping_ = false;
  bool retired_ = false;
  std::function<void()> stopped_;
  // Loop handlers check it, so none outlives the executor.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace pdc::daemon
