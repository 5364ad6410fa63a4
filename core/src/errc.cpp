#include "pdc/core/errc.hpp"

namespace pdc {

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
};

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
