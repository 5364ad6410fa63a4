// Reading a fuzzer's input field by field: a short input reads as zeros.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace pdc::fuzz {

/// The next sizeof(T) bytes of [p, p + left) as a T (zero-filled past the end).
template <typename T>
T take(const std::uint8_t*& p, std::size_t& left) {
  T v{};
  const std::size_t n = left < sizeof(T) ? left : sizeof(T);
  std::memcpy(&v, p, n);
  p += n;
  left -= n;
  return v;
}

}  // namespace pdc::fuzz
