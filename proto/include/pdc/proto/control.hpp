// The control protocol (proto/control.fbs) as pdc code uses it.
#pragma once

#include <cstdint>

#include "pdc/proto/control_generated.h"

namespace pdc {

/// Protocol version spoken by this build (Hello / HelloReply).
inline constexpr std::uint32_t k_protocol_version = 1;
/// Bytes a control frame may add around a message (flatbuffers tables, ids, kernel id).
inline constexpr std::uint32_t k_frame_overhead_bytes = 4096;
/// Default largest payload (docs/protocol.md, "Messages and replies").
inline constexpr std::uint32_t k_default_max_message_bytes = 64 * 1024;
/// Hard ceiling on any configured message limit: bounds every buffer, and
/// keeps a socket frame within what a Unix socket buffer can carry.
inline constexpr std::uint32_t k_max_message_ceiling_bytes = 1024 * 1024;

}  // namespace pdc
