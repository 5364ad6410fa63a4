#include "worker.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include "pdc/core/wait.hpp"

namespace pdc::daemon {

namespace {
thread_local worker* t_current = nullptr;
}  // namespace

worker* current_worker() noexcept {
  return t_current;
}
worker* set_current_worker(worker* w) noexcept {
  return std::exchange(t_current, w);
}

worker::worker(kernel& k, std::size_t worker_index, bool serves_socket_queue)
    : owner(k), index(worker_index), serves_socket(serves_socket_queue) {
  doorbell = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

worker::~worker() {
  if (doorbell >= 0) ::close(doorbell);
}

void worker::add(std::shared_ptr<attachment_source> src) {
  {
    std::lock_guard lock(changes_mu);
    incoming.push_back(std::move(src));
  }
  // SYNC: sources_changed — seq_cst: a release for apply_changes()'s acquire
  // (the mutex orders `incoming` itself), and the store half of the Dekker
  // pair with the worker's park (worker_parked, below).
  changed.store(true, std::memory_order_seq_cst);
  wake();
}

void worker::apply_changes() {
  // SYNC: sources_changed — acquire pairs with the release in add()/detach.
  if (!changed.exchange(false, std::memory_order_acquire)) return;
  {
    std::lock_guard lock(changes_mu);
    for (auto& s : incoming) sources.push_back(std::move(s));
    incoming.clear();
  }
  std::erase_if(sources, [](const std::shared_ptr<attachment_source>& s) {
    // Relaxed would do (the flag carries no data), acquire keeps TSan's model simple.
    if (!s->detached.load(std::memory_order_acquire) && !s->broken) return false;
    s->replies.close(1);
    s->requests.close(1);
    return true;
  });
  if (next_source >= sources.size()) next_source = 0;
}

void worker::wake() noexcept {
  // SYNC: worker_parked — seq_cst load after the waker's seq_cst store of
  // the work it announces; pairs with the worker's seq_cst store of `parked`
  // before its last look (Dekker), so one of the two sees the other.
  if (parked.load(std::memory_order_seq_cst) != 0) pdc::detail::eventfd_signal(doorbell);
}

void worker::record(std::uint64_t wait_ns, std::uint64_t proc_ns) {
  std::lock_guard lock(metrics_mu);
  queue_wait.record(wait_ns);
  processing.record(proc_ns);
}

}  // namespace pdc::daemon
