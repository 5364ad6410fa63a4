#include "reply_error.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

namespace pdc::detail {

namespace {
errc code_named_by(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return errc::plugin_error;
  const auto name = text.substr(0, colon);
  for (std::int32_t v = 1; v < 256; ++v) {  // every errc this build knows (values stay small)
    const auto e = static_cast<errc>(v);
    if (name_of(e) == name) return e;
  }
  return errc::plugin_error;
}
}  // namespace

error error_of_reply(std::span<const std::byte> payload, std::string_view kernel_id) {
  std::string text(reinterpret_cast<const char*>(payload.data()), payload.size());
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  if (text.empty()) text = "kernel '" + std::string(kernel_id) + "' replied with an error";
  const errc code = code_named_by(text);
  return make_error(code, std::move(text));
}

}  // namespace pdc::detail
