// pdc_cuda.so: pdc's example kernels of the cuda tier (docs/cuda.md), one
// plugin with three types whose device loops are in echo_cuda/,
// vector_add/ and anomaly/. Built by nvcc through pdc_add_plugin(... CUDA).
#include <cuda_runtime.h>

#include <string>

#include "device_loops.cuh"
#include "pdc/plugin.h"

namespace {

const pdc_host_api* g_host = nullptr;

PDC_CUDA_LAUNCHER(launch_echo, pdc_cuda_echo_loop)
PDC_CUDA_LAUNCHER(launch_vector_add, pdc_cuda_vector_add_loop)

// anomaly keeps its streams' windows in device memory: create() allocates
// them, destroy() frees them (pdcd calls it once the loop has ended).
int anomaly_create(pdc_kernel_ctx* ctx, const char* /*config*/, void** state) {
  void* windows = nullptr;
  const std::size_t bytes = sizeof(pdc::anomaly::stream_state) * pdc::anomaly::k_streams;
  cudaError_t e = cudaMalloc(&windows, bytes);
  if (e == cudaSuccess) e = cudaMemset(windows, 0, bytes);
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  if (e != cudaSuccess) {
    if (windows != nullptr) cudaFree(windows);
    if (g_host != nullptr) {
      g_host->log(ctx, PDC_LOG_ERROR,
                  (std::string("cannot allocate the streams' windows: ") + cudaGetErrorName(e)).c_str());
    }
    return PDC_E_SYSTEM;
  }
  *state = windows;
  return PDC_OK;
}

void anomaly_destroy(void* state) {
  if (state != nullptr) cudaFree(state);
}

int launch_anomaly(const pdc_cuda_launch_args* a, const char** error_name) {
  pdc_cuda_anomaly_loop<<<a->grid, a->block, a->shared_bytes, static_cast<cudaStream_t>(a->stream)>>>(
      static_cast<pdc::cuda::control_block*>(a->control_block),
      static_cast<pdc::cuda::mailbox_table*>(a->mailbox_table), static_cast<pdc::cuda::mailbox_cursor*>(a->cursors),
      static_cast<pdc::anomaly::stream_state*>(a->state));
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) *error_name = cudaGetErrorName(e);
  return static_cast<int>(e);
}

// One warp each (multi-warp loops are not built yet: docs/cuda.md).
const pdc_cuda_kernel k_echo{sizeof(pdc_cuda_kernel), 1, 32, 0, &launch_echo};
const pdc_cuda_kernel k_vector_add{sizeof(pdc_cuda_kernel), 1, 32, 0, &launch_vector_add};
const pdc_cuda_kernel k_anomaly{sizeof(pdc_cuda_kernel), 1, 32, 0, &launch_anomaly};

pdc_kernel_type cuda_type(const char* name, const char* description, const pdc_cuda_kernel* entry) {
  pdc_kernel_type t{};
  t.struct_size = sizeof t;
  t.tiers = PDC_TIER_MASK(PDC_TIER_CUDA);
  t.name = name;
  t.description = description;
  t.cuda = entry;
  return t;
}

pdc_kernel_type anomaly_type() {
  auto t = cuda_type("anomaly_cuda", "real-time anomaly detection on the GPU: rolling windows kept on the device",
                     &k_anomaly);
  t.create = &anomaly_create;
  t.destroy = &anomaly_destroy;
  return t;
}

const pdc_kernel_type k_types[] = {
    cuda_type("echo_cuda", "replies with the request's payload, from the GPU", &k_echo),
    cuda_type("vector_add_cuda", "adds two f32 vectors on the GPU (raw: a then b; replies the sums)", &k_vector_add),
    anomaly_type(),
};

const pdc_plugin_descriptor k_descriptor{PDC_PLUGIN_ABI_MAJOR,
                                         PDC_PLUGIN_ABI_MINOR,
                                         sizeof(pdc_plugin_descriptor),
                                         sizeof(pdc_kernel_type),
                                         "cuda_examples",
                                         "1.0.0",
                                         sizeof k_types / sizeof k_types[0],
                                         0,
                                         k_types};

}  // namespace

extern "C" __attribute__((visibility("default"))) const pdc_plugin_descriptor* pdc_plugin_entry(
    const pdc_host_api* host) {
  g_host = host;
  return &k_descriptor;
}
