// What the C ABI's source files share: the handle types behind the opaque
// pointers of pdc/pdc.h, and the guards and conversions every entry uses.
// Internal to libpdc.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "pdc/client.hpp"
#include "pdc/pdc.h"

struct pdc_client {
  explicit pdc_client(pdc::client c) noexcept : session(std::move(c)) {}

  pdc::client session;
  std::string last_error;
  std::optional<pdc::received_message> held;  // received but not yet handed out (buffer was too small)
  std::string info_kernel_id;                 // storage behind pdc_message_info.kernel_id
};

struct pdc_attachment {
  explicit pdc_attachment(pdc::attachment a) noexcept : link(std::move(a)) {}

  pdc::attachment link;
  std::string last_error;
  std::optional<pdc::received_message> held;  // as in pdc_client
  bool held_peeked = false;                   // pdc_attachment_peek handed out `held`'s payload
  std::string info_kernel_id;
};

// Helpers below work on either handle (they use last_error, held, info_kernel_id).
namespace pdc::c_abi {

inline int code_of(pdc::errc e) noexcept {
  return -static_cast<int>(e);
}

template <typename Handle>
int fail(Handle* c, const pdc::error& e) noexcept {
  try {
    if (c != nullptr) c->last_error = e.what();
  } catch (...) {  // out of memory for the message: keep the code
  }
  return code_of(e.code);
}

template <typename Handle>
int fail(Handle* c, pdc::errc code, const char* message) noexcept {
  return fail(c, pdc::error{code, message});
}

// Runs `body` (returning a PDC code) with every exception turned into a code.
template <typename Handle, typename Body>
int guarded(Handle* c, Body&& body) noexcept {
  try {
    if (c == nullptr) return code_of(pdc::errc::invalid_argument);
    c->last_error.clear();
    return body();
  } catch (const std::bad_alloc&) {
    return fail(c, pdc::errc::system_error, "out of memory");
  } catch (...) {
    return fail(c, pdc::errc::internal, "unexpected exception in libpdc");
  }
}

template <typename Handle, typename T>
int status_of(Handle* c, const pdc::result<T>& r) noexcept {
  return r ? PDC_OK : fail(c, r.err());
}

// A caller's struct may be older (smaller) than ours: read a field only when
// its struct_size covers it, else use the default.
#define PDC_FIELD_OR(type, ptr, field, fallback) \
  (((ptr) != nullptr && offsetof(type, field) + sizeof((ptr)->field) <= (ptr)->struct_size) ? (ptr)->field : (fallback))

// Writes a field of a caller's struct only when its struct_size covers it.
#define PDC_FIELD_SET(type, ptr, field, value)                                                      \
  do {                                                                                              \
    if (offsetof(type, field) + sizeof((ptr)->field) <= (ptr)->struct_size) (ptr)->field = (value); \
  } while (false)

inline pdc::send_options to_send_options(const pdc_send_options* o) {
  pdc::send_options out;
  out.type_id = PDC_FIELD_OR(pdc_send_options, o, type_id, 0U);
  out.priority = static_cast<std::uint8_t>(
      PDC_FIELD_OR(pdc_send_options, o, priority, std::uint32_t{PDC_DEFAULT_PRIORITY}) & 0xFFU);
  out.ack = PDC_FIELD_OR(pdc_send_options, o, ack, 1) != 0;
  out.no_reply = PDC_FIELD_OR(pdc_send_options, o, no_reply, 0) != 0;
  return out;
}

inline std::string_view text_or_empty(const char* s) noexcept {
  return s != nullptr ? std::string_view(s) : std::string_view();
}

template <typename Handle>
void fill_info(Handle* c, const pdc::received_message& m, pdc_message_info* info) {
  c->info_kernel_id = m.kernel_id;
  if (info == nullptr) return;
  PDC_FIELD_SET(pdc_message_info, info, message_id, m.env.message_id());
  PDC_FIELD_SET(pdc_message_info, info, correlation_id, m.env.correlation_id());
  PDC_FIELD_SET(pdc_message_info, info, send_timestamp_ns, m.env.send_timestamp_ns());
  PDC_FIELD_SET(pdc_message_info, info, type_id, m.env.type_id());
  PDC_FIELD_SET(pdc_message_info, info, flags, m.env.flags());
  PDC_FIELD_SET(pdc_message_info, info, priority, m.env.priority());
  PDC_FIELD_SET(pdc_message_info, info, kernel_id, c->info_kernel_id.c_str());
}

// The envelope fields of a message of kernel `kernel_id` into `info`.
template <typename Handle>
void fill_info(Handle* c, const pdc::envelope& env, const std::string& kernel_id, pdc_message_info* info) {
  if (info == nullptr) return;
  if (c->info_kernel_id != kernel_id) c->info_kernel_id = kernel_id;
  PDC_FIELD_SET(pdc_message_info, info, message_id, env.message_id());
  PDC_FIELD_SET(pdc_message_info, info, correlation_id, env.correlation_id());
  PDC_FIELD_SET(pdc_message_info, info, send_timestamp_ns, env.send_timestamp_ns());
  PDC_FIELD_SET(pdc_message_info, info, type_id, env.type_id());
  PDC_FIELD_SET(pdc_message_info, info, flags, env.flags());
  PDC_FIELD_SET(pdc_message_info, info, priority, env.priority());
  PDC_FIELD_SET(pdc_message_info, info, kernel_id, c->info_kernel_id.c_str());
}

// Hands `m` to the caller's buffer, or holds it when the buffer is too small.
template <typename Handle>
int deliver(Handle* c, pdc::received_message m, void* buf, std::size_t* size, pdc_message_info* info) {
  const std::size_t needed = m.payload.size();
  if (*size < needed || (needed > 0 && buf == nullptr)) {
    *size = needed;
    c->held = std::move(m);
    return fail(c, pdc::errc::message_too_large,
                ("buffer too small: the message needs " + std::to_string(needed) + " bytes").c_str());
  }
  if (needed > 0) std::memcpy(buf, m.payload.data(), needed);
  *size = needed;
  fill_info(c, m, info);
  return PDC_OK;
}

// Copies `text` NUL-terminated into buf, or reports the size needed.
template <typename Handle>
int copy_text(Handle* c, const std::string& text, char* buf, std::size_t* size) {
  if (buf == nullptr || *size < text.size() + 1) {
    *size = text.size() + 1;
    return fail(c, pdc::errc::message_too_large,
                ("buffer too small: " + std::to_string(text.size() + 1) + " bytes needed").c_str());
  }
  std::memcpy(buf, text.c_str(), text.size() + 1);
  *size = text.size();
  return PDC_OK;
}

}  // namespace pdc::c_abi
