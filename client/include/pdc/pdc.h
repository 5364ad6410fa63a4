/* libpdc C ABI: a client of pdcd usable from C and any language with a C FFI.
 *
 * Conventions: every function returns PDC_OK (0) or a negative PDC_E_* code
 * from pdc/errors.h, unless its brief says otherwise; pdc_last_error() gives a
 * one-line message for the last failure on a handle. No function throws or
 * aborts on bad input. Structs that may grow start with `uint32_t
 * struct_size` (set it with the matching *_init function), as in the plugin
 * ABI. Times are in nanoseconds unless
 * a name says `_ms`.
 *
 * Thread-safety: a pdc_client may be used by one thread at a time; distinct
 * handles are independent. docs/client.md has examples. */
#ifndef PDC_PDC_H
#define PDC_PDC_H

#include <stddef.h>
#include <stdint.h>

#include "pdc/errors.h"
#include "pdc/kinds.h"

#if defined(__GNUC__)
#define PDC_API __attribute__((visibility("default")))
#else
#define PDC_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** An open session with pdcd (opaque). */
typedef struct pdc_client pdc_client;

/** A shared-memory data path to one kernel (opaque); see pdc_attach. */
typedef struct pdc_attachment pdc_attachment;

/* Kernel tiers (pdc_launch_options.tier) are PDC_TIER_*, and backpressure
 * policies PDC_BACKPRESSURE_*, both from pdc/kinds.h. */

/* Envelope flags (pdc_message_info.flags). */
#define PDC_MESSAGE_FLAG_REPLY 0x1u    /* answers a request of this session */
#define PDC_MESSAGE_FLAG_ERROR 0x2u    /* error reply: the payload is the error text */
#define PDC_MESSAGE_FLAG_NO_REPLY 0x4u /* the sender wanted no answer */

/* Default message priority (0-255). */
#define PDC_DEFAULT_PRIORITY 128

/* What an attachment's send does when its request ring is full (pdc_attach_options.full_policy). */
#define PDC_FULL_WAIT 0 /* wait for room, up to full_timeout_ns, then PDC_E_TIMEOUT */
#define PDC_FULL_FAIL 1 /* fail at once with PDC_E_FULL */
/* the kernel's backpressure policy (default): PDC_E_TIMEOUT, PDC_E_REJECTED or
 * PDC_E_DROPPED, or drop_oldest's drop of the kernel's oldest message */
#define PDC_FULL_KERNEL 2

/** Parameters of pdc_launch; zero means "daemon default" where noted. */
typedef struct pdc_launch_options {
  uint32_t struct_size;       /* sizeof(pdc_launch_options); set by pdc_launch_options_init */
  const char* kernel_type;    /* kernel type to instantiate (required) */
  const char* kernel_id;      /* unique id of the new kernel (required) */
  int32_t tier;               /* PDC_TIER_*; default PDC_TIER_ASYNC */
  uint32_t capacity;          /* queue capacity, messages; 0 = default */
  int32_t backpressure;       /* PDC_BACKPRESSURE_*; default PDC_BACKPRESSURE_BLOCK */
  uint32_t max_message_bytes; /* payload limit, bytes; 0 = default */
  uint32_t block_timeout_ms;  /* wait limit for BLOCK, ms; 0 = default */
  const char* config;         /* text handed to the type's create(); NULL = none */
  uint32_t workers;           /* threads for the pool tier; 0 = default */
  int32_t cpu;                /* CPU to pin a spin kernel to; -1 = none */
  uint32_t idle_spin_us;      /* polling before an idle worker parks, us; 0 = the tier's default */
  const char* pool;           /* pool tier: a named pool of the daemon's config; NULL = a private pool */
  int32_t latency_metrics;    /* non-zero (default): record queue-wait and processing histograms */
  const char* const* access;  /* access list entries, e.g. "group:pdc=send,attach" (docs/security.md); may be NULL */
  uint32_t access_count;      /* entries in `access` */
  int32_t isolation;          /* PDC_ISOLATION_*; default PDC_ISOLATION_NONE (docs/isolation.md) */
  /* Confinement of the host (PDC_ISOLATION_PROCESS only); 0 / NULL = none. */
  const char* host_user;         /* run the host as this user (a root pdcd only) */
  uint32_t max_address_space_mb; /* RLIMIT_AS, MiB */
  uint32_t max_cpu_seconds;      /* RLIMIT_CPU, seconds */
  uint32_t max_open_files;       /* RLIMIT_NOFILE */
  int32_t seccomp;               /* non-zero: filter the host's system calls */
  int32_t exported;              /* non-zero: reachable from other nodes as "node/kernel_id" (docs/cluster.md) */
  int32_t at_least_once;         /* exported: their messages come through JetStream, acked after the handler */
} pdc_launch_options;

/** Per-message options of pdc_send and pdc_request. */
typedef struct pdc_send_options {
  uint32_t struct_size; /* sizeof(pdc_send_options); set by pdc_send_options_init */
  uint32_t type_id;     /* application payload type; 0 = untyped bytes */
  uint32_t priority;    /* 0-255; default PDC_DEFAULT_PRIORITY */
  int32_t ack;          /* non-zero (default): wait until the daemon accepted the message */
  int32_t no_reply;     /* non-zero: nobody waits for an answer (the kernel's reply becomes an output) */
} pdc_send_options;

/** Envelope fields of a received message. */
typedef struct pdc_message_info {
  uint32_t struct_size;       /* set by the caller to sizeof(pdc_message_info) */
  uint64_t message_id;        /* sender's id of this message */
  uint64_t correlation_id;    /* message_id of the request it answers; 0 if none */
  uint64_t send_timestamp_ns; /* CLOCK_MONOTONIC at send */
  uint32_t type_id;           /* application payload type */
  uint32_t flags;             /* PDC_MESSAGE_FLAG_* */
  uint32_t priority;          /* 0-255 */
  const char* kernel_id;      /* kernel that produced it; owned by the handle, valid until its next call */
} pdc_message_info;

/** Parameters of pdc_attach; zero means "default" where noted. */
typedef struct pdc_attach_options {
  uint32_t struct_size;        /* sizeof(pdc_attach_options); set by pdc_attach_options_init */
  uint32_t request_ring_bytes; /* request ring capacity, bytes; 0 = daemon default */
  uint32_t reply_ring_bytes;   /* reply ring capacity, bytes; 0 = daemon default */
  int32_t full_policy;         /* PDC_FULL_*; default PDC_FULL_KERNEL */
  int64_t full_timeout_ns;     /* longest wait for room under PDC_FULL_WAIT; negative = forever; default 5 s */
  uint64_t spin_ns;            /* polling before a wait parks, ns; default keeps a busy ping-pong awake */
  uint32_t reattach;           /* nonzero: attach again when pdcd went away and the client reconnected */
} pdc_attach_options;

/** Parameters of pdc_connect_with (docs/client.md, "Reconnecting"). */
typedef struct pdc_connect_options {
  uint32_t struct_size;       /* sizeof(pdc_connect_options); set by pdc_connect_options_init */
  uint32_t reconnect;         /* nonzero: reconnect when the connection breaks; default 0 */
  uint32_t reconnect_wait;    /* nonzero: calls while disconnected wait up to their deadline; 0: fail at once */
  uint32_t reserved;          /* 0 */
  int64_t initial_backoff_ns; /* wait after the first failed attempt, doubling; default 10 ms */
  int64_t max_backoff_ns;     /* ceiling of the back-off; default 1 s */
  const char* client_name;    /* shown in pdcd's log; NULL: "libpdc" */
} pdc_connect_options;

/** Static description of a PDC_E_* code (negative or positive); never NULL. Thread-safe. */
PDC_API const char* pdc_strerror(int code);

/** One-line message of the last call on `client` if it failed ("" after a
 * success); valid until the handle's next call. With NULL: the calling
 * thread's last pdc_connect or pdc_adopt failure. */
PDC_API const char* pdc_last_error(const pdc_client* client);

/** Connects to pdcd at `socket_path` (NULL or "": PDC_SOCKET, else the default
 * path) and says hello. On success *out is a new handle; on failure *out is NULL. */
PDC_API int pdc_connect(const char* socket_path, pdc_client** out);

/** Sets *options to the defaults (no reconnection) and its struct_size. */
PDC_API void pdc_connect_options_init(pdc_connect_options* options);

/** Like pdc_connect, with `options` (NULL: the defaults). */
PDC_API int pdc_connect_with(const char* socket_path, const pdc_connect_options* options, pdc_client** out);

/** Like pdc_connect over `fd`, an already-connected SOCK_SEQPACKET socket; the
 * handle owns fd from now on (it is closed on failure too). */
PDC_API int pdc_adopt(int fd, pdc_client** out);

/** Closes the session and frees the handle; NULL is ignored. */
PDC_API void pdc_close(pdc_client* client);

/** Session id the daemon assigned; 0 for NULL. */
PDC_API uint64_t pdc_session_id(const pdc_client* client);

/** Largest payload the daemon accepts, bytes; 0 for NULL. */
PDC_API uint32_t pdc_max_message_bytes(const pdc_client* client);

/** Loads the plugin at `path` (on the daemon's machine). */
PDC_API int pdc_plugin_load(pdc_client* client, const char* path);

/** Unloads the plugin `name`. */
PDC_API int pdc_plugin_unload(pdc_client* client, const char* name);

/** Fills `options` with defaults and sets struct_size. */
PDC_API void pdc_launch_options_init(pdc_launch_options* options);

/** Launches a kernel (LAUNCHED: queuing, not consuming until activated). */
PDC_API int pdc_launch(pdc_client* client, const pdc_launch_options* options);

/** Opens the kernel's gate (-> ACTIVE). */
PDC_API int pdc_activate(pdc_client* client, const char* kernel_id);

/** Closes the kernel's gate (ACTIVE -> DEACTIVATED); messages keep queuing. */
PDC_API int pdc_deactivate(pdc_client* client, const char* kernel_id);

/** Terminates the kernel: drains for up to `timeout_ms` ms, or drops its queue when `drop` is non-zero. */
PDC_API int pdc_terminate(pdc_client* client, const char* kernel_id, int drop, uint32_t timeout_ms);

/** Delivers the kernel's non-reply outputs to this session (read them with pdc_receive). */
PDC_API int pdc_subscribe(pdc_client* client, const char* kernel_id);

/** Stops what pdc_subscribe started. */
PDC_API int pdc_unsubscribe(pdc_client* client, const char* kernel_id);

/** Pipes `from_kernel`'s outputs into `to_kernel` (refused if it would make a cycle). */
PDC_API int pdc_connect_kernels(pdc_client* client, const char* from_kernel, const char* to_kernel);

/** Undoes pdc_connect_kernels. */
PDC_API int pdc_disconnect_kernels(pdc_client* client, const char* from_kernel, const char* to_kernel);

/** Fills `options` with defaults (ack on, priority 128) and sets struct_size. */
PDC_API void pdc_send_options_init(pdc_send_options* options);

/** Sends `size` bytes at `data` to the kernel (`options` NULL: defaults). A
 * payload above pdc_max_message_bytes() fails with PDC_E_MESSAGE_TOO_LARGE and
 * nothing is sent. *message_id (if not NULL) receives the message's id. */
PDC_API int pdc_send(pdc_client* client, const char* kernel_id, const void* data, size_t size,
                     const pdc_send_options* options, uint64_t* message_id);

/** Takes the next delivered message (reply or subscribed output), waiting up
 * to `timeout_ns` (negative: forever; 0: only what has arrived); PDC_E_TIMEOUT
 * if none came. *size: in, capacity of `buf`; out, payload bytes. When the
 * payload does not fit: PDC_E_MESSAGE_TOO_LARGE, *size = bytes needed, and the
 * message stays held for the next pdc_receive. `info` may be NULL. */
PDC_API int pdc_receive(pdc_client* client, int64_t timeout_ns, void* buf, size_t* size, pdc_message_info* info);

/** Sends a message and waits up to `timeout_ns` for the kernel's reply to it
 * (other deliveries stay queued for pdc_receive). `reply`, *reply_size and
 * `info` work as in pdc_receive; a reply too large for the buffer stays held
 * for pdc_receive. An error reply returns the code its text names (e.g.
 * PDC_E_TERMINATED, PDC_E_DROPPED; PDC_E_PLUGIN for a handler failure) with
 * the kernel's text in pdc_last_error(). */
PDC_API int pdc_request(pdc_client* client, const char* kernel_id, const void* data, size_t size,
                        const pdc_send_options* options, int64_t timeout_ns, void* reply, size_t* reply_size,
                        pdc_message_info* info);

/** Writes the status of kernel `kernel_id` as a JSON object (NULL or "": every
 * kernel, as an array) into `buf`, NUL-terminated. *size: in, capacity of buf;
 * out, length of the JSON without the NUL, or on PDC_E_MESSAGE_TOO_LARGE the
 * capacity needed (NUL included). */
PDC_API int pdc_status_json(pdc_client* client, const char* kernel_id, char* buf, size_t* size);

/** Writes the Prometheus metrics text of one kernel (NULL or "": all) into
 * `buf`, NUL-terminated; *size as for pdc_status_json. */
PDC_API int pdc_metrics_prometheus(pdc_client* client, const char* kernel_id, char* buf, size_t* size);

/* ---- attachments: a kernel's rings in shared memory ----------------------
 * A pdc_attachment sends and receives through two rings in a segment shared
 * with pdcd: no system call while both sides are busy. It may be used on
 * another thread than its client (one thread at a time), except pdc_attachment_detach,
 * which talks through the client. It stays safe to use and to close after
 * its client was closed (calls then fail with PDC_E_PEER_GONE). */

/** Fills `options` with defaults and sets struct_size. */
PDC_API void pdc_attach_options_init(pdc_attach_options* options);

/** Attaches to kernel `kernel_id` (`options` NULL: defaults). On success
 * *out is a new handle (free it with pdc_attachment_close); on failure *out
 * is NULL and pdc_last_error(client) says why. */
PDC_API int pdc_attach(pdc_client* client, const char* kernel_id, const pdc_attach_options* options,
                       pdc_attachment** out);

/** One-line message of the last failed call on `attachment` ("" after a success). */
PDC_API const char* pdc_attachment_last_error(const pdc_attachment* attachment);

/** Attachment id the daemon assigned; 0 for NULL or once detached. */
PDC_API uint64_t pdc_attachment_id(const pdc_attachment* attachment);

/** Largest payload a message through `attachment` may carry, bytes; 0 for NULL. */
PDC_API uint32_t pdc_attachment_max_message_bytes(const pdc_attachment* attachment);

/** Writes `size` bytes at `data` into the request ring as one message
 * (`options` NULL: defaults; `ack` is ignored). A full ring waits or fails per
 * full_policy (PDC_E_TIMEOUT / PDC_E_FULL); a payload above the limit fails
 * with PDC_E_MESSAGE_TOO_LARGE. *message_id (if not NULL) receives its id. */
PDC_API int pdc_attachment_send(pdc_attachment* attachment, const void* data, size_t size,
                                const pdc_send_options* options, uint64_t* message_id);

/** Takes the next message from the kernel, waiting up to `timeout_ns`
 * (negative: forever; 0: only what is there). Buffer, *size and `info` work
 * as in pdc_receive. PDC_E_TERMINATED once the kernel was terminated,
 * PDC_E_PEER_GONE once pdcd is gone. */
PDC_API int pdc_attachment_receive(pdc_attachment* attachment, int64_t timeout_ns, void* buf, size_t* size,
                                   pdc_message_info* info);

/** Sends a message and waits up to `timeout_ns` for the kernel's reply to it;
 * other messages stay queued for pdc_attachment_receive. Buffers, sizes,
 * `info` and error replies work as in pdc_request. */
PDC_API int pdc_attachment_request(pdc_attachment* attachment, const void* data, size_t size,
                                   const pdc_send_options* options, int64_t timeout_ns, void* reply, size_t* reply_size,
                                   pdc_message_info* info);

/* ---- Batched and zero-copy attachment calls (docs/client.md, "C ABI: batches
 * and zero copy"). One attachment from one thread at a time, as above. */

/** Reserves room for one message of `payload_bytes` in the request ring and
 * sets *payload to where its payload goes (in shared memory, exactly that
 * many bytes). The message stays invisible to the kernel until
 * pdc_attachment_flush or the next send, request or receiving call, so many
 * can be published with one commit. *message_id (if not NULL) gets its id.
 * Errors as for pdc_attachment_send; a full ring first publishes what is
 * reserved. */
PDC_API int pdc_attachment_begin_send(pdc_attachment* attachment, size_t payload_bytes, const pdc_send_options* options,
                                      void** payload, uint64_t* message_id);

/** Publishes every message reserved by pdc_attachment_begin_send (one commit, one wake-up at most). */
PDC_API int pdc_attachment_flush(pdc_attachment* attachment);

/** Sends `count` messages laid end to end in `data`, sizes[i] bytes each, in
 * order, with one commit (more when the ring fills). *sent (if not NULL)
 * gets how many were published, also when an error stops the batch: the
 * messages before it are sent, the rest are not. */
PDC_API int pdc_attachment_send_many(pdc_attachment* attachment, const void* data, const size_t* sizes, size_t count,
                                     const pdc_send_options* options, size_t* sent);

/** Receives up to `max_messages` messages, copied end to end into `buf`:
 * waits up to `timeout_ns` (negative: forever) for the first, then takes
 * what is already there while it fits. sizes[i] gets each one's size and,
 * when `infos` is not NULL (an array of max_messages, struct_size set by
 * the caller), infos[i] its envelope; *count how many. PDC_E_TIMEOUT when
 * none came. When the first message alone is larger than `buf_size`:
 * PDC_E_MESSAGE_TOO_LARGE, sizes[0] = its size, nothing consumed. An error
 * after some messages (a terminated kernel) comes with the next call. */
PDC_API int pdc_attachment_receive_many(pdc_attachment* attachment, int64_t timeout_ns, void* buf, size_t buf_size,
                                        size_t* sizes, pdc_message_info* infos, size_t max_messages, size_t* count);

/** Called by pdc_attachment_poll for each message: `payload` points into
 * shared memory and is valid during the call only; so is `info`. */
typedef void (*pdc_message_fn)(void* context, const void* payload, size_t size, const pdc_message_info* info);

/** Zero-copy receive: calls `fn` for up to `max_messages` messages, then
 * hands their space back to the kernel in one release. Waits up to
 * `timeout_ns` for the first (negative: forever; 0: only what is there).
 * PDC_OK with *handled (if not NULL) = how many, 0 when none came in time. */
PDC_API int pdc_attachment_poll(pdc_attachment* attachment, pdc_message_fn fn, void* context, size_t max_messages,
                                int64_t timeout_ns, size_t* handled);

/** Zero-copy receive of one message, left in place: *payload points at its
 * payload (in shared memory) and *size is its size, both valid until
 * pdc_attachment_release, which consumes it. Waits as pdc_attachment_receive;
 * `info` as there. Until the release, receiving calls (receive, request,
 * receive_many, poll, peek) fail with PDC_E_ILLEGAL_STATE; sends work, but
 * a send that waits for room cannot set replies aside meanwhile. */
PDC_API int pdc_attachment_peek(pdc_attachment* attachment, int64_t timeout_ns, const void** payload, size_t* size,
                                pdc_message_info* info);

/** Consumes the message pdc_attachment_peek gave and hands its space back
 * to the kernel; PDC_OK and nothing when none is peeked. */
PDC_API int pdc_attachment_release(pdc_attachment* attachment);

/* ---- Waiting in an event loop (docs/client.md, "Waiting in an event loop") */

/** The descriptor an event loop (epoll, poll, asyncio's add_reader) watches
 * to wait for `attachment` without a thread: after pdc_attachment_arm
 * returned PDC_OK it becomes readable when a message arrives, the kernel
 * ends the attachment or pdcd goes away. Owned by the handle: never read,
 * write or close it. -1 for NULL, once detached, or when pdcd sent none. */
PDC_API int pdc_attachment_wait_fd(const pdc_attachment* attachment);

/** Prepares a wait on pdc_attachment_wait_fd: PDC_OK when nothing can be
 * received now (sleep until the descriptor is readable, then receive with
 * timeout 0, and arm again if that gives PDC_E_TIMEOUT); 1 when a receiving
 * call has something to return at once (a message, or the error that ends
 * the attachment). Publishes what pdc_attachment_begin_send reserved.
 * PDC_E_NOT_SUPPORTED without a wait descriptor; PDC_E_ILLEGAL_STATE while
 * a peeked message is not released. */
PDC_API int pdc_attachment_arm(pdc_attachment* attachment);

/** Detaches: closes the rings and tells pdcd through the client (if it is
 * still open). The handle stays allocated (every later call fails with
 * PDC_E_ILLEGAL_STATE) until pdc_attachment_close. */
PDC_API int pdc_attachment_detach(pdc_attachment* attachment);

/** Closes the rings without telling the client, unmaps and frees the handle; NULL is ignored. */
PDC_API void pdc_attachment_close(pdc_attachment* attachment);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PDC_PDC_H */
