// The cuda tier's backend on a real GPU: the CUDA driver API, opened at run
// time with dlopen (cuda_device.hpp says why). Only the declarations of
// cuda.h are used; nothing links against libcuda.
#include <cuda.h>
#include <dlfcn.h>

#include <array>
#include <cstring>
#include <mutex>
#include <string>

#include "tiers/cuda_device.hpp"

namespace pdc::daemon {
namespace {

// The driver's entry points pdcd uses, by their exported (versioned) names.
struct driver_api {
  decltype(&::cuInit) init = nullptr;
  decltype(&::cuDriverGetVersion) driver_version = nullptr;
  decltype(&::cuDeviceGetCount) device_count = nullptr;
  decltype(&::cuDeviceGet) device_get = nullptr;
  decltype(&::cuDeviceGetName) device_name = nullptr;
  decltype(&::cuDevicePrimaryCtxRetain) primary_retain = nullptr;
  decltype(&::cuDevicePrimaryCtxRelease) primary_release = nullptr;
  decltype(&::cuCtxSetCurrent) set_current = nullptr;
  decltype(&::cuMemHostRegister) host_register = nullptr;
  decltype(&::cuMemHostUnregister) host_unregister = nullptr;
  decltype(&::cuMemHostAlloc) host_alloc = nullptr;
  decltype(&::cuMemFreeHost) free_host = nullptr;
  decltype(&::cuMemHostGetDevicePointer) host_device_pointer = nullptr;
  decltype(&::cuMemAlloc) mem_alloc = nullptr;
  decltype(&::cuMemFree) mem_free = nullptr;
  decltype(&::cuMemsetD8) memset_d8 = nullptr;
  decltype(&::cuStreamCreate) stream_create = nullptr;
  decltype(&::cuStreamDestroy) stream_destroy = nullptr;
  decltype(&::cuStreamQuery) stream_query = nullptr;
  decltype(&::cuGetErrorName) error_name = nullptr;
  decltype(&::cuGetErrorString) error_string = nullptr;
};

template <typename Fn>
bool bind(void* lib, const char* symbol, Fn& out, std::string& missing) {
  out = reinterpret_cast<Fn>(::dlsym(lib, symbol));
  if (out == nullptr && missing.empty()) missing = symbol;
  return out != nullptr;
}

// The driver, opened once per process (it is never closed: CUDA does not
// support unloading it while contexts exist).
result<const driver_api*> load_driver() {
  static std::mutex mu;
  static driver_api api;
  static bool loaded = false;
  std::lock_guard lock(mu);
  if (loaded) return &api;
  void* lib = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* e = ::dlerror();
    return make_error(errc::not_supported, std::string("no CUDA driver on this machine (") +
                                               (e != nullptr ? e : "libcuda.so.1 not found") + ")");
  }
  std::string missing;
  driver_api a;
  bind(lib, "cuInit", a.init, missing);
  bind(lib, "cuDriverGetVersion", a.driver_version, missing);
  bind(lib, "cuDeviceGetCount", a.device_count, missing);
  bind(lib, "cuDeviceGet", a.device_get, missing);
  bind(lib, "cuDeviceGetName", a.device_name, missing);
  bind(lib, "cuDevicePrimaryCtxRetain", a.primary_retain, missing);
  bind(lib, "cuDevicePrimaryCtxRelease_v2", a.primary_release, missing);
  bind(lib, "cuCtxSetCurrent", a.set_current, missing);
  bind(lib, "cuMemHostRegister_v2", a.host_register, missing);
  bind(lib, "cuMemHostUnregister", a.host_unregister, missing);
  bind(lib, "cuMemHostAlloc", a.host_alloc, missing);
  bind(lib, "cuMemFreeHost", a.free_host, missing);
  bind(lib, "cuMemHostGetDevicePointer_v2", a.host_device_pointer, missing);
  bind(lib, "cuMemAlloc_v2", a.mem_alloc, missing);
  bind(lib, "cuMemFree_v2", a.mem_free, missing);
  bind(lib, "cuMemsetD8_v2", a.memset_d8, missing);
  bind(lib, "cuStreamCreate", a.stream_create, missing);
  bind(lib, "cuStreamDestroy_v2", a.stream_destroy, missing);
  bind(lib, "cuStreamQuery", a.stream_query, missing);
  bind(lib, "cuGetErrorName", a.error_name, missing);
  bind(lib, "cuGetErrorString", a.error_string, missing);
  if (!missing.empty()) {
    ::dlclose(lib);
    return make_error(errc::not_supported, "the CUDA driver (libcuda.so.1) lacks " + missing + ": it is too old");
  }
  api = a;
  loaded = true;
  return &api;
}

class driver_backend final : public cuda_backend {
 public:
  driver_backend(const driver_api& api, int ordinal, CUdevice dev, CUcontext ctx, std::string name)
      : api_(api), ordinal_(ordinal), dev_(dev), ctx_(ctx), name_(std::move(name)) {}
  ~driver_backend() override { api_.primary_release(dev_); }
  driver_backend(const driver_backend&) = delete;
  driver_backend& operator=(const driver_backend&) = delete;

  [[nodiscard]] int ordinal() const noexcept override { return ordinal_; }
  [[nodiscard]] std::string name() const override { return name_; }

  result<std::uint64_t> register_host(void* host, std::size_t bytes) override {
    if (auto c = current(); !c) return std::move(c).err();
    if (auto r = api_.host_register(host, bytes, CU_MEMHOSTREGISTER_DEVICEMAP | CU_MEMHOSTREGISTER_PORTABLE);
        r != CUDA_SUCCESS) {
      return fail("cuMemHostRegister", r);
    }
    CUdeviceptr d = 0;
    if (auto r = api_.host_device_pointer(&d, host, 0); r != CUDA_SUCCESS) {
      api_.host_unregister(host);
      return fail("cuMemHostGetDevicePointer", r);
    }
    return static_cast<std::uint64_t>(d);
  }
  void unregister_host(void* host) noexcept override {
    if (current()) (void)api_.host_unregister(host);
  }
  result<mapped_block> alloc_mapped(std::size_t bytes) override {
    if (auto c = current(); !c) return std::move(c).err();
    void* host = nullptr;
    if (auto r = api_.host_alloc(&host, bytes, CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_PORTABLE);
        r != CUDA_SUCCESS) {
      return fail("cuMemHostAlloc", r);
    }
    std::memset(host, 0, bytes);
    CUdeviceptr d = 0;
    if (auto r = api_.host_device_pointer(&d, host, 0); r != CUDA_SUCCESS) {
      api_.free_host(host);
      return fail("cuMemHostGetDevicePointer", r);
    }
    return mapped_block{host, static_cast<std::uint64_t>(d), bytes};
  }
  void free_mapped(const mapped_block& b) noexcept override {
    if (b.host != nullptr && current()) (void)api_.free_host(b.host);
  }
  result<std::uint64_t> alloc_device(std::size_t bytes) override {
    if (auto c = current(); !c) return std::move(c).err();
    CUdeviceptr d = 0;
    if (auto r = api_.mem_alloc(&d, bytes); r != CUDA_SUCCESS) return fail("cuMemAlloc", r);
    if (auto r = api_.memset_d8(d, 0, bytes); r != CUDA_SUCCESS) {
      api_.mem_free(d);
      return fail("cuMemsetD8", r);
    }
    return static_cast<std::uint64_t>(d);
  }
  void free_device(std::uint64_t device) noexcept override {
    if (device != 0 && current()) (void)api_.mem_free(static_cast<CUdeviceptr>(device));
  }
  result<void*> create_stream() override {
    if (auto c = current(); !c) return std::move(c).err();
    CUstream s = nullptr;
    if (auto r = api_.stream_create(&s, CU_STREAM_NON_BLOCKING); r != CUDA_SUCCESS) return fail("cuStreamCreate", r);
    return static_cast<void*>(s);
  }
  void destroy_stream(void* stream) noexcept override {
    if (stream != nullptr && current()) (void)api_.stream_destroy(static_cast<CUstream>(stream));
  }
  stream_state query(void* stream, std::string& why) override {
    if (auto c = current(); !c) {
      why = c.err().what();
      return stream_state::failed;
    }
    const CUresult r = api_.stream_query(static_cast<CUstream>(stream));
    if (r == CUDA_SUCCESS) return stream_state::done;
    if (r == CUDA_ERROR_NOT_READY) return stream_state::running;
    why = describe(r);
    return stream_state::failed;
  }

 private:
  result<void> current() const {
    if (auto r = api_.set_current(ctx_); r != CUDA_SUCCESS) return fail("cuCtxSetCurrent", r);
    return ok();
  }
  [[nodiscard]] std::string describe(CUresult r) const {
    const char* name = nullptr;
    const char* text = nullptr;
    (void)api_.error_name(r, &name);
    (void)api_.error_string(r, &text);
    std::string out = name != nullptr ? name : "CUDA error " + std::to_string(static_cast<int>(r));
    if (text != nullptr) out += std::string(" (") + text + ")";
    return out;
  }
  [[nodiscard]] error fail(const char* call, CUresult r) const {
    return error{errc::system_error, std::string(call) + " on GPU " + std::to_string(ordinal_) + ": " + describe(r)};
  }

  const driver_api& api_;
  int ordinal_;
  CUdevice dev_;
  CUcontext ctx_;
  std::string name_;
};

}  // namespace

result<std::unique_ptr<cuda_backend>> open_cuda_driver(int ordinal) {
  auto api = load_driver();
  if (!api) return std::move(api).err();
  const driver_api& a = **api;
  auto describe = [&](CUresult r) {
    const char* name = nullptr;
    (void)a.error_name(r, &name);
    return std::string(name != nullptr ? name : "CUDA error " + std::to_string(static_cast<int>(r)));
  };
  if (auto r = a.init(0); r != CUDA_SUCCESS) {
    if (r == CUDA_ERROR_NO_DEVICE) return make_error(errc::not_supported, "no CUDA device is present");
    return make_error(errc::not_supported, "the CUDA driver does not start (cuInit: " + describe(r) + ")");
  }
  int version = 0;
  (void)a.driver_version(&version);
  if (version / 1000 < CUDA_VERSION / 1000) {  // CUDA's minor version compatibility
    return make_error(errc::not_supported, "the CUDA driver supports CUDA " + std::to_string(version / 1000) + "." +
                                               std::to_string(version % 1000 / 10) + ", and this pdcd was built for " +
                                               std::to_string(CUDA_VERSION / 1000) + "." +
                                               std::to_string(CUDA_VERSION % 1000 / 10));
  }
  int count = 0;
  if (auto r = a.device_count(&count); r != CUDA_SUCCESS || count == 0) {
    return make_error(errc::not_supported, "no CUDA device is present");
  }
  if (ordinal < 0 || ordinal >= count) {
    return make_error(errc::not_found, "there is no CUDA device " + std::to_string(ordinal) + " (this machine has " +
                                           std::to_string(count) + ")");
  }
  CUdevice dev = 0;
  if (auto r = a.device_get(&dev, ordinal); r != CUDA_SUCCESS) {
    return make_error(errc::system_error, "cuDeviceGet(" + std::to_string(ordinal) + "): " + describe(r));
  }
  std::array<char, 256> name{};
  if (a.device_name(name.data(), static_cast<int>(name.size()) - 1, dev) != CUDA_SUCCESS) name[0] = '\0';
  CUcontext ctx = nullptr;
  if (auto r = a.primary_retain(&ctx, dev); r != CUDA_SUCCESS) {
    return make_error(errc::system_error, "cannot open GPU " + std::to_string(ordinal) +
                                              "'s context (cuDevicePrimaryCtxRetain: " + describe(r) + ")");
  }
  return std::unique_ptr<cuda_backend>(std::make_unique<driver_backend>(a, ordinal, dev, ctx, name.data()));
}

}  // namespace pdc::daemon
