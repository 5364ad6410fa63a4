// Conversions between the control protocol's flatbuffers tables and libpdc's value types.
#pragma once

#include <vector>

#include "pdc/client.hpp"
#include "pdc/proto/control.hpp"

namespace pdc::detail {

/// Copies a wire KernelInfo into a kernel_info (absent fields stay default);
/// protocol_error for a tier, policy or state value this build does not know.
result<kernel_info> to_kernel_info(const wire::KernelInfo& in);
/// Copies a vector of wire KernelInfo (null: empty).
result<std::vector<kernel_info>> to_kernel_infos(const flatbuffers::Vector<flatbuffers::Offset<wire::KernelInfo>>* in);
/// Copies a wire PoolInfo into a pool_info.
pool_info to_pool_info(const wire::PoolInfo& in);
/// Copies a wire PluginInfo into a plugin_info.
plugin_info to_plugin_info(const wire::PluginInfo& in);

}  // namespace pdc::detail
