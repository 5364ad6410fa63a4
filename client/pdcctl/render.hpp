// pdcctl's output: human-readable tables and the JSON forms of messages.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "json_writer.hpp"
#include "pdc/client.hpp"

namespace pdc::ctl {

/// The ways a payload can be shown.
struct payload_forms {
  std::optional<std::string> text;    ///< Set when the payload is printable text.
  std::string hex;                    ///< Always set.
  std::optional<std::int64_t> int64;  ///< Set when `want_int64` and the payload is 8 bytes.
};

/// Computes the forms of `payload`; `want_int64` when the request was --int64.
payload_forms describe_payload(std::span<const std::byte> payload, bool want_int64);

/// One message for humans: the integer (with hex) for an int64 reply, else the
/// text when printable, else "hex: ..."; ends with '\n'.
std::string render_payload(std::span<const std::byte> payload, bool want_int64);

/// A received message as a JSON object (envelope fields, text/hex/int64).
void write_message_json(detail::json_writer& w, const received_message& m, bool want_int64);

/// `pdcctl list`: id, type, plugin, state, tier, queue, uptime.
std::string render_kernel_list(std::span<const kernel_info> kernels);

/// `pdcctl status`: state, tier, queue depth/capacity, in/out, drops,
/// rejections, errors, latency p50/p99 of queue wait and processing.
std::string render_status_table(std::span<const kernel_info> kernels);

/// `pdcctl status ID`: every field of one kernel, with p50/p95/p99/p999 of
/// queue wait and processing.
std::string render_kernel_detail(const kernel_info& k);

/// `pdcctl metrics`: one row per kernel and histogram (queue wait, processing).
std::string render_metrics_table(std::span<const kernel_info> kernels);

/// `pdcctl plugin list`.
std::string render_plugin_table(std::span<const plugin_info> plugins);

/// `pdcctl pools`: name, threads, idle spin, kernels.
std::string render_pool_table(std::span<const pool_info> pools);

}  // namespace pdc::ctl
