// pdcctl's byte and number formatting: hex, printable-text detection, int64
// payloads, durations. Pure functions, unit-tested.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pdc/core/result.hpp"

namespace pdc::ctl {

/// Parses hex digits into bytes. Accepts an optional "0x" prefix and ignores
/// whitespace, ':' and '-' between bytes; errc::invalid_argument (naming the
/// offending position) on another character or an odd number of digits.
result<std::vector<std::byte>> parse_hex(std::string_view text);

/// Lower-case hex of `bytes`, two digits per byte, no separators.
std::string to_hex(std::span<const std::byte> bytes);

/// True when `bytes` is valid UTF-8 without control characters other than
/// tab, newline and carriage return (so it prints safely as text). Empty is printable.
bool is_printable_text(std::span<const std::byte> bytes);

/// The 8-byte little-endian encoding pdcctl uses for --int64.
std::vector<std::byte> encode_int64(std::int64_t value);

/// Decodes an 8-byte little-endian integer; nullopt for any other size.
std::optional<std::int64_t> decode_int64(std::span<const std::byte> bytes);

/// Duration for humans with 3 significant digits: "850ns", "12.3us", "4.56ms", "1.20s".
std::string format_duration_ns(std::uint64_t ns);

/// `text`'s bytes as a byte span.
std::span<const std::byte> bytes_of(std::string_view text);

}  // namespace pdc::ctl
