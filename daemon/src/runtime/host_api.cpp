#include "runtime/host_api.hpp"

#include <span>

#include "pdc/core/clock.hpp"
#include "runtime/agent.hpp"
#include "runtime/kernel.hpp"

namespace pdc::daemon {

namespace {

std::span<const std::byte> bytes(const void* data, std::uint32_t len) noexcept {
  return {static_cast<const std::byte*>(data), len};
}

// The agent a call comes from; null for create()'s context or a bad pointer.
agent* caller(pdc_kernel_ctx* ctx) noexcept {
  return ctx == nullptr ? nullptr : ctx->agent;
}

int api_reply(pdc_kernel_ctx* ctx, const pdc_message* request, const void* data, std::uint32_t len,
              std::uint32_t type_id) {
  if (data == nullptr && len != 0) return PDC_E_INVALID_ARGUMENT;
  agent* a = caller(ctx);
  return a == nullptr ? PDC_E_NOT_SUPPORTED : a->reply(request, bytes(data, len), type_id);
}

int api_emit(pdc_kernel_ctx* ctx, const void* data, std::uint32_t len, std::uint32_t type_id) {
  if (data == nullptr && len != 0) return PDC_E_INVALID_ARGUMENT;
  agent* a = caller(ctx);
  return a == nullptr ? PDC_E_NOT_SUPPORTED : a->emit(bytes(data, len), type_id);
}

int api_send_to(pdc_kernel_ctx* ctx, const char* target, const void* data, std::uint32_t len, std::uint32_t type_id) {
  if (data == nullptr && len != 0) return PDC_E_INVALID_ARGUMENT;
  agent* a = caller(ctx);
  return a == nullptr ? PDC_E_NOT_SUPPORTED : a->send_to(target, bytes(data, len), type_id);
}

void api_log(pdc_kernel_ctx* ctx, int level, const char* message) {
  if (ctx == nullptr || ctx->kernel == nullptr || message == nullptr) return;
  if (level >= PDC_LOG_ERROR) ctx->kernel->set_error(message);
  ctx->kernel->host().log(*ctx->kernel, level, message);
}

std::uint64_t api_now_ns() {
  return now_ns();
}

const char* api_kernel_id(pdc_kernel_ctx* ctx) {
  return ctx == nullptr || ctx->kernel == nullptr ? "" : ctx->kernel->id().c_str();
}

int api_receive(pdc_kernel_ctx* ctx, pdc_message* out, std::int64_t timeout_ns) {
  agent* a = caller(ctx);
  if (a == nullptr || !a->owner().type().is_loop()) return PDC_E_NOT_SUPPORTED;
  return a->receive(out, timeout_ns);
}

int api_should_terminate(pdc_kernel_ctx* ctx) {
  agent* a = caller(ctx);
  if (a == nullptr) return ctx == nullptr || ctx->kernel == nullptr || ctx->kernel->stopping() ? 1 : 0;
  return a->should_terminate() ? 1 : 0;
}

int api_is_active(pdc_kernel_ctx* ctx) {
  return ctx != nullptr && ctx->kernel != nullptr && ctx->kernel->state() == kernel_state::active ? 1 : 0;
}

const pdc_host_api k_host_api{
    sizeof(pdc_host_api),
    PDC_PLUGIN_ABI_MINOR,
    api_reply,
    api_emit,
    api_send_to,
    api_log,
    api_now_ns,
    api_kernel_id,
    api_receive,
    api_should_terminate,
    api_is_active,
};

}  // namespace

const pdc_host_api* host_api_table() noexcept {
  return &k_host_api;
}

}  // namespace pdc::daemon
