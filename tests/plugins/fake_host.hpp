// A fake host table for driving plugin handlers directly in tests: what a
// kernel replies, emits, sends and logs is captured in a fake_kernel, and
// loop-style receive() pops from its inbox.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pdc/plugin.h"

namespace pdc::test {

/// One captured reply, emit or send_to.
struct output {
  std::vector<std::byte> data;
  std::uint32_t type_id = 0;
  std::uint64_t correlation_id = 0;  ///< message_id of the request (replies only)
  std::string target;                ///< kernel id (send_to only)
};

/// What a fake host knows about one kernel; its address is the pdc_kernel_ctx*.
struct fake_kernel {
  std::string id = "test-kernel";
  std::vector<output> replies;
  std::vector<output> emitted;
  std::vector<output> sent;
  std::vector<std::string> logs;
  /// Loop style: receive() pops from here; when empty it reports termination.
  std::deque<std::vector<std::byte>> inbox;
  /// Loop style: statuses receive() returns (one each) before it looks at the inbox.
  std::deque<int> receive_statuses;
  /// The timeout of the last receive(), in nanoseconds.
  std::int64_t last_timeout_ns = 0;
  std::uint64_t next_message_id = 1;
  bool active = true;
  /// Payload storage for the last receive() (the ABI lends it until the next one).
  std::vector<std::byte> receiving;

  pdc_kernel_ctx* ctx() noexcept { return reinterpret_cast<pdc_kernel_ctx*>(this); }
  static fake_kernel& of(pdc_kernel_ctx* ctx) noexcept { return *reinterpret_cast<fake_kernel*>(ctx); }

  /// True if some log line contains `text`.
  [[nodiscard]] bool logged(std::string_view text) const {
    for (const auto& l : logs) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }
  /// All log lines joined, for failure messages.
  [[nodiscard]] std::string log_text() const {
    std::string all;
    for (const auto& l : logs) all += l + "\n";
    return all;
  }
};

inline std::vector<std::byte> bytes_of(std::span<const std::byte> s) {
  return {s.begin(), s.end()};
}
inline std::vector<std::byte> bytes_of(std::string_view s) {
  return bytes_of(std::as_bytes(std::span(s.data(), s.size())));
}

/// A message over `payload` (which must outlive it), as a host would pass it.
inline pdc_message make_message(std::span<const std::byte> payload, std::uint64_t message_id,
                                std::uint32_t type_id = 0) {
  pdc_message m{};
  m.payload = payload.data();
  m.payload_len = static_cast<std::uint32_t>(payload.size());
  m.type_id = type_id;
  m.message_id = message_id;
  m.reply_to = 7;
  m.priority = 128;
  return m;
}

/// The host table (static; every function works on the fake_kernel behind ctx).
inline const pdc_host_api* fake_host() noexcept {
  static const pdc_host_api host = [] {
    pdc_host_api h{};
    h.struct_size = sizeof(pdc_host_api);
    h.abi_minor = PDC_PLUGIN_ABI_MINOR;
    h.reply = [](pdc_kernel_ctx* ctx, const pdc_message* request, const void* data, std::uint32_t len,
                 std::uint32_t type_id) {
      const auto* p = static_cast<const std::byte*>(data);
      fake_kernel::of(ctx).replies.push_back({{p, p + len}, type_id, request->message_id, {}});
      return PDC_OK;
    };
    h.emit = [](pdc_kernel_ctx* ctx, const void* data, std::uint32_t len, std::uint32_t type_id) {
      const auto* p = static_cast<const std::byte*>(data);
      fake_kernel::of(ctx).emitted.push_back({{p, p + len}, type_id, 0, {}});
      return PDC_OK;
    };
    h.send_to = [](pdc_kernel_ctx* ctx, const char* kernel_id, const void* data, std::uint32_t len,
                   std::uint32_t type_id) {
      const auto* p = static_cast<const std::byte*>(data);
      fake_kernel::of(ctx).sent.push_back({{p, p + len}, type_id, 0, kernel_id});
      return PDC_OK;
    };
    h.log = [](pdc_kernel_ctx* ctx, int /*level*/, const char* message) {
      fake_kernel::of(ctx).logs.emplace_back(message);
    };
    h.now_ns = [] { return std::uint64_t{123}; };
    h.kernel_id = [](pdc_kernel_ctx* ctx) { return fake_kernel::of(ctx).id.c_str(); };
    h.receive = [](pdc_kernel_ctx* ctx, pdc_message* out, std::int64_t timeout_ns) {
      auto& k = fake_kernel::of(ctx);
      k.last_timeout_ns = timeout_ns;
      if (!k.receive_statuses.empty()) {
        const int status = k.receive_statuses.front();
        k.receive_statuses.pop_front();
        return status;
      }
      if (k.inbox.empty()) return PDC_E_TERMINATED;
      k.receiving = std::move(k.inbox.front());
      k.inbox.pop_front();
      *out = make_message(k.receiving, k.next_message_id++);
      return PDC_OK;
    };
    h.should_terminate = [](pdc_kernel_ctx* ctx) { return fake_kernel::of(ctx).inbox.empty() ? 1 : 0; };
    h.is_active = [](pdc_kernel_ctx* ctx) { return fake_kernel::of(ctx).active ? 1 : 0; };
    return h;
  }();
  return &host;
}

/// One kernel of a pdc_kernel_type driven by hand through the fake host:
/// create on construction, destroy at the end. `keep_alive` holds whatever
/// keeps the type's code loaded (a kernel_type_ref) for as long as the kernel.
class kernel_instance {
 public:
  explicit kernel_instance(const pdc_kernel_type& type, const char* config = "",
                           std::shared_ptr<const void> keep_alive = {})
      : type_(type), keep_alive_(std::move(keep_alive)) {
    create_rc_ = type_.create == nullptr ? PDC_OK : type_.create(host.ctx(), config, &state_);
  }
  ~kernel_instance() {
    if (create_rc_ == PDC_OK && type_.destroy != nullptr) type_.destroy(state_);
  }
  kernel_instance(const kernel_instance&) = delete;
  kernel_instance& operator=(const kernel_instance&) = delete;

  [[nodiscard]] int create_rc() const { return create_rc_; }
  /// Calls on_message with `payload` as the next message.
  int send(std::span<const std::byte> payload, std::uint32_t type_id = 0) {
    const pdc_message msg = make_message(payload, host.next_message_id++, type_id);
    return type_.on_message(state_, host.ctx(), &msg);
  }
  int send(std::string_view text) { return send(std::as_bytes(std::span(text.data(), text.size()))); }
  /// Calls run (loop style); it returns when the inbox is drained.
  int run() { return type_.run(state_, host.ctx()); }
  /// The last reply's payload (empty if none).
  [[nodiscard]] std::vector<std::byte> last_reply() const {
    return host.replies.empty() ? std::vector<std::byte>{} : host.replies.back().data;
  }

  fake_kernel host;

 private:
  pdc_kernel_type type_;
  std::shared_ptr<const void> keep_alive_;
  void* state_ = nullptr;
  int create_rc_ = PDC_E_INTERNAL;
};

}  // namespace pdc::test
