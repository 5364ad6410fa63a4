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

namespace {

using namespace pdc::daemon;

class fuzz_port final : public request_port, public std::enable_shared_from_this<fuzz_port> {
 public:
  [[nodiscard]] std::uint64_t session_id() const noexcept override { return 1; }
  [[nodiscard]] const peer_credentials& peer() const noexcept override { return who; }
  void send(flatbuffers::DetachedBuffer frame, std::vector<int> fds) override {
    for (int fd : fds) ::close(fd);
    frames += frame.size() != 0 ? 1 : 0;
  }
  void hold_send(std::shared_ptr<kernel> /*k*/, pdc::daemon::queued_message /*m*/, std::uint64_t /*rid*/,
                 bool /*ack*/) override {}
  void attached(std::uint64_t attachment_id, std::weak_ptr<kernel> k) override {
    attachments.emplace_back(attachment_id, std::move(k));
  }
  bool detach(std::uint64_t attachment_id) override {
    for (auto it = attachments.begin(); it != attachments.end(); ++it) {
      if (it->first != attachment_id) continue;
      if (auto k = it->second.lock()) k->detach(attachment_id);
      attachments.erase(it);
      return true;
    }
    return false;
  }
  [[nodiscard]] std::size_t attachment_count() const noexcept override { return attachments.size(); }
  [[nodiscard]] std::string& pending_text() noexcept override { return text; }
  [[nodiscard]] std::weak_ptr<request_port> weak_port() override { return weak_from_this(); }

  peer_credentials who{0, 0, 1, {}, true};
  std::size_t frames = 0;
  std::string text;
  std::vector<std::pair<std::uint64_t, std::weak_ptr<kernel>>> attachments;
};

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
  std::shared_ptr<fuzz_port> port = std::make_shared<fuzz_port>();
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static world w;
  if (size < 1) return 0;
  w.port->who.admin = (data[0] & 1) != 0;
  w.port->who.uid = w.port->who.admin ? 0 : 4242;
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
  return 0;
}
