/* pdc error codes for C: the negated values of pdc::errc (core/include/pdc/core/errc.hpp).
 * Shared by the plugin ABI and the client C ABI. Never renumber; append only. */
#ifndef PDC_ERRORS_H
#define PDC_ERRORS_H

#define PDC_OK 0
#define PDC_E_INVALID_ARGUMENT (-1)  /* a parameter is out of range or malformed */
#define PDC_E_NOT_FOUND (-2)         /* no such kernel, plugin, type or attachment */
#define PDC_E_ALREADY_EXISTS (-3)    /* the name or id is taken */
#define PDC_E_ILLEGAL_STATE (-4)     /* not allowed in the current state */
#define PDC_E_MESSAGE_TOO_LARGE (-5) /* larger than the configured limit; nothing sent */
#define PDC_E_FULL (-6)              /* bounded queue has no room now */
#define PDC_E_EMPTY (-7)             /* nothing to read now */
#define PDC_E_TIMEOUT (-8)           /* the deadline passed */
#define PDC_E_PEER_GONE (-9)         /* the other side is gone */
#define PDC_E_TERMINATED (-10)       /* the kernel was terminated */
#define PDC_E_PROTOCOL (-11)         /* malformed or unexpected frame */
#define PDC_E_VERSION (-12)          /* unsupported version */
#define PDC_E_CORRUPT_SEGMENT (-13)  /* bad shared-memory segment */
#define PDC_E_SYSTEM (-14)           /* an OS call failed */
#define PDC_E_PLUGIN (-15)           /* plugin load/create/handler failure */
#define PDC_E_PERMISSION (-16)       /* permission denied */
#define PDC_E_REJECTED (-17)         /* refused by backpressure policy */
#define PDC_E_NOT_SUPPORTED (-18)    /* not supported here */
#define PDC_E_SHUTTING_DOWN (-19)    /* daemon shutting down */
#define PDC_E_INTERNAL (-20)         /* a bug in pdc */
#define PDC_E_DROPPED (-21)          /* dropped by backpressure policy */
#define PDC_E_LIMIT (-22)            /* a configured limit of the daemon is reached ([limits]) */
#define PDC_E_KERNEL_RESTARTED (-23) /* the kernel's host process restarted: requests in flight are lost */
#define PDC_E_DAEMON_STOPPING (-24)  /* pdcd is stopping: the session and its attachments end */

#endif /* PDC_ERRORS_H */
