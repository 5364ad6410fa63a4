// The C ABI over pdc::attachment (pdc_attach, pdc_attachment_*).
// Every entry point catches everything: no exception crosses into C.
#include <cstddef>
#include <cstdint>
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
    auto r = attachment->link.request(payload_of(data, size), timeout_ns, to_send_options(options));
    if (!r) return fail(attachment, r.err());
    return deliver(attachment, std::move(r).value(), reply, reply_size, info);
  });
}

int pdc_attachment_detach(pdc_attachment* attachment) {
  return guarded(attachment, [&] { return status_of(attachment, attachment->link.detach()); });
}

void pdc_attachment_close(pdc_attachment* attachment) {
  delete attachment;  // ~attachment is noexcept: closes the rings and unmaps
}

}  // extern "C"
