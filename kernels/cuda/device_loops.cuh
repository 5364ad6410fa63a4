// The persistent loops of pdc's GPU example kernels (defined in
// echo_cuda/, vector_add/ and anomaly/), for the plugin that launches them
// and the device test that drives them directly.
#pragma once

#include "../anomaly/anomaly_core.hpp"
#include "pdc/cuda.cuh"

extern "C" __global__ void pdc_cuda_echo_loop(pdc::cuda::control_block* cb, pdc::cuda::mailbox_table* table,
                                              pdc::cuda::mailbox_cursor* cursors);
extern "C" __global__ void pdc_cuda_vector_add_loop(pdc::cuda::control_block* cb, pdc::cuda::mailbox_table* table,
                                                    pdc::cuda::mailbox_cursor* cursors);
extern "C" __global__ void pdc_cuda_anomaly_loop(pdc::cuda::control_block* cb, pdc::cuda::mailbox_table* table,
                                                 pdc::cuda::mailbox_cursor* cursors,
                                                 pdc::anomaly::stream_state* states);
