#include "format.hpp"

#include <array>
#include <charconv>
#include <cstring>

#include "json_writer.hpp"

namespace pdc::ctl {

namespace {
int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_separator(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ':' || c == '-';
}
}  // namespace

result<std::vector<std::byte>> parse_hex(std::string_view text) {
  std::size_t start = 0;
  if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) start = 2;
  std::vector<std::byte> out;
  out.reserve(text.size() / 2);
  int high = -1;  // first digit of a pending byte
  for (std::size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (is_separator(c) && high < 0) continue;
    const int v = hex_value(c);
    if (v < 0) {
      return make_error(errc::invalid_argument,
                        "invalid hex: unexpected '" + std::string(1, c) + "' at position " + std::to_string(i));
    }
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::byte>((high << 4) | v));
      high = -1;
    }
  }
  if (high >= 0) return make_error(errc::invalid_argument, "invalid hex: odd number of digits");
  return out;
}

std::string to_hex(std::span<const std::byte> bytes) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const std::byte b : bytes) {
    const auto v = std::to_integer<unsigned>(b);
    out += k_digits[v >> 4U];
    out += k_digits[v & 0xFU];
  }
  return out;
}

bool is_printable_text(std::span<const std::byte> bytes) {
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
    if (c == 0x7F) return false;
    const std::size_t len = detail::utf8_sequence_length(text, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::vector<std::byte> encode_int64(std::int64_t value) {
  std::vector<std::byte> out(8);
  auto u = static_cast<std::uint64_t>(value);
  for (auto& b : out) {
    b = static_cast<std::byte>(u & 0xFFU);
    u >>= 8U;
  }
  return out;
}

std::optional<std::int64_t> decode_int64(std::span<const std::byte> bytes) {
  if (bytes.size() != 8) return std::nullopt;
  std::uint64_t u = 0;
  for (std::size_t i = 8; i-- > 0;) u = (u << 8U) | std::to_integer<std::uint64_t>(bytes[i]);
  return static_cast<std::int64_t>(u);
}

std::string format_duration_ns(std::uint64_t ns) {
  if (ns < 1000) return std::to_string(ns) + "ns";
  struct unit {
    double scale;
    const char* suffix;
  };
  static constexpr std::array<unit, 3> k_units{{{1e3, "us"}, {1e6, "ms"}, {1e9, "s"}}};
  const auto value = static_cast<double>(ns);
  unit chosen = k_units[0];
  for (const auto& u : k_units) {
    if (value >= u.scale) chosen = u;
  }
  const double scaled = value / chosen.scale;
  const int precision = scaled >= 100.0 ? 0 : (scaled >= 10.0 ? 1 : 2);
  std::array<char, 32> buf{};
  // Rounding can reach the next unit's 1000 (999.7us -> "1000us"): acceptable for a table.
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), scaled, std::chars_format::fixed, precision);
  return std::string(buf.data(), r.ptr) + chosen.suffix;
}

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

}  // namespace pdc::ctl
