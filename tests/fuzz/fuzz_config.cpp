// libFuzzer target: the configuration parser, over any text (docs/security.md,
// "Fuzzing"). Whatever the text, parse_config answers a config or an error;
// nothing escapes it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "app/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cfg = pdc::daemon::parse_config(text, "fuzz.toml");
  if (cfg) (void)pdc::daemon::validate(*cfg);
  return 0;
}
