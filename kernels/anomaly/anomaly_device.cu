// anomaly on the GPU: the device code of the cuda tier's anomaly kernel
// (anomaly_core.hpp has the computation, shared with the CPU plugin). The
// streams' windows stay in device memory; one warp serves every
// attachment, its 32 lanes scoring a batch's samples together.
#include "anomaly_core.hpp"
#include "pdc/cuda.cuh"

namespace {

struct anomaly_handler {
  pdc::anomaly::stream_state* states;  // k_streams of them, device memory, zeroed

  __device__ std::uint32_t reply_bytes(const pdc::cuda::message& m) const {
    pdc::anomaly::request_header h{};
    return pdc::anomaly::parse(m.payload, m.length, h) ? pdc::anomaly::reply_bytes(h.count) : 0;
  }
  __device__ int handle(const pdc::cuda::message& m, pdc::cuda::reply& out, std::uint32_t lane,
                        std::uint32_t lanes) const {
    // Lane 0 reads the header; the others take its reading (the client may
    // rewrite its ring meanwhile, and the lanes must agree on the count).
    pdc::anomaly::request_header h{};
    std::uint32_t good = lane == 0 && pdc::anomaly::parse(m.payload, m.length, h) ? 1U : 0U;
    good = pdc::cuda::from_lane0(good);
    h.stream = pdc::cuda::from_lane0(h.stream);
    h.count = pdc::cuda::from_lane0(h.count);
    if (good == 0) return 1;
    if (out.payload != nullptr && out.capacity < pdc::anomaly::reply_bytes(h.count)) return 1;
    (void)pdc::anomaly::detect(states[h.stream], h, m.payload, out.payload, lane, lanes);
    out.length = pdc::anomaly::reply_bytes(h.count);
    return 0;
  }
};

}  // namespace

/// The persistent launch: one block of one warp (32 threads).
extern "C" __global__ void pdc_cuda_anomaly_loop(pdc::cuda::control_block* cb, pdc::cuda::mailbox_table* table,
                                                 pdc::cuda::mailbox_cursor* cursors,
                                                 pdc::anomaly::stream_state* states) {
  anomaly_handler h{states};
  // Each batch of requests is staged in shared memory before it is read.
  __shared__ alignas(16) std::byte stage[pdc::cuda::k_stage_bytes];
  pdc::cuda::run_loop(cb, table, cursors, h, threadIdx.x % 32U, 32U, 64, 20'000, stage, pdc::cuda::k_stage_bytes);
}
