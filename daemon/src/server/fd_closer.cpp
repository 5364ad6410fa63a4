#include "server/fd_closer.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <system_error>
#include <thread>

namespace pdc::daemon {

fd_closer::fd_closer() {
  try {
    std::thread t([st = state_] { run(st); });
    pthread_setname_np(t.native_handle(), "pdc:fd-closer");
    t.detach();
    threaded_ = true;
  } catch (const std::system_error& e) {
    spdlog::warn("cannot start the descriptor closer thread ({}); descriptors clients send are closed inline",
                 e.what());
  }
}

fd_closer::~fd_closer() {
  std::lock_guard lock(state_->mu);
  state_->stop = true;
  state_->cv.notify_one();
}

void fd_closer::close_later(std::vector<int> fds) {
  if (fds.empty()) return;
  if (!threaded_) {
    for (int fd : fds) ::close(fd);
    return;
  }
  std::lock_guard lock(state_->mu);
  state_->queue.insert(state_->queue.end(), fds.begin(), fds.end());
  state_->cv.notify_one();
}

std::size_t fd_closer::pending() const {
  std::lock_guard lock(state_->mu);
  return state_->queue.size() + state_->closing;
}

void fd_closer::run(const std::shared_ptr<shared_state>& st) {
  std::unique_lock lock(st->mu);
  for (;;) {
    st->cv.wait(lock, [&] { return st->stop || !st->queue.empty(); });
    if (st->queue.empty()) return;  // stopping, nothing left
    std::vector<int> batch;
    batch.swap(st->queue);
    st->closing = batch.size();
    lock.unlock();
    for (int fd : batch) ::close(fd);
    lock.lock();
    st->closing = 0;
  }
}

}  // namespace pdc::daemon
