// Payload helpers shared by the tests that talk to a real pdcd through libpdc.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "pdc/client.hpp"

namespace pdc::test {

/// The bytes of `s` (no terminating NUL), as a payload.
inline std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

/// A message's payload as text.
inline std::string text(const received_message& m) {
  return {reinterpret_cast<const char*>(m.payload.data()), m.payload.size()};
}

}  // namespace pdc::test
