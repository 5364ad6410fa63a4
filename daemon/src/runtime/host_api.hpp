// The table of host functions every plugin gets (pdc_host_api). Each entry
// finds its caller through the pdc_kernel_ctx it is passed: the agent whose
// handler runs, or the kernel itself in create() (runtime/agent.hpp).
#pragma once

#include "pdc/plugin.h"

namespace pdc::daemon {

/// The daemon's pdc_host_api table (static storage).
const pdc_host_api* host_api_table() noexcept;

}  // namespace pdc::daemon
