// vector_add on the GPU: the device code of the cuda tier's vector_add
// kernel (docs/cuda.md). Its request is raw, not the CPU kernel's
// flatbuffers table: 2n little-endian f32, a then b (n >= 1); the reply is
// the n sums. The warp's lanes add the elements together (warp-level style).
#include "pdc/cuda.cuh"

namespace {

struct vector_add_handler {
  __device__ std::uint32_t reply_bytes(const pdc::cuda::message& m) const {
    return m.length != 0 && m.length % 8 == 0 ? m.length / 2 : 0;
  }
  __device__ int handle(const pdc::cuda::message& m, pdc::cuda::reply& out, std::uint32_t lane,
                        std::uint32_t lanes) const {
    // The length comes from the envelope lane 0 read once (all lanes agree on it).
    if (m.length == 0 || m.length % 8 != 0) return 1;
    const std::uint32_t n = m.length / 8;
    if (out.payload == nullptr) return 0;  // one-way: nobody reads the sums
    if (out.capacity < 4 * n) return 1;
    for (std::uint32_t i = lane; i < n; i += lanes) {
      float a = 0;
      float b = 0;
      std::memcpy(&a, m.payload + 4 * i, 4);
      std::memcpy(&b, m.payload + 4 * (n + i), 4);
      const float sum = a + b;
      std::memcpy(out.payload + 4 * i, &sum, 4);
    }
    out.length = 4 * n;
    return 0;
  }
};

}  // namespace

/// The persistent launch: one block of one warp (32 threads).
extern "C" __global__ void pdc_cuda_vector_add_loop(pdc::cuda::control_block* cb, pdc::cuda::mailbox_table* table,
                                                    pdc::cuda::mailbox_cursor* cursors) {
  vector_add_handler h;
  // Each batch of requests is staged in shared memory before it is read.
  __shared__ alignas(16) std::byte stage[pdc::cuda::k_stage_bytes];
  pdc::cuda::run_loop(cb, table, cursors, h, threadIdx.x % 32U, 32U, 64, 20'000, stage, pdc::cuda::k_stage_bytes);
}
