// Tier 4 (cuda): the kernel is one persistent launch of its type's device
// loop (docs/cuda.md). The executor owns what the loop runs on: the control
// block and the mailbox table in mapped host memory, the cursors in device
// memory, the stream; it registers each attachment's segment as mapped
// memory and puts its rings into the table, and watches the launch.
//
// All of it runs on the control thread: a tick (every millisecond while
// the table changes or the kernel stops, every 10 ms otherwise) applies
// table changes the device acknowledged, notices clients that closed or
// broke their rings, and a stream that failed or ended. The device's
// words are read with acquire loads and the host's written with release
// stores, one writer per word (pdc/cuda.cuh).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "pdc/plugin.h"
#include "runtime/kernel.hpp"
#include "tiers/cuda_device.hpp"
#include "tiers/executor.hpp"

namespace pdc::daemon {

class cuda_executor final : public executor {
 public:
  /// How long terminate waits for the loop to stop, then for its stream.
  static constexpr std::uint64_t k_stop_timeout_ns = 2'000'000'000;
  /// How long a launched loop may take to show its first heartbeat before
  /// the kernel's error says it has not started.
  static constexpr std::uint64_t k_start_timeout_ns = 5'000'000'000;

  /// Serves `k` with `entry`'s loop on `dev` (the timeouts: tests shorten them).
  cuda_executor(kernel& k, std::shared_ptr<cuda_device> dev, const pdc_cuda_kernel& entry,
                std::uint64_t stop_timeout_ns = k_stop_timeout_ns, std::uint64_t start_timeout_ns = k_start_timeout_ns);
  ~cuda_executor() override;
  cuda_executor(const cuda_executor&) = delete;
  cuda_executor& operator=(const cuda_executor&) = delete;

  result<void> start() override;
  void notify() noexcept override;
  void stop(std::function<void()> stopped) override;
  result<void> adopt(std::shared_ptr<attachment_source> src) override;
  void release(std::uint64_t attachment_id) noexcept override;
  void collect(kernel_snapshot& s) const override;
  [[nodiscard]] result<void> serviceable() const override;

  /// The run state the device loop last acted on (tests wait for it).
  [[nodiscard]] std::uint32_t device_state_seen() const noexcept;

  [[nodiscard]] bool state_still_in_use() const noexcept override { return loop_may_run_; }

 private:
  enum class phase : std::uint8_t { free, joining, live, leaving };
  struct slot {
    phase at = phase::free;
    bool written = false;          // the table holds what `at` says
    std::uint64_t generation = 0;  // the generation that wrote it
    std::shared_ptr<attachment_source> src;
    void* host_base = nullptr;  // the registered segment
    std::uint64_t device_base = 0;
    std::uint64_t waker = 0;  // device_waker handle (0: none)
  };
  enum class stop_phase : std::uint8_t { running, draining, terminating, done };

  void schedule_tick();
  void tick();
  void apply_run_state() noexcept;
  void refuse_inbox();
  void check_health();
  void sync_table();
  void watch_clients();
  void advance_stop();
  void finish(bool clean);
  void fail(const std::string& why, bool device_fault);
  void let_go(slot& s, bool unregister) noexcept;
  void free_launch() noexcept;  // what start() allocated
  void stop_waking(slot& s) noexcept;
  [[nodiscard]] std::uint64_t table_seen() const noexcept;
  [[nodiscard]] bool requests_drained() const noexcept;

  kernel& k_;
  std::shared_ptr<cuda_device> dev_;
  pdc_cuda_kernel entry_;
  mapped_block control_;
  mapped_block table_;
  std::uint64_t cursors_ = 0;
  void* stream_ = nullptr;
  bool launched_ = false;
  std::array<slot, PDC_CUDA_MAX_MAILBOXES> slots_{};
  std::uint64_t generation_ = 0;  // the table generation last published
  stop_phase stop_ = stop_phase::running;
  std::uint64_t stop_deadline_ns_ = 0;
  std::function<void()> stopped_;
  bool failed_ = false;
  bool leaked_ = false;        // a loop that never stopped (or a faulted context) keeps its memory
  bool loop_may_run_ = false;  // a loop that did not stop when told: it may still use the plugin's state
  std::uint64_t stop_timeout_ns_;
  std::uint64_t start_timeout_ns_;
  std::uint64_t launched_ns_ = 0;
  bool start_reported_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::atomic<bool> posted_{false};  // a notify() from another thread is on its way
};

}  // namespace pdc::daemon
