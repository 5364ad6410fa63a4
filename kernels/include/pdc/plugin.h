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
#include "pdc/kinds.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 2.0: tier masks are PDC_TIER_MASK(PDC_TIER_*) (pool has a bit of its own),
 * PDC_KERNEL_CONCURRENT, one pdc_kernel_ctx per worker.
 * 2.1: PDC_KERNEL_VOLATILE_PAYLOAD.
 * 2.2: pdc_kernel_type.cuda (types of the cuda tier, docs/cuda.md). */
#define PDC_PLUGIN_ABI_MAJOR 2u
#define PDC_PLUGIN_ABI_MINOR 2u
#define PDC_PLUGIN_ENTRY_SYMBOL "pdc_plugin_entry"

/* Tiers a kernel type may run on: pdc_kernel_type.tiers is a mask of
 * PDC_TIER_MASK(PDC_TIER_*) bits (pdc/kinds.h), e.g. PDC_TIER_MASK_CPU. */

/* Kernel type flags. */
#define PDC_KERNEL_MAY_BLOCK (1u << 0) /* handler may block: refused on the async tier */
/* The handler may run on several threads at once on one state (it guards
 * its state itself): required to run on more than one worker of a pool. */
#define PDC_KERNEL_CONCURRENT (1u << 1)
/* The handler reads payloads as volatile: pdc then hands it the bytes in
 * the client's shared memory, which the client may change while the handler
 * runs, instead of a private copy. Only for handlers that read each byte at
 * most once and never trust what they read (a length, an offset) without
 * checking it against payload_len at the time of use. See docs/plugins.md. */
#define PDC_KERNEL_VOLATILE_PAYLOAD (1u << 2)

/* Log levels for pdc_host_api.log. */
#define PDC_LOG_DEBUG 1
#define PDC_LOG_INFO 2
#define PDC_LOG_WARN 3
#define PDC_LOG_ERROR 4

/* Host-owned handle (opaque to plugins) naming the caller: one per worker of
 * a kernel, passed to its handlers, plus one for create(). A handler uses the
 * ctx it was given, from the thread it was called on. */
typedef struct pdc_kernel_ctx pdc_kernel_ctx;

/* One message as a handler sees it. `payload` is valid only during the
 * on_message call (or until the next receive in loop style). It is the
 * daemon's own copy, which nobody else can change, unless the type set
 * PDC_KERNEL_VOLATILE_PAYLOAD. */
typedef struct pdc_message {
  const void* payload;
  uint32_t payload_len;
  uint32_t type_id;
  uint64_t message_id;
  uint64_t correlation_id;
  uint64_t reply_to; /* opaque token naming who awaits the reply; 0 = nobody (the reply is then an output) */
  uint64_t send_timestamp_ns;
  uint16_t flags;
  uint8_t priority;
} pdc_message;

/* Functions the daemon offers to plugins. Each is called with the ctx passed
 * to the current handler, from the handler's own thread; every tier returns
 * the same codes for the same call. */
typedef struct pdc_host_api {
  uint32_t struct_size; /* sizeof(pdc_host_api) of the daemon */
  uint32_t abi_minor;   /* PDC_PLUGIN_ABI_MINOR of the daemon */

  /* Replies to `request` (routed to its sender, correlation = its message id).
   * Returns PDC_OK (delivered; or a dead letter when the sender is gone: it is
   * counted and goes to the kernel's subscribers), PDC_E_MESSAGE_TOO_LARGE,
   * PDC_E_FULL (the sender's reply queue is full: dropped and counted),
   * PDC_E_INVALID_ARGUMENT or PDC_E_NOT_SUPPORTED (outside a handler). A
   * request nobody waits for (reply_to 0) makes the reply an output, as emit. */
  int (*reply)(pdc_kernel_ctx* ctx, const pdc_message* request, const void* data, uint32_t len, uint32_t type_id);
  /* Emits an output that answers nobody: it goes to the kernel's subscribers
   * and connected kernels. PDC_OK, PDC_E_MESSAGE_TOO_LARGE, PDC_E_INVALID_ARGUMENT. */
  int (*emit)(pdc_kernel_ctx* ctx, const void* data, uint32_t len, uint32_t type_id);
  /* Sends to another kernel by id: PDC_OK, PDC_E_NOT_FOUND (no such kernel),
   * PDC_E_FULL / PDC_E_REJECTED / PDC_E_DROPPED (its queue is full, by its
   * policy), PDC_E_TERMINATED, PDC_E_MESSAGE_TOO_LARGE. */
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

/* What pdcd hands a cuda-tier type's launch function (docs/cuda.md). The
 * three blocks are device pointers: the control block and the mailbox table
 * in mapped host memory, the cursors in device memory, zeroed. */
typedef struct pdc_cuda_launch_args {
  uint32_t struct_size; /* sizeof(pdc_cuda_launch_args) of the daemon */
  int32_t device;       /* the CUDA device ordinal */
  void* stream;         /* a cudaStream_t (CUstream) of the device's primary context */
  void* control_block;  /* pdc::cuda::control_block* */
  void* mailbox_table;  /* pdc::cuda::mailbox_table* */
  void* cursors;        /* pdc::cuda::mailbox_cursor[PDC_CUDA_MAX_MAILBOXES] */
  const char* config;   /* the launch's config string ("" if none) */
  void* state;          /* what the type's create() made (NULL if none): device memory, say */
  uint32_t grid;        /* the type's pdc_cuda_kernel values, as checked */
  uint32_t block;
  uint32_t shared_bytes;
  uint32_t reserved;
} pdc_cuda_launch_args;

/* Attachments one cuda-tier kernel serves at most (its mailbox table's slots). */
#define PDC_CUDA_MAX_MAILBOXES 64u

/* How a cuda-tier type is launched: one persistent kernel launch of `grid`
 * blocks of `block` threads (a multiple of 32, at most 1024) with
 * `shared_bytes` of dynamic shared memory. `launch` is host code built by
 * nvcc: it enqueues the type's __global__ loop on args->stream and returns at
 * once, 0 or the cudaError_t of the failed launch. pdc/cuda.cuh's
 * PDC_CUDA_LAUNCHER writes one. */
typedef struct pdc_cuda_kernel {
  uint32_t struct_size; /* sizeof(pdc_cuda_kernel) of the plugin */
  uint32_t grid;
  uint32_t block;
  uint32_t shared_bytes;
  int (*launch)(const pdc_cuda_launch_args* args, const char** error_name);
} pdc_cuda_kernel;

/* One kernel type a plugin provides. Exactly one of on_message / run is set
 * when it runs on a CPU tier; `cuda` is set when (and only when) it runs on
 * the cuda tier. */
typedef struct pdc_kernel_type {
  uint32_t struct_size; /* sizeof(pdc_kernel_type) of the plugin */
  uint32_t tiers;       /* PDC_TIER_MASK(PDC_TIER_*) bits this type may run on */
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
  /* Loop style, tiers 2/3 only (threaded, spin, a private pool): loops on
   * receive() until should_terminate(). */
  int (*run)(void* state, pdc_kernel_ctx* ctx);
  /* 2.2. The cuda tier: how the type's device loop is launched (NULL for
   * CPU-only types). The daemon runs create() and destroy() on the host as
   * for any tier; the device loop has no host handler. */
  const pdc_cuda_kernel* cuda;
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
