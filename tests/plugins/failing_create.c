/* failing_create: a plugin in plain C (so the ABI header is proven to be C)
 * whose create always fails, for the daemon's launch-failure path. */
#include <stddef.h>

#include "pdc/plugin.h"

static const pdc_host_api* g_host = NULL;

static int failing_create(pdc_kernel_ctx* ctx, const char* config, void** state) {
  (void)config;
  *state = NULL;
  g_host->log(ctx, PDC_LOG_ERROR, "failing_create: create always fails (test plugin)");
  return PDC_E_PLUGIN;
}

static int never_called(void* state, pdc_kernel_ctx* ctx, const pdc_message* message) {
  (void)state;
  (void)ctx;
  (void)message;
  return PDC_E_INTERNAL;
}

static const pdc_kernel_type k_types[] = {{
    .struct_size = sizeof(pdc_kernel_type),
    .tiers = PDC_TIER_MASK_CPU,
    .name = "failing_create",
    .description = "create always returns PDC_E_PLUGIN",
    .create = failing_create,
    .on_message = never_called,
}};

static const pdc_plugin_descriptor k_descriptor = {
    .abi_major = PDC_PLUGIN_ABI_MAJOR,
    .abi_minor = PDC_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(pdc_plugin_descriptor),
    .kernel_type_size = sizeof(pdc_kernel_type),
    .name = "failing_create",
    .version = "0.0.1",
    .kernel_type_count = sizeof k_types / sizeof k_types[0],
    .kernel_types = k_types,
};

__attribute__((visibility("default"))) const pdc_plugin_descriptor* pdc_plugin_entry(const pdc_host_api* host);

const pdc_plugin_descriptor* pdc_plugin_entry(const pdc_host_api* host) {
  g_host = host;
  return &k_descriptor;
}
