// pdc::result<T>: a value or an error (errc plus a message), without exceptions.
#pragma once

#include <cassert>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "pdc/core/errc.hpp"

namespace pdc {

/// An error: a code plus a one-line, human-readable message.
struct error {
  errc code = errc::internal;
  std::string message;

  /// Message if set, else the code's description.
  [[nodiscard]] std::string what() const { return message.empty() ? std::string(to_string(code)) : message; }
};

/// Builds an error; `msg` should be one line naming what failed and why.
inline error make_error(errc code, std::string msg = {}) {
  return error{code, std::move(msg)};
}

/// Either a T or an error. Cheap to move; never throws on access misuse in
/// release builds (asserts in debug).
template <typename T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}   // NOLINT(google-explicit-constructor)
  result(error e) : v_(std::in_place_index<1>, std::move(e)) {}       // NOLINT(google-explicit-constructor)
  result(errc code) : v_(std::in_place_index<1>, error{code, {}}) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  [[nodiscard]] const error& err() const& {
    assert(!has_value());
    return std::get<1>(v_);
  }
  [[nodiscard]] error&& err() && {
    assert(!has_value());
    return std::get<1>(std::move(v_));
  }
  [[nodiscard]] errc code() const noexcept { return has_value() ? errc::ok : std::get<1>(v_).code; }

 private:
  std::variant<T, error> v_;
};

/// result<void>: success or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(error e) : e_(std::move(e)), ok_(false) {}           // NOLINT(google-explicit-constructor)
  result(errc code) : e_{code, {}}, ok_(code == errc::ok) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  [[nodiscard]] const error& err() const& {
    assert(!ok_);
    return e_;
  }
  [[nodiscard]] error&& err() && {
    assert(!ok_);
    return std::move(e_);
  }
  [[nodiscard]] errc code() const noexcept { return ok_ ? errc::ok : e_.code; }

 private:
  error e_{};
  bool ok_ = true;
};

/// Success value for result<void>.
inline result<void> ok() {
  return {};
}

}  // namespace pdc
