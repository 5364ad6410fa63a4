/* pdc kinds for C: kernel tiers, backpressure policies and kernel states.
 * One set of values shared by the wire protocol (proto/control.fbs), the
 * plugin ABI (pdc/plugin.h), the client C ABI (pdc/pdc.h) and C++
 * (pdc/core/kinds.hpp, which checks each value against this header).
 * Never renumber; append only. */
#ifndef PDC_KINDS_H
#define PDC_KINDS_H

/* Kernel tiers: where and how a kernel's loop runs. */
#define PDC_TIER_ASYNC 0    /* tier 1: the daemon's event loop; handlers must not block */
#define PDC_TIER_THREADED 1 /* tier 2: a dedicated thread; handlers may block */
#define PDC_TIER_SPIN 2     /* tier 3: a busy-polling dedicated thread */
#define PDC_TIER_POOL 3     /* tier 2, pooled: agents on the threads of a (named) pool */
#define PDC_TIER_CUDA 4     /* tier 4: a persistent GPU kernel */
#define PDC_TIER_COUNT 5

/* The bit of `tier` in a tier mask (pdc_kernel_type.tiers). */
#define PDC_TIER_MASK(tier) (1u << (tier))
/* Every tier that runs on CPU threads. */
#define PDC_TIER_MASK_CPU                                                                            \
  (PDC_TIER_MASK(PDC_TIER_ASYNC) | PDC_TIER_MASK(PDC_TIER_THREADED) | PDC_TIER_MASK(PDC_TIER_SPIN) | \
   PDC_TIER_MASK(PDC_TIER_POOL))

/* What a kernel does with a message when its queue (or request ring) is full. */
#define PDC_BACKPRESSURE_BLOCK 0       /* the sender waits for room, up to the block timeout */
#define PDC_BACKPRESSURE_REJECT 1      /* the new message is refused (PDC_E_REJECTED) */
#define PDC_BACKPRESSURE_DROP_OLDEST 2 /* the oldest queued message is dropped; its sender gets an error */
#define PDC_BACKPRESSURE_DROP_NEWEST 3 /* the new message is dropped (PDC_E_DROPPED) */

/* Kernel lifecycle states. */
#define PDC_STATE_CREATED 0
#define PDC_STATE_LAUNCHED 1
#define PDC_STATE_ACTIVE 2
#define PDC_STATE_DEACTIVATED 3
#define PDC_STATE_TERMINATING 4
#define PDC_STATE_TERMINATED 5
/* Process isolation only (docs/isolation.md): the kernel's host process died
 * and is being restarted; or it died too often and waits for an administrator. */
#define PDC_STATE_RESTARTING 6
#define PDC_STATE_FAILED 7

/* Where a kernel's handlers run. */
#define PDC_ISOLATION_NONE 0    /* inside pdcd */
#define PDC_ISOLATION_PROCESS 1 /* in a supervised pdc-kernel-host process of its own */

#endif /* PDC_KINDS_H */
