// Kernel metrics as protocol tables and as Prometheus text.
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <string>
#include <vector>

#include "kernel.hpp"
#include "pdc/proto/control.hpp"

namespace pdc::daemon {

/// Builds a KernelInfo table for `k`.
flatbuffers::Offset<wire::KernelInfo> build_kernel_info(flatbuffers::FlatBufferBuilder& b, const kernel& k);

/// Prometheus text exposition (version 0.0.4) of every kernel's metrics.
std::string prometheus_text(const std::vector<const kernel*>& kernels);

wire::Tier to_wire(tier t) noexcept;
wire::Backpressure to_wire(backpressure b) noexcept;
wire::KernelState to_wire(kernel_state s) noexcept;
tier from_wire(wire::Tier t) noexcept;
backpressure from_wire(wire::Backpressure b) noexcept;

}  // namespace pdc::daemon
