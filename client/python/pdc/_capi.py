"""ctypes declarations of libpdc's C ABI (client/include/pdc/pdc.h).

The library is loaded on first use (load()), not at import, so that
``import pdc`` works on a machine without libpdc and the failure is a
catchable ``pdc.LibraryNotFound``. Which library: the path in the
environment variable PDC_LIBRARY if it is set and non-empty, else
"libpdc.so.0" found by the dynamic loader.

Every function is declared with argtypes and restype once, here. Functions
that older builds of libpdc lack (the batched and zero-copy attachment
calls) are declared only when the library has them; ``has(name)`` says
which.
"""

from __future__ import annotations

import ctypes
import os
import threading
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)

__all__ = [
    "LibraryNotFound",
    "load",
    "has",
    "LaunchOptions",
    "SendOptions",
    "MessageInfo",
    "AttachOptions",
    "ConnectOptions",
    "MESSAGE_FN",
    "DEFAULT_LIBRARY",
]

DEFAULT_LIBRARY = "libpdc.so.0"

# pdc/kinds.h
TIER_ASYNC = 0
TIER_THREADED = 1
TIER_SPIN = 2
TIER_POOL = 3
TIER_CUDA = 4

BACKPRESSURE_BLOCK = 0
BACKPRESSURE_REJECT = 1
BACKPRESSURE_DROP_OLDEST = 2
BACKPRESSURE_DROP_NEWEST = 3

ISOLATION_NONE = 0
ISOLATION_PROCESS = 1

# pdc/pdc.h
MESSAGE_FLAG_REPLY = 0x1
MESSAGE_FLAG_ERROR = 0x2
MESSAGE_FLAG_NO_REPLY = 0x4
DEFAULT_PRIORITY = 128
FULL_WAIT = 0
FULL_FAIL = 1
FULL_KERNEL = 2

# pdc/errors.h
OK = 0
E_MESSAGE_TOO_LARGE = -5
E_TIMEOUT = -8


class LibraryNotFound(OSError):
    """libpdc could not be loaded (install libpdc0, or set PDC_LIBRARY)."""


class LaunchOptions(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("kernel_type", c_char_p),
        ("kernel_id", c_char_p),
        ("tier", c_int32),
        ("capacity", c_uint32),
        ("backpressure", c_int32),
        ("max_message_bytes", c_uint32),
        ("block_timeout_ms", c_uint32),
        ("config", c_char_p),
        ("workers", c_uint32),
        ("cpu", c_int32),
        ("idle_spin_us", c_uint32),
        ("pool", c_char_p),
        ("latency_metrics", c_int32),
        ("access", POINTER(c_char_p)),
        ("access_count", c_uint32),
        ("isolation", c_int32),
        ("host_user", c_char_p),
        ("max_address_space_mb", c_uint32),
        ("max_cpu_seconds", c_uint32),
        ("max_open_files", c_uint32),
        ("seccomp", c_int32),
        ("exported", c_int32),
        ("at_least_once", c_int32),
    ]


class SendOptions(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("type_id", c_uint32),
        ("priority", c_uint32),
        ("ack", c_int32),
        ("no_reply", c_int32),
    ]


class MessageInfo(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("message_id", c_uint64),
        ("correlation_id", c_uint64),
        ("send_timestamp_ns", c_uint64),
        ("type_id", c_uint32),
        ("flags", c_uint32),
        ("priority", c_uint32),
        ("kernel_id", c_void_p),  # const char*, read with ctypes.string_at
    ]


# The layout of MessageInfo for struct.unpack_from (one call instead of seven
# attribute reads): struct_size, pad, message_id, correlation_id,
# send_timestamp_ns, type_id, flags, priority, pad, kernel_id.
MESSAGE_INFO_FORMAT = "=I4xQQQIII4xQ" if ctypes.sizeof(c_void_p) == 8 else None


class AttachOptions(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("request_ring_bytes", c_uint32),
        ("reply_ring_bytes", c_uint32),
        ("full_policy", c_int32),
        ("full_timeout_ns", c_int64),
        ("spin_ns", c_uint64),
        ("reattach", c_uint32),
    ]


class ConnectOptions(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("reconnect", c_uint32),
        ("reconnect_wait", c_uint32),
        ("reserved", c_uint32),
        ("initial_backoff_ns", c_int64),
        ("max_backoff_ns", c_int64),
        ("client_name", c_char_p),
    ]


# void (*pdc_message_fn)(void* context, const void* payload, size_t size, const pdc_message_info* info)
MESSAGE_FN = CFUNCTYPE(None, c_void_p, c_void_p, c_size_t, POINTER(MessageInfo))

_p = c_void_p  # opaque handles (pdc_client*, pdc_attachment*)
_sz = POINTER(c_size_t)
_u64 = POINTER(c_uint64)
_info = POINTER(MessageInfo)
_send = POINTER(SendOptions)

# name: (restype, argtypes, required)
_PROTOTYPES: dict[str, tuple] = {
    "pdc_strerror": (c_char_p, [c_int], True),
    "pdc_last_error": (c_char_p, [_p], True),
    "pdc_connect": (c_int, [c_char_p, POINTER(c_void_p)], True),
    "pdc_connect_options_init": (None, [POINTER(ConnectOptions)], True),
    "pdc_connect_with": (c_int, [c_char_p, POINTER(ConnectOptions), POINTER(c_void_p)], True),
    "pdc_close": (None, [_p], True),
    "pdc_session_id": (c_uint64, [_p], True),
    "pdc_max_message_bytes": (c_uint32, [_p], True),
    "pdc_plugin_load": (c_int, [_p, c_char_p], True),
    "pdc_plugin_unload": (c_int, [_p, c_char_p], True),
    "pdc_launch_options_init": (None, [POINTER(LaunchOptions)], True),
    "pdc_launch": (c_int, [_p, POINTER(LaunchOptions)], True),
    "pdc_activate": (c_int, [_p, c_char_p], True),
    "pdc_deactivate": (c_int, [_p, c_char_p], True),
    "pdc_terminate": (c_int, [_p, c_char_p, c_int, c_uint32], True),
    "pdc_subscribe": (c_int, [_p, c_char_p], True),
    "pdc_unsubscribe": (c_int, [_p, c_char_p], True),
    "pdc_connect_kernels": (c_int, [_p, c_char_p, c_char_p], True),
    "pdc_disconnect_kernels": (c_int, [_p, c_char_p, c_char_p], True),
    "pdc_send_options_init": (None, [_send], True),
    "pdc_send": (c_int, [_p, c_char_p, c_void_p, c_size_t, _send, _u64], True),
    "pdc_receive": (c_int, [_p, c_int64, c_void_p, _sz, _info], True),
    "pdc_request": (c_int, [_p, c_char_p, c_void_p, c_size_t, _send, c_int64, c_void_p, _sz, _info], True),
    "pdc_status_json": (c_int, [_p, c_char_p, c_void_p, _sz], True),
    "pdc_metrics_prometheus": (c_int, [_p, c_char_p, c_void_p, _sz], True),
    "pdc_attach_options_init": (None, [POINTER(AttachOptions)], True),
    "pdc_attach": (c_int, [_p, c_char_p, POINTER(AttachOptions), POINTER(c_void_p)], True),
    "pdc_attachment_last_error": (c_char_p, [_p], True),
    "pdc_attachment_id": (c_uint64, [_p], True),
    "pdc_attachment_max_message_bytes": (c_uint32, [_p], True),
    "pdc_attachment_send": (c_int, [_p, c_void_p, c_size_t, _send, _u64], True),
    "pdc_attachment_receive": (c_int, [_p, c_int64, c_void_p, _sz, _info], True),
    "pdc_attachment_request": (c_int, [_p, c_void_p, c_size_t, _send, c_int64, c_void_p, _sz, _info], True),
    "pdc_attachment_detach": (c_int, [_p], True),
    "pdc_attachment_close": (None, [_p], True),
    # Batched and zero-copy calls: optional (libpdc 0.2.0 builds before they were added lack them).
    "pdc_attachment_begin_send": (c_int, [_p, c_size_t, _send, POINTER(c_void_p), _u64], False),
    "pdc_attachment_flush": (c_int, [_p], False),
    "pdc_attachment_send_many": (c_int, [_p, c_void_p, _sz, c_size_t, _send, _sz], False),
    "pdc_attachment_receive_many": (c_int, [_p, c_int64, c_void_p, c_size_t, _sz, _info, c_size_t, _sz], False),
    "pdc_attachment_poll": (c_int, [_p, MESSAGE_FN, c_void_p, c_size_t, c_int64, _sz], False),
    "pdc_attachment_peek": (c_int, [_p, c_int64, POINTER(c_void_p), _sz, _info], False),
    "pdc_attachment_release": (c_int, [_p], False),
    # Waiting in an event loop (docs/client.md): the base of pdc.aio.
    "pdc_attachment_wait_fd": (c_int, [_p], False),
    "pdc_attachment_arm": (c_int, [_p], False),
}

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_path: str | None = None


def library_path() -> str:
    """The path or name load() uses: $PDC_LIBRARY if set and non-empty, else libpdc.so.0."""
    return os.environ.get("PDC_LIBRARY") or DEFAULT_LIBRARY


def load() -> ctypes.CDLL:
    """Loads libpdc once and declares its functions; raises LibraryNotFound."""
    global _lib, _path
    lib = _lib
    if lib is not None:
        return lib
    with _lock:
        if _lib is not None:
            return _lib
        path = library_path()
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            how = "PDC_LIBRARY=" + path if os.environ.get("PDC_LIBRARY") else path
            raise LibraryNotFound(
                f"cannot load libpdc ({how}): {e}; install the libpdc0 package, "
                "or set PDC_LIBRARY to the path of libpdc.so.0"
            ) from e
        missing = []
        for name, (restype, argtypes, required) in _PROTOTYPES.items():
            fn = getattr(lib, name, None)
            if fn is None:
                if required:
                    missing.append(name)
                continue
            fn.restype = restype
            fn.argtypes = argtypes
        if missing:
            raise LibraryNotFound(
                f"{path} is not a usable libpdc: it lacks {', '.join(missing)}; "
                "install libpdc0 0.2 or later, or set PDC_LIBRARY"
            )
        _lib = lib
        _path = path
        return lib


def has(name: str) -> bool:
    """True when the loaded libpdc exports the C function `name` (loads it first)."""
    return hasattr(load(), name)


def loaded_path() -> str | None:
    """The path or name libpdc was loaded from; None before load()."""
    return _path
