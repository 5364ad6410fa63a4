#include "tiers/async_executor.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <asio/post.hpp>

#include "runtime/kernel.hpp"

namespace pdc::daemon {

namespace {
// Turns running on this thread right now: a handler that routes to another
// tier-1 kernel must not run that kernel's turn inside its own (it is posted
// instead). A re-entrancy guard, not a "current caller".
thread_local int t_turns = 0;
}  // namespace

async_executor::async_executor(kernel& k, asio::io_context& io, kernel_host& host, const idle_strategy& idle)
    : io_(io), host_(host), bell_wait_(io), idler_(idle) {
  agents_.push_back(std::make_unique<agent>(k, 0, bell_, idle));
}

async_executor::~async_executor() {
  retired_ = true;
  asio::error_code ignored;
  bell_wait_.cancel(ignored);
  bell_wait_.close(ignored);
  agents_.clear();  // before the doorbell they leave
}

result<void> async_executor::start() {
  if (!bell_.valid()) return make_error(errc::system_error, "cannot create the kernel's doorbell eventfd");
  // The loop owns a duplicate; the agent keeps the original (clients get theirs).
  const int fd = ::fcntl(bell_.fd(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return make_error(errc::system_error, "cannot duplicate the kernel's doorbell");
  asio::error_code ec;
  bell_wait_.assign(fd, ec);
  if (ec) {
    ::close(fd);
    return make_error(errc::system_error, "cannot register the doorbell with the event loop: " + ec.message());
  }
  post_turn();
  return ok();
}

void async_executor::notify() noexcept {
  if (!host_.on_control_thread()) {
    bell_.wake();  // the loop wakes through the doorbell if the agent sleeps
    return;
  }
  if (scheduled_ || retired_) return;
  if (t_turns != 0) {
    post_turn();
    return;
  }
  // The loop is between handlers: run the turn now rather than pay a trip
  // through the loop's queue (a large part of a tier-1 round trip).
  run_turn();
}

void async_executor::post_turn() {
  if (scheduled_ || retired_) return;
  scheduled_ = true;
  asio::post(io_, [this, alive = std::weak_ptr<int>(alive_)] {
    if (!alive.lock()) return;
    scheduled_ = false;
    run_turn();
  });
}

void async_executor::run_turn() {
  if (retired_) return;
  agent& a = *agents_[0];
  if (parked_) {
    parked_ = false;
    bell_.clear_parked();
    a.unpark();
  }
  ++t_turns;
  std::size_t batches = 0;
  for (;;) {
    if (a.do_work(k_batch) != 0) {
      idler_.reset();
      if (++batches < k_turn_batches) continue;
      post_turn();  // more may wait: let the loop's other work run first
      break;
    }
    if (stopping_ && a.finished()) {
      retire();
      break;
    }
    if (idler_.next() == idle_step::poll) {
      cpu_relax();
      continue;
    }
    park();
    break;
  }
  --t_turns;
}

void async_executor::park() {
  bell_.mark_parked();
  if (!agents_[0]->prepare_park()) {
    bell_.clear_parked();
    post_turn();
    return;
  }
  parked_ = true;
  idler_.reset();
  arm();
}

void async_executor::arm() {
  if (armed_ || retired_ || !bell_wait_.is_open()) return;
  armed_ = true;
  bell_wait_.async_wait(asio::posix::stream_descriptor::wait_read,
                        [this, alive = std::weak_ptr<int>(alive_)](const asio::error_code& ec) {
                          if (!alive.lock()) return;
                          armed_ = false;
                          if (ec || retired_) return;
                          bell_.drain();
                          if (!scheduled_) run_turn();
                        });
}

void async_executor::stop(std::function<void()> stopped) {
  stopped_ = std::move(stopped);
  stopping_ = true;
  if (retired_) {
    host_.post(std::move(stopped_));
    return;
  }
  post_turn();
}

void async_executor::retire() {
  retired_ = true;
  asio::error_code ignored;
  bell_wait_.cancel(ignored);
  if (parked_) {
    parked_ = false;
    bell_.clear_parked();
    agents_[0]->unpark();
  }
  // Posted: the callback may destroy the kernel and this executor.
  if (stopped_) host_.post(std::move(stopped_));
}

}  // namespace pdc::daemon
