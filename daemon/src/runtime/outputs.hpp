// Where a kernel's outputs go when they answer nobody: the sessions
// subscribed to it and the kernels connected after it. Changed on the control
// thread; read by agents as an immutable snapshot, so an emit never holds a
// lock while it delivers.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace pdc::daemon {

class outputs {
 public:
  struct targets {
    std::vector<std::uint64_t> sessions;  ///< Subscribed sessions.
    std::vector<std::string> kernels;     ///< Connected kernels (pdcctl connect).
  };

  outputs() : current_(std::make_shared<const targets>()) {}

  /// Control thread. Each returns false when nothing changed.
  bool subscribe(std::uint64_t session_id);
  bool unsubscribe(std::uint64_t session_id);
  bool link(std::string kernel_id);
  bool unlink(std::string_view kernel_id);

  /// `fn` runs after every change (control thread).
  void on_change(std::function<void()> fn) { changed_ = std::move(fn); }
  /// The targets now (any thread).
  [[nodiscard]] std::shared_ptr<const targets> snapshot() const;
  /// False when there is no target at all (any thread; a cheap first look).
  [[nodiscard]] bool any() const noexcept { return any_.load(std::memory_order_acquire); }

 private:
  void publish(targets next);

  mutable std::mutex mu_;
  std::shared_ptr<const targets> current_;  // guarded by mu_
  // SYNC: outputs_any — release in publish(), acquire in any(); only a hint,
  // the snapshot under mu_ is what counts.
  std::atomic<bool> any_{false};
  std::function<void()> changed_;  // control thread
};

}  // namespace pdc::daemon
