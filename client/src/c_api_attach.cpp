// The C ABI over pdc::attachment (pdc_attach, pdc_attachment_*).
// Every entry point catches everything: no exception crosses into C.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>

#include "c_api_support.hpp"

namespace {

using namespace pdc::c_abi;  // NOLINT(google-build-using-namespace): the shared C ABI helpers

pdc::attach_options to_attach_options(const pdc_attach_options* o) {
  pdc::attach_options out;
  out.request_ring_bytes = PDC_FIELD_OR(pdc_attach_options, o, request_ring_bytes, 0U);
  out.reply_ring_bytes = PDC_FIELD_OR(pdc_attach_options, o, reply_ring_bytes, 0U);
  switch (PDC_FIELD_OR(pdc_attach_options, o, full_policy, PDC_FULL_KERNEL)) {
    case PDC_FULL_FAIL:
      out.full_policy = pdc::ring_full_policy::fail;
      break;
    case PDC_FULL_WAIT:
      out.full_policy = pdc::ring_full_policy::wait;
      break;
    default:
      out.full_policy = pdc::ring_full_policy::kernel;
      break;
  }
  out.full_timeout_ns =
      PDC_FIELD_OR(pdc_attach_options, o, full_timeout_ns, std::int64_t{pdc::k_attachment_full_timeout_ns});
  out.wait.spin_ns = PDC_FIELD_OR(pdc_attach_options, o, spin_ns, pdc::k_attachment_spin_ns);
  out.reattach = PDC_FIELD_OR(pdc_attach_options, o, reattach, 0U) != 0;
  return out;
}

std::span<const std::byte> payload_of(const void* data, std::size_t size) noexcept {
  return {static_cast<const std::byte*>(data), size};
}

int attach(pdc_client* client, const char* kernel_id, const pdc_attach_options* options, pdc_attachment** out) {
  if (out != nullptr) *out = nullptr;
  return guarded(client, [&] {
    if (out == nullptr) return fail(client, pdc::errc::invalid_argument, "out is NULL");
    const int32_t policy = PDC_FIELD_OR(pdc_attach_options, options, full_policy, PDC_FULL_KERNEL);
    if (policy != PDC_FULL_WAIT && policy != PDC_FULL_FAIL && policy != PDC_FULL_KERNEL) {
      return fail(client, pdc::errc::invalid_argument, "full_policy is not a PDC_FULL_* value");
    }
    auto r = client->session.attach(text_or_empty(kernel_id), to_attach_options(options));
    if (!r) return fail(client, r.err());
    *out = new pdc_attachment(std::move(r).value());
    return PDC_OK;
  });
}

// A receiving call while pdc_attachment_peek's message is out: refused.
int refuse_while_peeked(pdc_attachment* a) {
  return fail(a, pdc::errc::illegal_state, "a peeked message is not released yet (pdc_attachment_release)");
}

// pdc_attachment_receive_many's copy-out, run by attachment::poll_with.
struct many_sink {
  pdc_attachment* handle;
  std::byte* buf;
  std::size_t capacity;
  std::size_t used = 0;
  std::size_t* sizes;
  pdc_message_info* infos;
  std::size_t count = 0;
  std::size_t needed = 0;  // size of the message that did not fit
};
struct no_room {};  // thrown from the callback: poll_with leaves that message in place

void copy_out(void* context, const pdc::envelope& env, std::span<const std::byte> payload) {
  auto& sink = *static_cast<many_sink*>(context);
  if (payload.size() > sink.capacity - sink.used) {
    sink.needed = payload.size();
    throw no_room{};
  }
  if (!payload.empty()) std::memcpy(sink.buf + sink.used, payload.data(), payload.size());
  sink.used += payload.size();
  sink.sizes[sink.count] = payload.size();
  if (sink.infos != nullptr) fill_info(sink.handle, env, sink.handle->link.kernel_id(), &sink.infos[sink.count]);
  ++sink.count;
}

// pdc_attachment_poll's bridge from the C++ callback to the caller's.
struct poll_bridge {
  pdc_attachment* handle;
  pdc_message_fn fn;
  void* context;
};

void call_c(void* context, const pdc::envelope& env, std::span<const std::byte> payload) {
  auto& bridge = *static_cast<poll_bridge*>(context);
  pdc_message_info info{};
  info.struct_size = sizeof info;
  fill_info(bridge.handle, env, bridge.handle->link.kernel_id(), &info);
  bridge.fn(bridge.context, payload.data(), payload.size(), &info);
}

}  // namespace

extern "C" {

void pdc_attach_options_init(pdc_attach_options* options) {
  if (options == nullptr) return;
  *options = pdc_attach_options{};
  options->struct_size = sizeof(pdc_attach_options);
  options->full_policy = PDC_FULL_KERNEL;
  options->full_timeout_ns = pdc::k_attachment_full_timeout_ns;
  options->spin_ns = pdc::k_attachment_spin_ns;
}

int pdc_attach(pdc_client* client, const char* kernel_id, const pdc_attach_options* options, pdc_attachment** out) {
  return attach(client, kernel_id, options, out);
}

const char* pdc_attachment_last_error(const pdc_attachment* attachment) {
  return attachment != nullptr ? attachment->last_error.c_str() : "";
}

uint64_t pdc_attachment_id(const pdc_attachment* attachment) {
  return attachment != nullptr ? attachment->link.id() : 0;
}

uint32_t pdc_attachment_max_message_bytes(const pdc_attachment* attachment) {
  return attachment != nullptr ? attachment->link.max_message_bytes() : 0;
}

int pdc_attachment_send(pdc_attachment* attachment, const void* data, size_t size, const pdc_send_options* options,
                        uint64_t* message_id) {
  return guarded(attachment, [&] {
    if (data == nullptr && size != 0) return fail(attachment, pdc::errc::invalid_argument, "data is NULL");
    auto r = attachment->link.send(payload_of(data, size), to_send_options(options));
    if (!r) return fail(attachment, r.err());
    if (message_id != nullptr) *message_id = *r;
    return PDC_OK;
  });
}

int pdc_attachment_receive(pdc_attachment* attachment, int64_t timeout_ns, void* buf, size_t* size,
                           pdc_message_info* info) {
  return guarded(attachment, [&] {
    if (size == nullptr) return fail(attachment, pdc::errc::invalid_argument, "size is NULL");
    if (attachment->held_peeked) return refuse_while_peeked(attachment);
    if (attachment->held) {
      auto m = std::move(*attachment->held);
      attachment->held.reset();
      return deliver(attachment, std::move(m), buf, size, info);
    }
    auto r = attachment->link.receive(timeout_ns);
    if (!r) return fail(attachment, r.err());
    return deliver(attachment, std::move(r).value(), buf, size, info);
  });
}

int pdc_attachment_request(pdc_attachment* attachment, const void* data, size_t size, const pdc_send_options* options,
                           int64_t timeout_ns, void* reply, size_t* reply_size, pdc_message_info* info) {
  return guarded(attachment, [&] {
    if (reply_size == nullptr) return fail(attachment, pdc::errc::invalid_argument, "reply_size is NULL");
    if (data == nullptr && size != 0) return fail(attachment, pdc::errc::invalid_argument, "data is NULL");
    if (attachment->held_peeked) return refuse_while_peeked(attachment);
    auto r = attachment->link.request(payload_of(data, size), timeout_ns, to_send_options(options));
    if (!r) return fail(attachment, r.err());
    return deliver(attachment, std::move(r).value(), reply, reply_size, info);
  });
}

int pdc_attachment_begin_send(pdc_attachment* attachment, size_t payload_bytes, const pdc_send_options* options,
                              void** payload, uint64_t* message_id) {
  if (payload != nullptr) *payload = nullptr;
  return guarded(attachment, [&] {
    if (payload == nullptr) return fail(attachment, pdc::errc::invalid_argument, "payload is NULL");
    auto slot = attachment->link.begin_send(payload_bytes, to_send_options(options));
    if (!slot) return fail(attachment, slot.err());
    *payload = slot->payload.data();
    if (message_id != nullptr) *message_id = slot->message_id;
    return PDC_OK;
  });
}

int pdc_attachment_flush(pdc_attachment* attachment) {
  return guarded(attachment, [&] {
    attachment->link.flush();
    return PDC_OK;
  });
}

int pdc_attachment_send_many(pdc_attachment* attachment, const void* data, const size_t* sizes, size_t count,
                             const pdc_send_options* options, size_t* sent) {
  if (sent != nullptr) *sent = 0;
  return guarded(attachment, [&] {
    if (count > 0 && sizes == nullptr) return fail(attachment, pdc::errc::invalid_argument, "sizes is NULL");
    if (count > 0 && data == nullptr) {
      for (size_t i = 0; i < count; ++i) {
        if (sizes[i] != 0) return fail(attachment, pdc::errc::invalid_argument, "data is NULL");
      }
    }
    const auto opts = to_send_options(options);
    const auto* from = static_cast<const std::byte*>(data);
    size_t i = 0;
    int rc = PDC_OK;
    for (; i < count; ++i) {
      auto slot = attachment->link.begin_send(sizes[i], opts);
      if (!slot) {
        rc = fail(attachment, slot.err());
        break;
      }
      if (sizes[i] != 0) std::memcpy(slot->payload.data(), from, sizes[i]);
      from += sizes[i];
    }
    attachment->link.flush();  // one commit for the whole batch (and for what came before an error)
    if (sent != nullptr) *sent = i;
    return rc;
  });
}

int pdc_attachment_receive_many(pdc_attachment* attachment, int64_t timeout_ns, void* buf, size_t buf_size,
                                size_t* sizes, pdc_message_info* infos, size_t max_messages, size_t* count) {
  if (count != nullptr) *count = 0;
  return guarded(attachment, [&] {
    if (count == nullptr || sizes == nullptr) {
      return fail(attachment, pdc::errc::invalid_argument, "sizes or count is NULL");
    }
    if (buf == nullptr && buf_size != 0) return fail(attachment, pdc::errc::invalid_argument, "buf is NULL");
    if (attachment->held_peeked) return refuse_while_peeked(attachment);
    if (max_messages == 0) return PDC_OK;
    many_sink sink{attachment, static_cast<std::byte*>(buf), buf_size, 0, sizes, infos};
    // A message an earlier receive could not hand over comes first.
    if (attachment->held) {
      const auto& m = *attachment->held;
      if (m.payload.size() > buf_size) {
        sizes[0] = m.payload.size();
        return fail(
            attachment, pdc::errc::message_too_large,
            ("buffer too small: the next message needs " + std::to_string(m.payload.size()) + " bytes").c_str());
      }
      copy_out(&sink, m.env, m.payload);
      attachment->held.reset();
    }
    pdc::result<std::size_t> r{std::size_t{0}};
    try {
      r = attachment->link.poll_with(&copy_out, &sink, max_messages - sink.count, sink.count == 0 ? timeout_ns : 0);
    } catch (const no_room&) {
      // That message stays in place for the next call.
      if (sink.count == 0) {
        sizes[0] = sink.needed;
        return fail(attachment, pdc::errc::message_too_large,
                    ("buffer too small: the next message needs " + std::to_string(sink.needed) + " bytes").c_str());
      }
      *count = sink.count;
      return PDC_OK;
    }
    *count = sink.count;
    if (sink.count > 0) return PDC_OK;  // an error after some messages is reported by the next call
    if (!r) return fail(attachment, r.err());
    return fail(attachment, pdc::errc::timeout, "no message within the timeout");
  });
}

int pdc_attachment_poll(pdc_attachment* attachment, pdc_message_fn fn, void* context, size_t max_messages,
                        int64_t timeout_ns, size_t* handled) {
  if (handled != nullptr) *handled = 0;
  return guarded(attachment, [&] {
    if (fn == nullptr) return fail(attachment, pdc::errc::invalid_argument, "fn is NULL");
    if (attachment->held_peeked) return refuse_while_peeked(attachment);
    size_t n = 0;
    poll_bridge bridge{attachment, fn, context};
    if (attachment->held && max_messages > 0) {
      auto m = std::move(*attachment->held);
      attachment->held.reset();
      call_c(&bridge, m.env, m.payload);
      ++n;
    }
    if (n < max_messages) {
      auto r = attachment->link.poll_with(&call_c, &bridge, max_messages - n, n == 0 ? timeout_ns : 0);
      if (!r) {
        if (n == 0) return fail(attachment, r.err());
      } else {
        n += *r;
      }
    }
    if (handled != nullptr) *handled = n;
    return PDC_OK;
  });
}

int pdc_attachment_peek(pdc_attachment* attachment, int64_t timeout_ns, const void** payload, size_t* size,
                        pdc_message_info* info) {
  if (payload != nullptr) *payload = nullptr;
  return guarded(attachment, [&] {
    if (payload == nullptr || size == nullptr) {
      return fail(attachment, pdc::errc::invalid_argument, "payload or size is NULL");
    }
    if (attachment->held_peeked) return refuse_while_peeked(attachment);
    if (attachment->held) {
      const auto& m = *attachment->held;
      attachment->held_peeked = true;
      *payload = m.payload.data();
      *size = m.payload.size();
      fill_info(attachment, m.env, m.kernel_id, info);
      return PDC_OK;
    }
    auto r = attachment->link.peek(timeout_ns);
    if (!r) return fail(attachment, r.err());
    *payload = r->payload.data();
    *size = r->payload.size();
    fill_info(attachment, r->env, attachment->link.kernel_id(), info);
    return PDC_OK;
  });
}

int pdc_attachment_wait_fd(const pdc_attachment* attachment) {
  return attachment != nullptr ? attachment->link.wait_fd() : -1;
}

int pdc_attachment_arm(pdc_attachment* attachment) {
  return guarded(attachment, [&] {
    if (attachment->held_peeked) return refuse_while_peeked(attachment);
    if (attachment->held) return 1;  // a message that did not fit waits for the next receive
    auto r = attachment->link.arm();
    if (!r) return fail(attachment, r.err());
    return *r ? PDC_OK : 1;
  });
}

int pdc_attachment_release(pdc_attachment* attachment) {
  return guarded(attachment, [&] {
    if (attachment->held_peeked) {
      attachment->held.reset();
      attachment->held_peeked = false;
      return PDC_OK;
    }
    attachment->link.release();
    return PDC_OK;
  });
}

int pdc_attachment_detach(pdc_attachment* attachment) {
  return guarded(attachment, [&] { return status_of(attachment, attachment->link.detach()); });
}

void pdc_attachment_close(pdc_attachment* attachment) {
  delete attachment;  // ~attachment is noexcept: closes the rings and unmaps
}

}  // extern "C"
