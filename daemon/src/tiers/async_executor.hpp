// Tier 1 (async): kernels run their on_message handler on the daemon's Asio
// event loop, shared by many kernels, in batches so one busy kernel cannot
// starve the others or the control socket. Attachments wake the loop through
// the worker's doorbell eventfd, registered with the loop, after a short
// adaptive spin.
#pragma once

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <memory>

#include "tiers/executor.hpp"
#include "worker.hpp"

namespace pdc::daemon {

class kernel;

class async_executor final : public executor {
 public:
  /// Messages handled per turn before yielding to the loop's other work.
  static constexpr std::size_t k_batch = 64;

  async_executor(asio::io_context& io, const std::shared_ptr<kernel>& k);
  ~async_executor() override;
  void start() override;
  void notify() override;
  void drain_and_stop(deadline until) override;
  [[nodiscard]] std::size_t worker_count() const noexcept override { return 1; }
  worker& worker_at(std::size_t) noexcept override { return worker_; }

 private:
  void run_batch();
  void post_batch();
  void arm_doorbell();
  void settle();

  asio::io_context& io_;
  std::weak_ptr<kernel> kernel_;
  worker worker_;
  asio::posix::stream_descriptor bell_;
  bool scheduled_ = false;
  bool armed_ = false;
  bool stopped_ = false;
  // Adaptive spin before parking: grows while spinning finds work, shrinks when not.
  std::uint64_t spin_ns_ = 2000;
};

}  // namespace pdc::daemon
