// One GPU as the cuda tier uses it (docs/cuda.md): the CUDA calls pdcd
// makes (a backend: the driver, loaded at run time, or an emulation in
// tests), whether its context is still usable, and its host helper that
// wakes clients parked on reply rings the device writes.
//
// pdcd links no CUDA library: the driver (libcuda.so.1) is opened when the
// first cuda-tier kernel launches, so a pdcd built with CUDA runs, and
// installs, on machines without a GPU or its driver; only cuda launches are
// then refused, saying why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "pdc/core/device_waker.hpp"
#include "pdc/core/result.hpp"

namespace pdc::daemon {

/// Host memory the device can reach: its host address and its device address.
struct mapped_block {
  void* host = nullptr;
  std::uint64_t device = 0;
  std::size_t bytes = 0;
};

/// The CUDA calls the cuda tier makes, on one device. Every call comes from
/// pdcd's control thread; each makes the device's context current first.
class cuda_backend {
 public:
  virtual ~cuda_backend() = default;
  cuda_backend() = default;
  cuda_backend(const cuda_backend&) = delete;
  cuda_backend& operator=(const cuda_backend&) = delete;

  /// The device's ordinal and name ("NVIDIA H100 80GB HBM3", say).
  [[nodiscard]] virtual int ordinal() const noexcept = 0;
  [[nodiscard]] virtual std::string name() const = 0;
  /// Page-locks [host, host + bytes) as mapped memory (cuMemHostRegister);
  /// returns its device address.
  virtual result<std::uint64_t> register_host(void* host, std::size_t bytes) = 0;
  virtual void unregister_host(void* host) noexcept = 0;
  /// Zeroed mapped host memory (cuMemHostAlloc).
  virtual result<mapped_block> alloc_mapped(std::size_t bytes) = 0;
  virtual void free_mapped(const mapped_block& b) noexcept = 0;
  /// Zeroed device memory (cuMemAlloc).
  virtual result<std::uint64_t> alloc_device(std::size_t bytes) = 0;
  virtual void free_device(std::uint64_t device) noexcept = 0;
  /// A stream of the device's primary context (what a launch function gets).
  virtual result<void*> create_stream() = 0;
  virtual void destroy_stream(void* stream) noexcept = 0;
  enum class stream_state { running, done, failed };
  /// Whether the work on `stream` still runs, ended, or failed (`why`: the
  /// CUDA error's name and text).
  virtual stream_state query(void* stream, std::string& why) = 0;
};

/// Opens the driver and device `ordinal`; the error says what is missing
/// (no driver, no device, a driver too old for this build).
result<std::unique_ptr<cuda_backend>> open_cuda_driver(int ordinal);

/// One GPU, shared by the cuda-tier kernels on it.
class cuda_device {
 public:
  explicit cuda_device(std::unique_ptr<cuda_backend> backend);

  [[nodiscard]] cuda_backend& backend() noexcept { return *backend_; }
  [[nodiscard]] device_waker& waker() noexcept { return waker_; }
  /// A device fault poisons the context of every kernel on the device
  /// (CUDA's errors are sticky): once one is seen, the device is no longer
  /// used and every cuda launch is refused with this reason (control thread).
  void mark_faulted(const std::string& why);
  [[nodiscard]] const std::string& fault() const noexcept { return fault_; }

  /// Device 0, opened by the first call (later calls return what it
  /// returned; a failure is retried, for a driver installed since).
  static result<std::shared_ptr<cuda_device>> shared();

 private:
  std::unique_ptr<cuda_backend> backend_;
  device_waker waker_;
  std::string fault_;
};

}  // namespace pdc::daemon
