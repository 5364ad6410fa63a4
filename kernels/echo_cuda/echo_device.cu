// echo on the GPU: the device code of the cuda tier's echo kernel
// (docs/cuda.md). One warp serves every attachment of the kernel; each
// reply is its request's payload, copied by the warp's 32 lanes together.
#include "pdc/cuda.cuh"

namespace {

struct echo_handler {
  __device__ std::uint32_t reply_bytes(const pdc::cuda::message& m) const { return m.length; }
  __device__ int handle(const pdc::cuda::message& m, pdc::cuda::reply& out, std::uint32_t lane,
                        std::uint32_t lanes) const {
    const std::uint32_t n = m.length < out.capacity ? m.length : out.capacity;
    if (out.payload != nullptr) pdc::cuda::copy_lanes(out.payload, m.payload, n, lane, lanes);
    out.length = n;
    return 0;
  }
};

}  // namespace

/// The persistent launch: one block of one warp (32 threads).
extern "C" __global__ void pdc_cuda_echo_loop(pdc::cuda::control_block* cb, pdc::cuda::mailbox_table* table,
                                              pdc::cuda::mailbox_cursor* cursors) {
  echo_handler h;
  // Each batch of requests is staged in shared memory before it is read.
  __shared__ alignas(16) std::byte stage[pdc::cuda::k_stage_bytes];
  pdc::cuda::run_loop(cb, table, cursors, h, threadIdx.x % 32U, 32U, 64, 20'000, stage, pdc::cuda::k_stage_bytes);
}
