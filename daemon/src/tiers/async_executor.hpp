// Tier 1 (async): kernels run their on_message handler on the daemon's Asio
// event loop, shared by many kernels, in batches so one busy kernel cannot
// starve the others or the control socket.
#pragma once

#include <asio/io_context.hpp>
#include <memory>

#include "tiers/executor.hpp"

namespace pdc::daemon {

class kernel;

class async_executor final : public executor {
 public:
  /// Messages handled per turn before yielding to the loop's other work.
  static constexpr std::size_t k_batch = 64;

  async_executor(asio::io_context& io, std::weak_ptr<kernel> k) : io_(io), kernel_(std::move(k)) {}
  void notify() override;
  void stop() override { stopped_ = true; }

 private:
  void run_batch();
  void post_batch();

  asio::io_context& io_;
  std::weak_ptr<kernel> kernel_;
  bool scheduled_ = false;
  bool stopped_ = false;
};

}  // namespace pdc::daemon
