// The C ABI over pdc::client. Every entry point catches everything: no
// exception crosses into C.
#include <cstddef>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <utility>

#include "c_api_support.hpp"
#include "json_render.hpp"

namespace {

using namespace pdc::c_abi;  // NOLINT(google-build-using-namespace): the shared C ABI helpers

thread_local std::string t_connect_error;

int open_handle(pdc::result<pdc::client> r, pdc_client** out) {
  if (!r) {
    t_connect_error = r.err().what();
    return code_of(r.code());
  }
  *out = new pdc_client(std::move(r).value());
  return PDC_OK;
}

// The same guard for functions without a handle yet.
template <typename Body>
int guarded_open(pdc_client** out, Body&& body) noexcept {
  try {
    if (out == nullptr) return code_of(pdc::errc::invalid_argument);
    *out = nullptr;
    t_connect_error.clear();
    return body();
  } catch (...) {
    try {
      t_connect_error = "out of memory or unexpected exception in libpdc";
    } catch (...) {
    }
    return code_of(pdc::errc::internal);
  }
}

}  // namespace

extern "C" {

const char* pdc_strerror(int code) {
  const auto value = static_cast<std::int32_t>(code < 0 ? -static_cast<std::int64_t>(code) : code);
  const auto e = static_cast<pdc::errc>(value);
  if (pdc::name_of(e) == "unknown") return "unknown error code";
  return pdc::to_string(e).data();  // string literals: NUL-terminated, static
}

const char* pdc_last_error(const pdc_client* client) {
  if (client == nullptr) return t_connect_error.c_str();
  return client->last_error.c_str();
}

int pdc_connect(const char* socket_path, pdc_client** out) {
  return guarded_open(out,
                      [&] { return open_handle(pdc::client::connect(std::string(text_or_empty(socket_path))), out); });
}

void pdc_connect_options_init(pdc_connect_options* options) {
  if (options == nullptr) return;
  *options = pdc_connect_options{};
  options->struct_size = sizeof(pdc_connect_options);
  const pdc::reconnect_options defaults;
  options->initial_backoff_ns = defaults.initial_backoff_ns;
  options->max_backoff_ns = defaults.max_backoff_ns;
}

int pdc_connect_with(const char* socket_path, const pdc_connect_options* options, pdc_client** out) {
  return guarded_open(out, [&] {
    pdc::connect_options o;
    const pdc::reconnect_options defaults;
    const char* name = PDC_FIELD_OR(pdc_connect_options, options, client_name, nullptr);
    if (name != nullptr) o.client_name = name;
    o.reconnect.enabled = PDC_FIELD_OR(pdc_connect_options, options, reconnect, 0U) != 0;
    o.reconnect.wait = PDC_FIELD_OR(pdc_connect_options, options, reconnect_wait, 0U) != 0;
    o.reconnect.initial_backoff_ns =
        PDC_FIELD_OR(pdc_connect_options, options, initial_backoff_ns, defaults.initial_backoff_ns);
    o.reconnect.max_backoff_ns = PDC_FIELD_OR(pdc_connect_options, options, max_backoff_ns, defaults.max_backoff_ns);
    return open_handle(pdc::client::connect(std::string(text_or_empty(socket_path)), o), out);
  });
}

int pdc_adopt(int fd, pdc_client** out) {
  return guarded_open(out, [&] { return open_handle(pdc::client::adopt(fd), out); });
}

void pdc_close(pdc_client* client) {
  delete client;
}

uint64_t pdc_session_id(const pdc_client* client) {
  return client != nullptr ? client->session.session_id() : 0;
}

uint32_t pdc_max_message_bytes(const pdc_client* client) {
  return client != nullptr ? client->session.max_message_bytes() : 0;
}

int pdc_plugin_load(pdc_client* client, const char* path) {
  return guarded(client, [&] { return status_of(client, client->session.plugin_load(text_or_empty(path))); });
}

int pdc_plugin_unload(pdc_client* client, const char* name) {
  return guarded(client, [&] { return status_of(client, client->session.plugin_unload(text_or_empty(name))); });
}

void pdc_launch_options_init(pdc_launch_options* options) {
  if (options == nullptr) return;
  *options = pdc_launch_options{};
  options->struct_size = sizeof(pdc_launch_options);
  options->tier = PDC_TIER_ASYNC;
  options->backpressure = PDC_BACKPRESSURE_BLOCK;
  options->cpu = -1;
  options->latency_metrics = 1;
}

int pdc_launch(pdc_client* client, const pdc_launch_options* options) {
  return guarded(client, [&] {
    if (options == nullptr) return fail(client, pdc::errc::invalid_argument, "launch options are NULL");
    const int32_t tier = PDC_FIELD_OR(pdc_launch_options, options, tier, PDC_TIER_ASYNC);
    const int32_t policy = PDC_FIELD_OR(pdc_launch_options, options, backpressure, PDC_BACKPRESSURE_BLOCK);
    auto t = pdc::tier_from_value(static_cast<std::uint32_t>(tier));
    if (tier < 0 || !t) return fail(client, pdc::errc::invalid_argument, "tier is not a PDC_TIER_* value");
    auto p = pdc::backpressure_from_value(static_cast<std::uint32_t>(policy));
    if (policy < 0 || !p) {
      return fail(client, pdc::errc::invalid_argument, "backpressure is not a PDC_BACKPRESSURE_* value");
    }
    pdc::launch_options o;
    o.kernel_type = text_or_empty(PDC_FIELD_OR(pdc_launch_options, options, kernel_type, nullptr));
    o.kernel_id = text_or_empty(PDC_FIELD_OR(pdc_launch_options, options, kernel_id, nullptr));
    o.tier = *t;
    o.capacity = PDC_FIELD_OR(pdc_launch_options, options, capacity, 0U);
    o.backpressure = *p;
    o.max_message_bytes = PDC_FIELD_OR(pdc_launch_options, options, max_message_bytes, 0U);
    o.block_timeout_ms = PDC_FIELD_OR(pdc_launch_options, options, block_timeout_ms, 0U);
    o.config = text_or_empty(PDC_FIELD_OR(pdc_launch_options, options, config, nullptr));
    o.workers = PDC_FIELD_OR(pdc_launch_options, options, workers, 0U);
    o.cpu = PDC_FIELD_OR(pdc_launch_options, options, cpu, -1);
    o.idle_spin_us = PDC_FIELD_OR(pdc_launch_options, options, idle_spin_us, 0U);
    o.pool = text_or_empty(PDC_FIELD_OR(pdc_launch_options, options, pool, nullptr));
    o.latency_metrics = PDC_FIELD_OR(pdc_launch_options, options, latency_metrics, 1) != 0;
    const int32_t isolation = PDC_FIELD_OR(pdc_launch_options, options, isolation, PDC_ISOLATION_NONE);
    auto iso = pdc::isolation_from_value(static_cast<std::uint32_t>(isolation));
    if (isolation < 0 || !iso)
      return fail(client, pdc::errc::invalid_argument, "isolation is not a PDC_ISOLATION_* value");
    o.isolation = *iso;
    o.host_user = text_or_empty(PDC_FIELD_OR(pdc_launch_options, options, host_user, nullptr));
    o.max_address_space_mb = PDC_FIELD_OR(pdc_launch_options, options, max_address_space_mb, 0U);
    o.max_cpu_seconds = PDC_FIELD_OR(pdc_launch_options, options, max_cpu_seconds, 0U);
    o.max_open_files = PDC_FIELD_OR(pdc_launch_options, options, max_open_files, 0U);
    o.seccomp = PDC_FIELD_OR(pdc_launch_options, options, seccomp, 0) != 0;
    o.exported = PDC_FIELD_OR(pdc_launch_options, options, exported, 0) != 0;
    o.at_least_once = PDC_FIELD_OR(pdc_launch_options, options, at_least_once, 0) != 0;
    const char* const* access = PDC_FIELD_OR(pdc_launch_options, options, access, nullptr);
    const std::uint32_t access_count = PDC_FIELD_OR(pdc_launch_options, options, access_count, 0U);
    if (access == nullptr && access_count != 0) {
      return fail(client, pdc::errc::invalid_argument, "access is NULL but access_count is not 0");
    }
    for (std::uint32_t i = 0; i < access_count; ++i) {
      if (access[i] == nullptr) return fail(client, pdc::errc::invalid_argument, "an access entry is NULL");
      o.access.emplace_back(access[i]);
    }
    return status_of(client, client->session.launch(o));
  });
}

int pdc_activate(pdc_client* client, const char* kernel_id) {
  return guarded(client, [&] { return status_of(client, client->session.activate(text_or_empty(kernel_id))); });
}

int pdc_deactivate(pdc_client* client, const char* kernel_id) {
  return guarded(client, [&] { return status_of(client, client->session.deactivate(text_or_empty(kernel_id))); });
}

int pdc_terminate(pdc_client* client, const char* kernel_id, int drop, uint32_t timeout_ms) {
  return guarded(client, [&] {
    return status_of(client, client->session.terminate(text_or_empty(kernel_id), drop != 0, timeout_ms));
  });
}

int pdc_subscribe(pdc_client* client, const char* kernel_id) {
  return guarded(client, [&] { return status_of(client, client->session.subscribe(text_or_empty(kernel_id))); });
}

int pdc_unsubscribe(pdc_client* client, const char* kernel_id) {
  return guarded(client, [&] { return status_of(client, client->session.unsubscribe(text_or_empty(kernel_id))); });
}

int pdc_connect_kernels(pdc_client* client, const char* from_kernel, const char* to_kernel) {
  return guarded(client, [&] {
    return status_of(client, client->session.connect_kernels(text_or_empty(from_kernel), text_or_empty(to_kernel)));
  });
}

int pdc_disconnect_kernels(pdc_client* client, const char* from_kernel, const char* to_kernel) {
  return guarded(client, [&] {
    return status_of(client, client->session.disconnect_kernels(text_or_empty(from_kernel), text_or_empty(to_kernel)));
  });
}

void pdc_send_options_init(pdc_send_options* options) {
  if (options == nullptr) return;
  *options = pdc_send_options{};
  options->struct_size = sizeof(pdc_send_options);
  options->priority = PDC_DEFAULT_PRIORITY;
  options->ack = 1;
}

int pdc_send(pdc_client* client, const char* kernel_id, const void* data, size_t size, const pdc_send_options* options,
             uint64_t* message_id) {
  return guarded(client, [&] {
    if (data == nullptr && size != 0) return fail(client, pdc::errc::invalid_argument, "data is NULL");
    const auto payload = std::span(static_cast<const std::byte*>(data), size);
    auto r = client->session.send(text_or_empty(kernel_id), payload, to_send_options(options));
    if (!r) return fail(client, r.err());
    if (message_id != nullptr) *message_id = *r;
    return PDC_OK;
  });
}

int pdc_receive(pdc_client* client, int64_t timeout_ns, void* buf, size_t* size, pdc_message_info* info) {
  return guarded(client, [&] {
    if (size == nullptr) return fail(client, pdc::errc::invalid_argument, "size is NULL");
    if (client->held) {
      auto m = std::move(*client->held);
      client->held.reset();
      return deliver(client, std::move(m), buf, size, info);
    }
    auto r = client->session.receive(timeout_ns);
    if (!r) return fail(client, r.err());
    return deliver(client, std::move(r).value(), buf, size, info);
  });
}

int pdc_request(pdc_client* client, const char* kernel_id, const void* data, size_t size,
                const pdc_send_options* options, int64_t timeout_ns, void* reply, size_t* reply_size,
                pdc_message_info* info) {
  return guarded(client, [&] {
    if (reply_size == nullptr) return fail(client, pdc::errc::invalid_argument, "reply_size is NULL");
    if (data == nullptr && size != 0) return fail(client, pdc::errc::invalid_argument, "data is NULL");
    const auto payload = std::span(static_cast<const std::byte*>(data), size);
    auto r = client->session.request(text_or_empty(kernel_id), payload, timeout_ns, to_send_options(options));
    if (!r) return fail(client, r.err());
    return deliver(client, std::move(r).value(), reply, reply_size, info);
  });
}

int pdc_status_json(pdc_client* client, const char* kernel_id, char* buf, size_t* size) {
  return guarded(client, [&] {
    if (size == nullptr) return fail(client, pdc::errc::invalid_argument, "size is NULL");
    pdc::detail::json_writer w;
    const auto id = text_or_empty(kernel_id);
    if (id.empty()) {
      auto r = client->session.list();
      if (!r) return fail(client, r.err());
      pdc::detail::write_json(w, std::span<const pdc::kernel_info>(*r));
    } else {
      auto r = client->session.status(id);
      if (!r) return fail(client, r.err());
      pdc::detail::write_json(w, *r);
    }
    return copy_text(client, w.str(), buf, size);
  });
}

int pdc_metrics_prometheus(pdc_client* client, const char* kernel_id, char* buf, size_t* size) {
  return guarded(client, [&] {
    if (size == nullptr) return fail(client, pdc::errc::invalid_argument, "size is NULL");
    auto r = client->session.metrics(text_or_empty(kernel_id), pdc::metrics_format::prometheus);
    if (!r) return fail(client, r.err());
    return copy_text(client, r->text, buf, size);
  });
}

}  // extern "C"
