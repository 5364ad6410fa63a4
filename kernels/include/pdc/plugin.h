/* pdc kernel plugin ABI (C, versioned). See docs/plugins.md.
 *
 * A plugin is a shared object exporting one symbol, PDC_PLUGIN_ENTRY_SYMBOL,
 * of type pdc_plugin_entry_fn. The daemon calls it once after dlopen with its
 * table of host functions and gets back a constant descriptor listing the
 * kernel types the plugin provides. Plugins never link against the daemon.
 *
 * Compatibility: the daemon refuses a different abi_major, refuses an
 * abi_minor newer than its own, and reads only the first struct_size bytes
 * of each struct (fields are only ever appended). Nothing may throw across
 * this boundary: C++ handlers must catch everything (the C++ SDK does). */
#ifndef PDC_PLUGIN_H
#define PDC_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "pdc/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PDC_PLUGIN_ABI_MAJOR 1u
#define PDC_PLUGIN_ABI_MINOR 0u
#define PDC_PLUGIN_ENTRY_SYMBOL "pdc_plugin_entry"

/* Tiers a kernel type may run on (bit mask in pdc_kernel_type.tiers). */
#define PDC_TIER_ASYNC (1u << 0)    /* tier 1: the daemon's event loop; handler must not block */
#define PDC_TIER_THREADED (1u << 1) /* tier 2: a dedicated thread (or a pool) */
#define PDC_TIER_SPIN (1u << 2)     /* tier 3: a busy-polling dedicated thread */
#define PDC_TIER_CUDA (1u << 3)     /* tier 4 (later): a persistent GPU kernel */
#define PDC_TIER_ALL_CPU (PDC_TIER_ASYNC | PDC_TIER_THREADED | PDC_TIER_SPIN)

/* Kernel type flags. */
#define PDC_KERNEL_MAY_BLOCK (1u << 0) /* handler may block: refused on the async tier */

/* Log levels for pdc_host_api.log. */
#define PDC_LOG_DEBUG 1
#define PDC_LOG_INFO 2
#define PDC_LOG_WARN 3
#define PDC_LOG_ERROR 4

/* Host-owned handle for one running kernel (opaque to plugins). */
typedef struct pdc_kernel_ctx pdc_kernel_ctx;

/* One message as a handler sees it. `payload` is valid only during the
 * on_message call (or until the next receive in loop style). */
typedef struct pdc_message {
  const void* payload;
  uint32_t payload_len;
  uint32_t type_id;
  uint64_t message_id;
  uint64_t correlation_id;
  uint64_t reply_to; /* session that awaits the reply; 0 = none */
  uint64_t send_timestamp_ns;
  uint16_t flags;
  uint8_t priority;
} pdc_message;

/* Functions the daemon offers to plugins. All are thread-safe for calls on
 * the ctx passed to the current handler, from the handler's own thread. */
typedef struct pdc_host_api {
  uint32_t struct_size; /* sizeof(pdc_host_api) of the daemon */
  uint32_t abi_minor;   /* PDC_PLUGIN_ABI_MINOR of the daemon */

  /* Replies to `request` (routed to its sender, correlation = its message id).
   * Returns PDC_OK, PDC_E_MESSAGE_TOO_LARGE, PDC_E_FULL (reply queue full:
   * the reply is dropped and counted) or PDC_E_PEER_GONE. */
  int (*reply)(pdc_kernel_ctx* ctx, const pdc_message* request, const void* data, uint32_t len, uint32_t type_id);
  /* Emits an output that answers nobody: it goes to the kernel's subscribers. */
  int (*emit)(pdc_kernel_ctx* ctx, const void* data, uint32_t len, uint32_t type_id);
  /* Sends to another kernel by id (PDC_E_NOT_FOUND if none). */
  int (*send_to)(pdc_kernel_ctx* ctx, const char* kernel_id, const void* data, uint32_t len, uint32_t type_id);
  /* Logs one line through the daemon's logger, tagged with the kernel id. */
  void (*log)(pdc_kernel_ctx* ctx, int level, const char* message);
  /* CLOCK_MONOTONIC in nanoseconds. */
  uint64_t (*now_ns)(void);
  /* The kernel's id (valid for the kernel's lifetime). */
  const char* (*kernel_id)(pdc_kernel_ctx* ctx);

  /* Loop style only (run): waits up to timeout_ns (-1: forever) for the next
   * message. Returns PDC_OK, PDC_E_TIMEOUT, or PDC_E_TERMINATED when the
   * kernel is terminating and its queue is drained. */
  int (*receive)(pdc_kernel_ctx* ctx, pdc_message* out, int64_t timeout_ns);
  /* Loop style: non-zero once the kernel must leave run(). */
  int (*should_terminate)(pdc_kernel_ctx* ctx);
  /* Non-zero while the kernel is ACTIVE. */
  int (*is_active)(pdc_kernel_ctx* ctx);
} pdc_host_api;

/* One kernel type a plugin provides. Exactly one of on_message / run is set. */
typedef struct pdc_kernel_type {
  uint32_t struct_size; /* sizeof(pdc_kernel_type) of the plugin */
  uint32_t tiers;       /* PDC_TIER_* bits this type may run on */
  uint32_t flags;       /* PDC_KERNEL_* bits */
  uint32_t reserved;
  const char* name;        /* unique among loaded plugins, e.g. "echo" */
  const char* description; /* one line */

  /* Creates per-kernel state; `config` is the launch's config string ("" if
   * none). Returns PDC_OK and sets *state (may be NULL), or a negative code
   * (the launch then fails with the plugin's log line as the reason). May be NULL. */
  int (*create)(pdc_kernel_ctx* ctx, const char* config, void** state);
  /* Releases the state made by create. May be NULL. */
  void (*destroy)(void* state);

  /* Reactive style, every tier: handles one message; may reply/emit any
   * number of times. A negative return counts as a handler error; a request
   * with a sender then gets an error reply so it does not hang. */
  int (*on_message)(void* state, pdc_kernel_ctx* ctx, const pdc_message* message);
  /* Loop style, tiers 2/3 only: loops on receive() until should_terminate(). */
  int (*run)(void* state, pdc_kernel_ctx* ctx);
} pdc_kernel_type;

/* What the entry point returns. Must stay valid while the plugin is loaded. */
typedef struct pdc_plugin_descriptor {
  uint32_t abi_major;        /* PDC_PLUGIN_ABI_MAJOR the plugin was built with */
  uint32_t abi_minor;        /* PDC_PLUGIN_ABI_MINOR the plugin was built with */
  uint32_t struct_size;      /* sizeof(pdc_plugin_descriptor) of the plugin */
  uint32_t kernel_type_size; /* sizeof(pdc_kernel_type) of the plugin (array stride) */
  const char* name;          /* unique among loaded plugins */
  const char* version;       /* free text, e.g. "1.0.0" */
  uint32_t kernel_type_count;
  uint32_t reserved;
  const pdc_kernel_type* kernel_types;
} pdc_plugin_descriptor;

/* The one exported symbol. `host` stays valid while the plugin is loaded. */
typedef const pdc_plugin_descriptor* (*pdc_plugin_entry_fn)(const pdc_host_api* host);

#ifdef __cplusplus
}
#endif

#endif /* PDC_PLUGIN_H */
