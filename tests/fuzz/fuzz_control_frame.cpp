// libFuzzer target: a control frame, verified and dispatched against a real
// registry with the echo plugin loaded and an echo kernel running
// (docs/security.md, "Fuzzing"). The first byte picks who asks (bit 0: an
// administrator or not); the rest is the frame. Small limits keep what a
// frame may launch bounded across runs.
#include <flatbuffers/flatbuffers.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "runtime/registry.hpp"
#include "server/dispatch.hpp"
#include "unit/fake_port.hpp"

namespace {

using namespace pdc::daemon;

struct world {
  world() {
    spdlog::set_level(spdlog::level::off);
    cfg.plugin_dirs = {PDC_FUZZ_KERNELS_DIR};
    cfg.limits.max_kernels = 8;
    cfg.limits.max_kernel_threads = 4;
    cfg.limits.max_attachments = 8;
    cfg.limits.max_attachments_per_session = 4;
    cfg.drain_timeout_ms = 10;
    reg = std::make_unique<registry>(io, cfg);
    (void)reg->load_plugin("pdc_echo.so");
    launch_request r;
    r.kernel_type = "echo";
    r.kernel_id = "e";
    r.capacity = 16;
    r.max_message_bytes = 1024;
    (void)reg->launch(r);
    (void)reg->activate("e");
  }
  asio::io_context io;
  daemon_config cfg;
  std::unique_ptr<registry> reg;
  std::shared_ptr<fake_port> port = std::make_shared<fake_port>();
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static world w;
  if (size < 1) return 0;
  w.port->credentials.admin = (data[0] & 1) != 0;
  w.port->credentials.uid = w.port->credentials.admin ? 0 : 4242;
  w.port->frames.clear();
  w.port->held.clear();
  // Aligned, as the session's receive buffer is.
  static std::vector<std::uint8_t> rx;
  rx.assign(data + 1, data + size);
  const std::uint8_t* frame = rx.data();
  const std::size_t n = rx.size();
  // As the session does: verified before anything reads it.
  flatbuffers::Verifier verifier(frame, n, 64, 100000);
  if (n == 0 || !pdc::wire::VerifyRequestBuffer(verifier)) return 0;
  dispatch(*w.reg, *w.port, *pdc::wire::GetRequest(frame));
  w.io.restart();
  w.io.poll();  // the control thread's follow-ups (deliveries, terminates)
  // Each input starts from the same connection state.
  while (!w.port->attachments.empty()) w.port->detach(w.port->attachments.front().first);
  return 0;
}
