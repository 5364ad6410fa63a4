// The envelope (proto/envelope.fbs) as pdc code uses it: layout checks and helpers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "pdc/proto/envelope_generated.h"

namespace pdc {

using envelope = wire::Envelope;

// The layout is part of the wire and of shared memory: pin it.
static_assert(sizeof(envelope) == 48, "envelope layout changed: update docs/protocol.md and bump versions");
static_assert(alignof(envelope) == 8);
static_assert(std::is_trivially_copyable_v<envelope>);

inline constexpr std::uint8_t k_default_priority = 128;
inline constexpr std::uint16_t k_envelope_flag_reply = 1U << 0;
inline constexpr std::uint16_t k_envelope_flag_error = 1U << 1;
/// Set by a sender that wants no reply: the kernel's answer to it is an output (subscribers, connections).
inline constexpr std::uint16_t k_envelope_flag_no_reply = 1U << 2;
/// On an error reply with correlation 0: the kernel's host process restarted,
/// and every request sent before this notice is lost (docs/isolation.md).
inline constexpr std::uint16_t k_envelope_flag_restarted = 1U << 3;

/// Builds an envelope for a payload of `payload_length` bytes.
inline envelope make_envelope(std::uint64_t message_id, std::uint32_t payload_length, std::uint64_t send_ns,
                              std::uint64_t correlation_id = 0, std::uint64_t reply_to = 0, std::uint32_t type_id = 0,
                              std::uint16_t flags = 0, std::uint8_t priority = k_default_priority) noexcept {
  return envelope(message_id, correlation_id, reply_to, send_ns, payload_length, type_id, flags, priority, 0, 0);
}

/// Reads the envelope at the front of `bytes` (copied out: `bytes` need not
/// be aligned). Returns false when `bytes` is too short or its declared
/// payload length does not match what follows.
inline bool read_envelope(std::span<const std::byte> bytes, envelope& out) noexcept {
  if (bytes.size() < sizeof(envelope)) return false;
  std::memcpy(static_cast<void*>(&out), bytes.data(), sizeof out);
  return out.payload_length() == bytes.size() - sizeof(envelope);
}

/// The payload that follows the envelope in `bytes` (call after read_envelope).
inline std::span<const std::byte> payload_of(std::span<const std::byte> bytes) noexcept {
  return bytes.subspan(sizeof(envelope));
}

}  // namespace pdc
