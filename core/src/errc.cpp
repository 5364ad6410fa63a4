#include "pdc/core/errc.hpp"

#include <iterator>

#include "pdc/errors.h"

namespace pdc {

// Every C code is the negated errc: the C headers and this enum cannot drift apart.
static_assert(PDC_OK == -static_cast<int>(errc::ok));
static_assert(PDC_E_INVALID_ARGUMENT == -static_cast<int>(errc::invalid_argument));
static_assert(PDC_E_NOT_FOUND == -static_cast<int>(errc::not_found));
static_assert(PDC_E_ALREADY_EXISTS == -static_cast<int>(errc::already_exists));
static_assert(PDC_E_ILLEGAL_STATE == -static_cast<int>(errc::illegal_state));
static_assert(PDC_E_MESSAGE_TOO_LARGE == -static_cast<int>(errc::message_too_large));
static_assert(PDC_E_FULL == -static_cast<int>(errc::full));
static_assert(PDC_E_EMPTY == -static_cast<int>(errc::empty));
static_assert(PDC_E_TIMEOUT == -static_cast<int>(errc::timeout));
static_assert(PDC_E_PEER_GONE == -static_cast<int>(errc::peer_gone));
static_assert(PDC_E_TERMINATED == -static_cast<int>(errc::terminated));
static_assert(PDC_E_PROTOCOL == -static_cast<int>(errc::protocol_error));
static_assert(PDC_E_VERSION == -static_cast<int>(errc::version_mismatch));
static_assert(PDC_E_CORRUPT_SEGMENT == -static_cast<int>(errc::corrupt_segment));
static_assert(PDC_E_SYSTEM == -static_cast<int>(errc::system_error));
static_assert(PDC_E_PLUGIN == -static_cast<int>(errc::plugin_error));
static_assert(PDC_E_PERMISSION == -static_cast<int>(errc::permission_denied));
static_assert(PDC_E_REJECTED == -static_cast<int>(errc::rejected));
static_assert(PDC_E_NOT_SUPPORTED == -static_cast<int>(errc::not_supported));
static_assert(PDC_E_SHUTTING_DOWN == -static_cast<int>(errc::shutting_down));
static_assert(PDC_E_INTERNAL == -static_cast<int>(errc::internal));
static_assert(PDC_E_DROPPED == -static_cast<int>(errc::dropped));
static_assert(PDC_E_LIMIT == -static_cast<int>(errc::limit_reached));
static_assert(PDC_E_KERNEL_RESTARTED == -static_cast<int>(errc::kernel_restarted));
static_assert(PDC_E_DAEMON_STOPPING == -static_cast<int>(errc::daemon_stopping));

namespace {
struct errc_info {
  errc code;
  std::string_view name;
  std::string_view text;
};

constexpr errc_info k_table[] = {
    {errc::ok, "ok", "success"},
    {errc::invalid_argument, "invalid_argument", "invalid argument"},
    {errc::not_found, "not_found", "not found"},
    {errc::already_exists, "already_exists", "already exists"},
    {errc::illegal_state, "illegal_state", "operation not allowed in the current state"},
    {errc::message_too_large, "message_too_large", "message larger than the configured limit"},
    {errc::full, "full", "queue full"},
    {errc::empty, "empty", "queue empty"},
    {errc::timeout, "timeout", "timed out"},
    {errc::peer_gone, "peer_gone", "peer is gone (connection closed)"},
    {errc::terminated, "terminated", "kernel terminated"},
    {errc::protocol_error, "protocol_error", "malformed or unexpected frame"},
    {errc::version_mismatch, "version_mismatch", "unsupported version"},
    {errc::corrupt_segment, "corrupt_segment", "shared-memory segment is corrupt or foreign"},
    {errc::system_error, "system_error", "system call failed"},
    {errc::plugin_error, "plugin_error", "plugin error"},
    {errc::permission_denied, "permission_denied", "permission denied"},
    {errc::rejected, "rejected", "rejected by backpressure policy (queue full)"},
    {errc::not_supported, "not_supported", "not supported"},
    {errc::shutting_down, "shutting_down", "daemon is shutting down"},
    {errc::internal, "internal", "internal error"},
    {errc::dropped, "dropped", "dropped by backpressure policy"},
    {errc::limit_reached, "limit_reached", "a configured limit of the daemon is reached"},
    {errc::kernel_restarted, "kernel_restarted", "the kernel's host process restarted; requests in flight are lost"},
    {errc::daemon_stopping, "daemon_stopping", "pdcd is stopping"},
};

// A new errc needs its PDC_E_* in pdc/errors.h, an assert above and a row here.
static_assert(std::size(k_table) == 25);

const errc_info* find(errc e) noexcept {
  for (const auto& info : k_table) {
    if (info.code == e) return &info;
  }
  return nullptr;
}
}  // namespace

std::string_view to_string(errc e) noexcept {
  const auto* info = find(e);
  return info != nullptr ? info->text : std::string_view("unknown error");
}

std::string_view name_of(errc e) noexcept {
  const auto* info = find(e);
  return info != nullptr ? info->name : std::string_view("unknown");
}

errc errc_from_int(std::int32_t v) noexcept {
  const auto e = static_cast<errc>(v);
  return find(e) != nullptr ? e : errc::internal;
}

}  // namespace pdc
