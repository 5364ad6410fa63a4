#include "tiers/cuda_executor.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "pdc/core/clock.hpp"
#include "pdc/cuda.cuh"
#include "tiers/tier_table.hpp"

namespace pdc::daemon {

namespace dev = pdc::cuda;

namespace {

constexpr std::uint64_t k_busy_tick_ns = 1'000'000;    // while the table changes or the kernel stops
constexpr std::uint64_t k_quiet_tick_ns = 10'000'000;  // otherwise

// The device address of a host address inside a registered block.
std::uint64_t device_address(const void* host, const void* base, std::uint64_t device_base) noexcept {
  return device_base +
         static_cast<std::uint64_t>(static_cast<const std::byte*>(host) - static_cast<const std::byte*>(base));
}

}  // namespace

cuda_device::cuda_device(std::unique_ptr<cuda_backend> backend) : backend_(std::move(backend)) {}

void cuda_device::mark_faulted(const std::string& why) {
  if (!fault_.empty()) return;
  fault_ = "GPU " + std::to_string(backend_->ordinal()) + "'s context failed (" + why +
           "); CUDA's errors of this kind are sticky, so pdcd runs no more cuda-tier kernels on it until it is "
           "restarted";
}

cuda_executor::cuda_executor(kernel& k, std::shared_ptr<cuda_device> dev, const pdc_cuda_kernel& entry,
                             std::uint64_t stop_timeout_ns, std::uint64_t start_timeout_ns)
    : k_(k),
      dev_(std::move(dev)),
      entry_(entry),
      stop_timeout_ns_(stop_timeout_ns),
      start_timeout_ns_(start_timeout_ns) {}

cuda_executor::~cuda_executor() {
  *alive_ = false;
  if (!launched_ || stop_ == stop_phase::done) return;
  // Not stopped through stop() (pdcd is going): ask the loop to end, and
  // keep what it may still use rather than free it under a running kernel.
  auto* cb = static_cast<dev::control_block*>(control_.host);
  dev::store_release(&cb->run_state, static_cast<std::uint32_t>(dev::k_run_terminate));
  for (auto& s : slots_) {
    if (s.waker != 0) dev_->waker().remove(s.waker);
    s.waker = 0;
  }
}

result<void> cuda_executor::start() {
  if (!dev_->fault().empty()) return make_error(errc::not_supported, dev_->fault());
  auto& b = dev_->backend();
  auto fail_start = [&](error e) {
    free_launch();
    return make_error(e.code, "kernel '" + k_.id() + "': " + e.message);
  };
  auto cb = b.alloc_mapped(sizeof(dev::control_block));
  if (!cb) return fail_start(std::move(cb).err());
  control_ = *cb;
  auto table = b.alloc_mapped(sizeof(dev::mailbox_table));
  if (!table) return fail_start(std::move(table).err());
  table_ = *table;
  auto cursors = b.alloc_device(sizeof(dev::mailbox_cursor) * dev::k_max_mailboxes);
  if (!cursors) return fail_start(std::move(cursors).err());
  cursors_ = *cursors;
  auto stream = b.create_stream();
  if (!stream) return fail_start(std::move(stream).err());
  stream_ = *stream;
  // The kernel starts launched, not active: the loop runs, serves nobody.
  pdc_cuda_launch_args args{};
  args.struct_size = sizeof args;
  args.device = b.ordinal();
  args.stream = stream_;
  args.control_block = reinterpret_cast<void*>(control_.device);
  args.mailbox_table = reinterpret_cast<void*>(table_.device);
  args.cursors = reinterpret_cast<void*>(cursors_);
  args.config = k_.params().config.c_str();
  args.state = k_.plugin_state();
  args.grid = entry_.grid;
  args.block = entry_.block;
  args.shared_bytes = entry_.shared_bytes;
  const char* name = nullptr;
  int rc = -1;
  try {
    rc = entry_.launch(&args, &name);
  } catch (...) {
    name = "an exception escaped the launch function";
  }
  if (rc != 0) {
    return fail_start(
        error{errc::plugin_error, "the launch of its device loop failed (" +
                                      std::string(name != nullptr ? name : "error " + std::to_string(rc)) + ")"});
  }
  launched_ = true;
  launched_ns_ = now_ns();
  schedule_tick();
  return ok();
}

// ---- the host's words --------------------------------------------------------------------

void cuda_executor::apply_run_state() noexcept {
  if (!launched_ || failed_ || stop_ >= stop_phase::terminating) return;
  const auto s = k_.state();
  const std::uint32_t want =
      s == kernel_state::active || s == kernel_state::terminating ? dev::k_run_active : dev::k_run_inactive;
  // SYNC: run_state — release: pairs with the loop's acquire load each round
  // (no data rides on it; the table has its own generation).
  dev::store_release(&static_cast<dev::control_block*>(control_.host)->run_state, want);
}

void cuda_executor::notify() noexcept {
  if (k_.host().on_control_thread()) {
    apply_run_state();
    refuse_inbox();
    return;
  }
  // Another thread queued a message: the control thread answers it.
  if (posted_.exchange(true, std::memory_order_acq_rel)) return;
  try {
    k_.host().post([alive = std::weak_ptr<bool>(alive_), this] {
      if (alive.expired()) return;
      posted_.store(false, std::memory_order_release);
      refuse_inbox();
    });
  } catch (...) {
    posted_.store(false, std::memory_order_release);  // out of memory: the next notify tries again
  }
}

void cuda_executor::refuse_inbox() {
  // The device serves attachments' rings only: a message sent through the
  // socket (pdcctl send, another kernel's send_to) is answered at once.
  for (auto& m : k_.in().take_all()) {
    k_.fail_sender(m.from, m.env.message_id(), errc::not_supported,
                   "kernel '" + k_.id() +
                       "' runs on the cuda tier, which serves attached clients' rings only; attach to it to send");
  }
}

// ---- attachments -------------------------------------------------------------------------

result<void> cuda_executor::serviceable() const {
  if (failed_) return make_error(errc::plugin_error, k_.last_error());
  for (const auto& s : slots_) {
    if (s.at == phase::free) return ok();
  }
  return make_error(errc::full, "kernel '" + k_.id() + "' serves " + std::to_string(dev::k_max_mailboxes) +
                                    " attachments already, the most one cuda-tier kernel takes");
}

result<void> cuda_executor::adopt(std::shared_ptr<attachment_source> src) {
  if (auto s = serviceable(); !s) return s;
  slot* free = nullptr;
  for (auto& s : slots_) {
    if (s.at == phase::free) {
      free = &s;
      break;
    }
  }
  const auto& seg = src->view.seg();
  void* base = const_cast<void*>(static_cast<const void*>(&seg.header()));
  auto device = dev_->backend().register_host(base, seg.size_bytes());
  if (!device) return make_error(device.err().code, "its segment cannot be mapped for the GPU: " + device.err().what());
  *free = slot{};
  free->at = phase::joining;
  free->src = std::move(src);
  free->host_base = base;
  free->device_base = *device;
  free->waker = dev_->waker().add(&free->src->view.replies());
  sync_table();
  return ok();
}

void cuda_executor::release(std::uint64_t attachment_id) noexcept {
  for (auto& s : slots_) {
    if (s.src == nullptr || s.src->id != attachment_id || s.at == phase::leaving || s.at == phase::free) continue;
    if (s.at == phase::joining && !s.written) {
      let_go(s, true);  // the device never saw it
    } else {
      s.at = phase::leaving;
      s.written = false;
    }
  }
  try {
    sync_table();
  } catch (...) {
    // The next tick applies it.
  }
}

void cuda_executor::stop_waking(slot& s) noexcept {
  // Synchronous: once it returns, the helper's thread no longer uses the view.
  if (s.waker != 0) dev_->waker().remove(s.waker);
  s.waker = 0;
}

void cuda_executor::let_go(slot& s, bool unregister) noexcept {
  stop_waking(s);
  if (unregister && s.host_base != nullptr) dev_->backend().unregister_host(s.host_base);
  s = slot{};
}

std::uint64_t cuda_executor::table_seen() const noexcept {
  // SYNC: table_seen — acquire pairs with the loop's release once it served
  // a generation: it reads no slot that generation freed.
  return dev::load_acquire(&static_cast<dev::control_block*>(control_.host)->table_seen);
}

void cuda_executor::sync_table() {
  if (!launched_ || failed_ || stop_ == stop_phase::done) return;
  // The host writes the table only while the device reads none of it: after
  // it acknowledged the last generation.
  const std::uint64_t seen = table_seen();
  if (seen < generation_) return;
  auto* t = static_cast<dev::mailbox_table*>(table_.host);
  bool changed = false;
  for (std::uint32_t i = 0; i < dev::k_max_mailboxes; ++i) {
    slot& s = slots_[i];
    if (s.at == phase::leaving && s.written && s.generation <= seen) {
      let_go(s, true);  // the device let go of it
      continue;
    }
    if (s.written || s.at == phase::free) continue;
    dev::mailbox m{};
    if (s.at == phase::joining) {
      const auto& seg = s.src->view.seg();
      auto ring = [&](std::uint32_t index) {
        ring_control* ctl = seg.control(index);
        const auto& r = seg.ring(index);
        const std::uint64_t at = device_address(ctl, s.host_base, s.device_base);
        return dev::ring_ref{reinterpret_cast<dev::ring_words*>(at),
                             reinterpret_cast<std::byte*>(at + sizeof(ring_control)), r.capacity_bytes,
                             r.max_record_bytes, 0};
      };
      m = dev::mailbox{ring(k_attachment_request_ring), ring(k_attachment_reply_ring), s.src->id, 0};
    }
    t->slots[i] = m;  // a free slot (id 0) for a leaving one
    s.written = true;
    s.generation = generation_ + 1;
    changed = true;
  }
  if (!changed) return;
  ++generation_;
  // SYNC: table_generation — release: the slots written above are visible to
  // the loop once its acquire load sees the new generation.
  dev::store_release(&static_cast<dev::control_block*>(control_.host)->table_generation, generation_);
  for (auto& s : slots_) {
    if (s.at == phase::joining && s.written) s.at = phase::live;
  }
}

void cuda_executor::watch_clients() {
  auto* t = static_cast<dev::mailbox_table*>(table_.host);
  for (std::uint32_t i = 0; i < dev::k_max_mailboxes; ++i) {
    slot& s = slots_[i];
    if (s.at != phase::live) continue;
    const auto aid = s.src->id;
    auto& st = t->states[i];
    const bool served = dev::load_acquire(&st.attachment_id) == aid;
    const std::uint32_t broken = served ? dev::load_acquire(&st.broken) : 0U;
    if (broken != 0) {
      k_.host().log(k_, PDC_LOG_WARN,
                    "attachment " + std::to_string(aid) + " wrote a corrupt ring (" +
                        (broken == static_cast<std::uint32_t>(dev::ring_status::corrupt)
                             ? "an index or a header that cannot be right"
                             : "status " + std::to_string(broken)) +
                        "); the GPU serves it no more");
      stop_waking(s);  // the view's wake path is the helper's thread's until then
      s.src->view.close(static_cast<std::uint32_t>(errc::corrupt_segment));
    } else if (!s.src->view.requests().producer_closed()) {
      continue;
    }
    k_.forget_attachment(aid);
    s.at = phase::leaving;
    s.written = false;
  }
}

// ---- health and stopping -----------------------------------------------------------------

void cuda_executor::schedule_tick() {
  const bool busy = stop_ != stop_phase::running || std::any_of(slots_.begin(), slots_.end(), [](const slot& s) {
                      return (s.at != phase::free && !s.written) || s.at == phase::leaving;
                    });
  k_.host().post_after(busy ? k_busy_tick_ns : k_quiet_tick_ns, [alive = std::weak_ptr<bool>(alive_), this] {
    if (!alive.expired()) tick();
  });
}

void cuda_executor::tick() {
  if (stop_ == stop_phase::done) return;
  if (!failed_) check_health();
  if (!failed_) {
    watch_clients();
    sync_table();
  }
  advance_stop();
  if (stop_ != stop_phase::done && !(failed_ && stop_ == stop_phase::running)) schedule_tick();
}

void cuda_executor::check_health() {
  if (!dev_->fault().empty()) {
    fail("kernel '" + k_.id() + "' failed: " + dev_->fault(), false);
    return;
  }
  std::string why;
  const auto st = dev_->backend().query(stream_, why);
  if (st == cuda_backend::stream_state::failed) {
    fail("kernel '" + k_.id() + "' failed on GPU " + std::to_string(dev_->backend().ordinal()) + ": " + why, true);
    return;
  }
  // A loop that never showed a heartbeat has not started (a GPU busy with
  // other work cannot make it resident): said once, in the kernel's error.
  const auto* control = static_cast<dev::control_block*>(control_.host);
  if (!start_reported_ && st == cuda_backend::stream_state::running &&
      dev::load_relaxed(const_cast<std::uint64_t*>(&control->heartbeat)) == 0 &&
      now_ns() - launched_ns_ > start_timeout_ns_) {
    start_reported_ = true;
    const std::string late = "kernel '" + k_.id() + "': its device loop has not started " +
                             std::to_string(start_timeout_ns_ / 1'000'000) +
                             " ms after its launch (is the GPU busy with other work?); attachments wait for it";
    k_.set_error(late);
    k_.host().log(k_, PDC_LOG_WARN, late);
  }
  if (st == cuda_backend::stream_state::done && stop_ < stop_phase::terminating) {
    const auto* cb = static_cast<dev::control_block*>(control_.host);
    fail("kernel '" + k_.id() + "' failed: its device loop returned without being asked to (error " +
             std::to_string(dev::load_acquire(const_cast<std::uint32_t*>(&cb->error))) + ")",
         false);
  }
}

void cuda_executor::fail(const std::string& why, bool device_fault) {
  if (failed_) return;
  failed_ = true;
  k_.set_error(why);
  k_.host().log(k_, PDC_LOG_ERROR, why);
  if (device_fault) dev_->mark_faulted(why);
  // Clients waiting on replies learn at once; the kernel keeps its segments
  // mapped for the GPU (a faulted context cannot unmap them, and a loop
  // that still runs must not lose them).
  for (auto& s : slots_) {
    if (s.src == nullptr) continue;
    stop_waking(s);  // the view's wake path is the helper's thread's until then
    s.src->view.close(static_cast<std::uint32_t>(errc::plugin_error));
  }
  // A loop that still runs (another kernel faulted the context, or it
  // returned on its own) is asked to end; what it used is kept.
  dev::store_release(&static_cast<dev::control_block*>(control_.host)->run_state,
                     static_cast<std::uint32_t>(dev::k_run_terminate));
  leaked_ = true;
}

bool cuda_executor::requests_drained() const noexcept {
  for (const auto& s : slots_) {
    if (s.at != phase::live) continue;
    const auto& ctl = s.src->view.request_control();
    if (ctl.write_pos.load(std::memory_order_acquire) != ctl.read_pos.load(std::memory_order_acquire)) return false;
  }
  return true;
}

void cuda_executor::stop(std::function<void()> stopped) {
  stopped_ = std::move(stopped);
  stop_ = stop_phase::draining;
  stop_deadline_ns_ = now_ns() + stop_timeout_ns_;
  refuse_inbox();
  if (!launched_ || failed_) {
    finish(false);
    return;
  }
  advance_stop();
  if (stop_ != stop_phase::done) schedule_tick();
}

void cuda_executor::advance_stop() {
  if (stop_ == stop_phase::running || stop_ == stop_phase::done) return;
  if (failed_) {
    finish(false);
    return;
  }
  auto* cb = static_cast<dev::control_block*>(control_.host);
  if (stop_ == stop_phase::draining) {
    // Terminating drains what the rings hold unless the kernel was halted
    // (a drop, or the drain time is over).
    if (!k_.halted() && !requests_drained() && now_ns() < stop_deadline_ns_) return;
    // SYNC: run_state — release, as in apply_run_state().
    dev::store_release(&cb->run_state, static_cast<std::uint32_t>(dev::k_run_terminate));
    stop_ = stop_phase::terminating;
    stop_deadline_ns_ = now_ns() + stop_timeout_ns_;
  }
  // SYNC: stopped — acquire pairs with the loop's last release: it touches
  // none of the rings or the table after it.
  const bool loop_stopped = dev::load_acquire(&cb->stopped) == 1U;
  std::string why;
  const auto st = dev_->backend().query(stream_, why);
  if (st == cuda_backend::stream_state::failed) {
    fail("kernel '" + k_.id() + "' failed on GPU " + std::to_string(dev_->backend().ordinal()) + ": " + why, true);
    finish(false);
    return;
  }
  if (loop_stopped && st == cuda_backend::stream_state::done) {
    finish(true);
    return;
  }
  if (now_ns() < stop_deadline_ns_) return;
  k_.host().log(k_, PDC_LOG_ERROR,
                std::string("the device loop has not ") + (loop_stopped ? "ended its launch " : "stopped ") +
                    std::to_string(stop_timeout_ns_ / 1'000'000) +
                    " ms after terminate; its memory stays mapped for the GPU until pdcd exits");
  leaked_ = true;
  loop_may_run_ = true;
  finish(false);
}

void cuda_executor::free_launch() noexcept {
  auto& b = dev_->backend();
  if (stream_ != nullptr) b.destroy_stream(stream_);
  b.free_device(cursors_);
  b.free_mapped(table_);
  b.free_mapped(control_);
  stream_ = nullptr;
  cursors_ = 0;
  table_ = {};
  control_ = {};
}

void cuda_executor::finish(bool clean) {
  stop_ = stop_phase::done;
  const bool free_memory = clean && !leaked_;
  for (auto& s : slots_) {
    if (s.at != phase::free) let_go(s, free_memory);
  }
  if (free_memory) free_launch();
  launched_ = launched_ && !free_memory;
  if (auto done = std::move(stopped_)) done();
}

std::uint32_t cuda_executor::device_state_seen() const noexcept {
  if (control_.host == nullptr) return dev::k_run_inactive;
  return dev::load_acquire(&static_cast<dev::control_block*>(control_.host)->state_seen);
}

void cuda_executor::collect(kernel_snapshot& s) const {
  s.workers = entry_.grid * entry_.block / 32;  // warps
  if (failed_) s.state = kernel_state::failed;
  if (control_.host == nullptr) return;
  auto* cb = static_cast<dev::control_block*>(control_.host);
  const auto processed = dev::load_relaxed(&cb->processed);
  s.processed += processed;
  s.messages_in += processed;
  const auto* t = static_cast<const dev::mailbox_table*>(table_.host);
  for (std::uint32_t i = 0; i < dev::k_max_mailboxes; ++i) {
    if (slots_[i].at == phase::free) continue;
    s.malformed += dev::load_relaxed(const_cast<std::uint64_t*>(&t->states[i].malformed));
  }
}

}  // namespace pdc::daemon
