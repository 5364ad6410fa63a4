// JSON forms of libpdc's value types, shared by the C ABI and pdcctl --json.
#pragma once

#include <span>

#include "json_writer.hpp"
#include "pdc/client.hpp"

namespace pdc::detail {

/// Writes a latency summary as an object of *_ns fields.
void write_json(json_writer& w, const latency_summary& s);
/// Writes a kernel as an object (enums as their to_string names).
void write_json(json_writer& w, const kernel_info& k);
/// Writes a plugin as an object.
void write_json(json_writer& w, const plugin_info& p);
/// Writes an array of kernels.
void write_json(json_writer& w, std::span<const kernel_info> kernels);
/// Writes an array of plugins.
void write_json(json_writer& w, std::span<const plugin_info> plugins);
/// Writes a pool as an object.
void write_json(json_writer& w, const pool_info& p);
/// Writes an array of pools.
void write_json(json_writer& w, std::span<const pool_info> pools);

}  // namespace pdc::detail
