// Error replies (envelope flag bit 1) as pdc errors, shared by the socket and
// the shared-memory paths.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "pdc/core/result.hpp"

namespace pdc::detail {

/// The error an error reply stands for: its payload made one line is the
/// message, and the errc named by its "<errc name>: " prefix is the code
/// (errc::plugin_error for other text, docs/protocol.md).
error error_of_reply(std::span<const std::byte> payload, std::string_view kernel_id);

}  // namespace pdc::detail
