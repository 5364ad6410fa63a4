// A small streaming JSON writer (objects, arrays, strings with full escaping,
// numbers). libpdc's C ABI and pdcctl emit JSON through it; no dependency.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pdc::detail {

/// Length of the valid UTF-8 sequence starting at text[i] (1-4), or 0 when the
/// bytes there are not valid UTF-8 (overlong forms, surrogates, > U+10FFFF).
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) noexcept;

/// Appends `text` to `out` as a quoted JSON string: escapes quotes,
/// backslashes and control characters, and replaces bytes that are not valid
/// UTF-8 with U+FFFD so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view text);

/// Builds one JSON document. Calls must nest correctly (key() before each
/// value inside an object); the writer does not check. Not thread-safe.
class json_writer {
 public:
  /// `indent` spaces per level; 0 writes compact JSON on one line.
  explicit json_writer(int indent = 0) : indent_(indent) {}

  json_writer& begin_object();
  json_writer& end_object();
  json_writer& begin_array();
  json_writer& end_array();
  /// The key of the next value in the current object.
  json_writer& key(std::string_view name);
  json_writer& string(std::string_view text);
  json_writer& number(std::uint64_t v);
  json_writer& number(std::int64_t v);
  /// Non-finite values are written as null (JSON has no NaN/Inf).
  json_writer& number(double v);
  json_writer& boolean(bool v);
  json_writer& null();

  /// key(name) followed by the value.
  template <typename T>
  json_writer& field(std::string_view name, T v) {
    key(name);
    return put(v);
  }

  /// The document so far.
  [[nodiscard]] const std::string& str() const noexcept { return out_; }

 private:
  json_writer& put(std::string_view v) { return string(v); }
  json_writer& put(const char* v) { return string(v); }
  json_writer& put(const std::string& v) { return string(v); }
  json_writer& put(bool v) { return boolean(v); }
  json_writer& put(double v) { return number(v); }
  json_writer& put(std::uint64_t v) { return number(v); }
  json_writer& put(std::uint32_t v) { return number(std::uint64_t{v}); }
  json_writer& put(std::int64_t v) { return number(v); }
  json_writer& put(std::int32_t v) { return number(std::int64_t{v}); }

  void before_value();
  void next_element();
  void newline();
  json_writer& open(char bracket);
  json_writer& close(char bracket);

  std::string out_;
  int indent_;
  std::vector<bool> empty_;  // per open container: nothing written in it yet
  bool after_key_ = false;
};

}  // namespace pdc::detail
