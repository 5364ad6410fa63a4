#include "runtime/outputs.hpp"

#include <algorithm>

namespace pdc::daemon {

bool outputs::subscribe(std::uint64_t session_id) {
  auto next = *snapshot();
  if (std::find(next.sessions.begin(), next.sessions.end(), session_id) != next.sessions.end()) return false;
  next.sessions.push_back(session_id);
  publish(std::move(next));
  return true;
}

bool outputs::unsubscribe(std::uint64_t session_id) {
  auto next = *snapshot();
  if (std::erase(next.sessions, session_id) == 0) return false;
  publish(std::move(next));
  return true;
}

bool outputs::link(std::string kernel_id) {
  auto next = *snapshot();
  if (std::find(next.kernels.begin(), next.kernels.end(), kernel_id) != next.kernels.end()) return false;
  next.kernels.push_back(std::move(kernel_id));
  std::sort(next.kernels.begin(), next.kernels.end());
  publish(std::move(next));
  return true;
}

bool outputs::unlink(std::string_view kernel_id) {
  auto next = *snapshot();
  if (std::erase(next.kernels, kernel_id) == 0) return false;
  publish(std::move(next));
  return true;
}

std::shared_ptr<const outputs::targets> outputs::snapshot() const {
  std::lock_guard lock(mu_);
  return current_;
}

void outputs::publish(targets next) {
  const bool any = !next.sessions.empty() || !next.kernels.empty();
  auto fresh = std::make_shared<const targets>(std::move(next));
  {
    std::lock_guard lock(mu_);
    current_ = std::move(fresh);
  }
  any_.store(any, std::memory_order_release);
  if (changed_) changed_();
}

}  // namespace pdc::daemon
