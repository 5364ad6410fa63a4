// libFuzzer target: the envelope reader, over any record bytes a client
// could put in a ring (docs/security.md, "Fuzzing").
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "pdc/proto/envelope.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  pdc::envelope env;
  if (!pdc::read_envelope(bytes, env)) return 0;
  const auto payload = pdc::payload_of(bytes);
  // What a reader may rely on once read_envelope said yes.
  if (payload.size() != env.payload_length()) std::abort();
  if (payload.data() + payload.size() != bytes.data() + bytes.size()) std::abort();
  volatile std::uint64_t sink = env.message_id() ^ env.correlation_id() ^ env.type_id() ^ env.flags();
  (void)sink;
  return 0;
}
