"""The synchronous API: Client (a session with pdcd) and Attachment (a
kernel's rings in shared memory), over libpdc's C ABI through ctypes.

Neither class is thread-safe: use one object from one thread at a time
(libpdc's rule). ctypes releases the GIL during every C call, so other
Python threads run while a call waits.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import math
import os
import struct
from array import array
from ctypes import byref, c_char, c_char_p, c_size_t, c_uint64, c_void_p, sizeof
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from . import _capi
from .errors import (
    KernelStateError,
    MessageTooLargeError,
    NotSupportedError,
    PdcError,
    make_error,
)

try:  # optional
    import numpy as _np
except ImportError:  # pragma: no cover - exercised where numpy is missing
    _np = None

__all__ = ["Message", "Client", "Attachment", "PayloadView", "connect", "TIERS", "BACKPRESSURE", "ISOLATION",
           "FULL_POLICIES"]

#: Tier names (docs/tiers.md) -> PDC_TIER_* values.
TIERS = {"async": 0, "threaded": 1, "spin": 2, "pool": 3, "cuda": 4}
#: Backpressure policy names -> PDC_BACKPRESSURE_* values.
BACKPRESSURE = {"block": 0, "reject": 1, "drop_oldest": 2, "drop_newest": 3}
#: Isolation names -> PDC_ISOLATION_* values.
ISOLATION = {"none": 0, "process": 1}
#: Attachment full-ring policy names -> PDC_FULL_* values.
FULL_POLICIES = {"wait": 0, "fail": 1, "kernel": 2}

_E_TOO_LARGE = _capi.E_MESSAGE_TOO_LARGE
_E_TIMEOUT = _capi.E_TIMEOUT
_DEFAULT_PRIORITY = _capi.DEFAULT_PRIORITY
_BATCH = 4096  # messages per pdc_attachment_send_many call
_MANY_BUFFER = 1 << 20  # receive_many's initial buffer, bytes (at least max_message_bytes)
_TEXT_BUFFER = 64 * 1024  # status/metrics initial buffer
_DRAIN_MS = 5000  # terminate's drain when none is given: Terminate.timeout_ms's default (proto/control.fbs)

_unpack_info = struct.Struct(_capi.MESSAGE_INFO_FORMAT).unpack_from
_string_at = ctypes.string_at
_SIZE_T_CODE = next(c for c in "NQLI" if c != "N" and array(c).itemsize == sizeof(c_size_t))


def _kind(table: dict[str, int], what: str, value: Any) -> int:
    if isinstance(value, str):
        key = value.strip().lower().replace("-", "_")
        if key in table:
            return table[key]
    choices = ", ".join(table)
    raise ValueError(f"unknown {what} {value!r}: one of {choices}")


def _timeout_ns(timeout: float | None) -> int:
    """Seconds (float) or None (forever) -> int64 ns; negative or infinite -> -1 (forever)."""
    if timeout is None:
        return -1
    t = float(timeout)
    if t < 0 or math.isinf(t):
        return -1
    if math.isnan(t):
        raise ValueError("timeout is NaN")
    return min(int(t * 1e9), (1 << 63) - 1)


def _name(value: str | bytes | os.PathLike, what: str = "kernel id") -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes):
        return value
    if isinstance(value, os.PathLike):
        return os.fsencode(value)
    raise TypeError(f"{what} must be str, not {type(value).__name__}")


def _buffer(data: Any) -> tuple[Any, int, Any]:
    """A bytes-like object -> (argument for a const void* parameter, size in bytes, object to keep alive).
    bytes and writable contiguous buffers go without a copy, and so do numpy arrays
    (read-only ones too); other read-only or non-contiguous buffers are copied once."""
    if type(data) is bytes:
        return data, len(data), None
    if isinstance(data, str):
        raise TypeError("payload must be bytes-like, not str (encode it)")
    if _np is not None and isinstance(data, _np.ndarray):
        arr = _np.ascontiguousarray(data)
        return (arr.ctypes.data if arr.nbytes else None), arr.nbytes, arr
    mv = memoryview(data)
    n = mv.nbytes
    if n == 0:
        return None, 0, None
    if mv.readonly or not mv.c_contiguous:
        b = mv.tobytes()
        return b, n, b
    arr = (c_char * n).from_buffer(mv.cast("B") if (mv.format != "B" or mv.ndim != 1) else mv)
    return arr, n, arr


@dataclass(slots=True)
class Message:
    """A received message: its payload and envelope fields.

    ``payload`` is bytes, except in Attachment.poll callbacks and
    PayloadView.message, where it is a read-only memoryview into shared
    memory, valid only as long as the call or the view."""

    payload: bytes
    message_id: int = 0
    correlation_id: int = 0
    type_id: int = 0
    flags: int = 0
    priority: int = _DEFAULT_PRIORITY
    kernel_id: str = ""
    send_timestamp_ns: int = 0

    @property
    def is_reply(self) -> bool:
        return bool(self.flags & _capi.MESSAGE_FLAG_REPLY)

    @property
    def is_error(self) -> bool:
        return bool(self.flags & _capi.MESSAGE_FLAG_ERROR)

    @property
    def no_reply(self) -> bool:
        return bool(self.flags & _capi.MESSAGE_FLAG_NO_REPLY)


class _Handle:
    """What Client and Attachment share: reusable out-parameters and send options."""

    __slots__ = ()

    def _error_of(self, rc: int, closed: str) -> PdcError:
        """The exception for a failed call: the handle's last error text (else libpdc's text for
        the code), as the class of its errc; KernelStateError(`closed`) once the handle is gone."""
        if self._h is None:
            return KernelStateError(closed)
        raw = self._last_error(self._h)
        msg = raw.decode(errors="replace") if raw else ""
        if not msg:
            msg = self._lib.pdc_strerror(rc).decode(errors="replace")
        return make_error(rc, msg)

    def _init_scratch(self, buffer_bytes: int) -> None:
        self._cap = max(int(buffer_bytes), 1)
        self._buf = ctypes.create_string_buffer(self._cap)
        self._view = memoryview(self._buf).cast("B")
        self._size = c_size_t()
        self._size_ref = byref(self._size)
        self._mid = c_uint64()
        self._mid_ref = byref(self._mid)
        self._info = _capi.MessageInfo()
        self._info.struct_size = sizeof(_capi.MessageInfo)
        self._info_ref = byref(self._info)
        self._opts = _capi.SendOptions()
        self._lib.pdc_send_options_init(byref(self._opts))
        self._opts_ref = byref(self._opts)

    def _grow(self, needed: int) -> None:
        self._cap = max(int(needed), self._cap * 2)
        self._buf = ctypes.create_string_buffer(self._cap)
        self._view = memoryview(self._buf).cast("B")

    def _options(self, type_id: int, priority: int, no_reply: bool) -> Any:
        """None (libpdc's defaults) when every option is its default, else the reused struct."""
        if type_id == 0 and priority == _DEFAULT_PRIORITY and not no_reply:
            return None
        if not 0 <= priority <= 255:
            raise ValueError(f"priority must be 0-255, got {priority}")
        o = self._opts
        o.type_id = type_id
        o.priority = priority
        o.no_reply = 1 if no_reply else 0
        return self._opts_ref


class Client(_Handle):
    """One session with pdcd (pdc_client). Make one with pdc.connect()."""

    __slots__ = ("_lib", "_h", "_close_fn", "_last_error", "_socket", "_session_id", "_max", "_cap", "_buf",
                 "_view", "_size", "_size_ref", "_mid", "_mid_ref", "_info", "_info_ref", "_opts", "_opts_ref",
                 "_send_fn", "_receive_fn", "_request_fn", "__weakref__")

    def __init__(self, lib: ctypes.CDLL, handle: int, socket: str | None) -> None:
        self._lib = lib
        self._h = c_void_p(handle)
        self._close_fn = lib.pdc_close
        self._last_error = lib.pdc_last_error
        self._socket = socket
        self._session_id = lib.pdc_session_id(self._h)
        self._max = lib.pdc_max_message_bytes(self._h)
        self._send_fn = lib.pdc_send
        self._receive_fn = lib.pdc_receive
        self._request_fn = lib.pdc_request
        self._init_scratch(self._max)

    # -- lifetime -------------------------------------------------------------------------------
    def close(self) -> None:
        """Ends the session and frees the handle; idempotent. Attachments made from it stay usable
        until pdcd ends them."""
        h, self._h = self._h, None
        if h is not None and h.value:
            self._close_fn(h)

    @property
    def closed(self) -> bool:
        return self._h is None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    def __repr__(self) -> str:
        state = "closed" if self._h is None else f"session {self._session_id}"
        return f"<pdc.Client {state}>"

    # -- errors ---------------------------------------------------------------------------------
    def _error(self, rc: int) -> PdcError:
        return self._error_of(rc, "the client is closed")

    def _check(self, rc: int) -> None:
        if rc:
            raise self._error(rc)

    # -- properties -----------------------------------------------------------------------------
    @property
    def session_id(self) -> int:
        """The session id pdcd assigned (a new one after a reconnection)."""
        if self._h is not None:
            self._session_id = self._lib.pdc_session_id(self._h)
        return self._session_id

    @property
    def max_message_bytes(self) -> int:
        """Largest payload pdcd accepts, bytes."""
        return self._max

    @property
    def socket(self) -> str | None:
        """The socket path given to connect() (None: libpdc's default)."""
        return self._socket

    # -- plugins and kernels --------------------------------------------------------------------
    def load_plugin(self, path: str | os.PathLike) -> None:
        """Loads the plugin at `path` (a path or a file name in a plugin folder of pdcd)."""
        self._check(self._lib.pdc_plugin_load(self._h, _name(path, "path")))

    def unload_plugin(self, name: str) -> None:
        """Unloads the plugin `name`."""
        self._check(self._lib.pdc_plugin_unload(self._h, _name(name, "plugin name")))

    def launch(
        self,
        kernel_type: str,
        kernel_id: str,
        *,
        tier: str = "async",
        capacity: int = 0,
        backpressure: str = "block",
        max_message_bytes: int = 0,
        block_timeout_ms: int = 0,
        config: str | bytes | None = None,
        workers: int = 0,
        cpu: int = -1,
        pool: str | None = None,
        access: Iterable[str] = (),
        isolation: str = "none",
        idle_spin_us: int = 0,
        latency_metrics: bool = True,
        host_user: str | None = None,
        max_address_space_mb: int = 0,
        max_cpu_seconds: int = 0,
        max_open_files: int = 0,
        seccomp: bool = False,
        export: bool = False,
        delivery: str = "at_most_once",
    ) -> None:
        """Launches a kernel (state LAUNCHED: it queues, and consumes once activated).
        Zeros and None take pdcd's defaults. A bad tier, backpressure or isolation
        name raises ValueError before anything is sent."""
        o = _capi.LaunchOptions()
        self._lib.pdc_launch_options_init(byref(o))
        keep = []  # the encoded strings must outlive the call

        def text(v: Any, what: str) -> bytes | None:
            if v is None:
                return None
            b = _name(v, what)
            keep.append(b)
            return b

        o.kernel_type = text(kernel_type, "kernel type")
        o.kernel_id = text(kernel_id, "kernel id")
        o.tier = _kind(TIERS, "tier", tier)
        o.capacity = capacity
        o.backpressure = _kind(BACKPRESSURE, "backpressure policy", backpressure)
        o.max_message_bytes = max_message_bytes
        o.block_timeout_ms = block_timeout_ms
        o.config = text(config, "config")
        o.workers = workers
        o.cpu = cpu
        o.idle_spin_us = idle_spin_us
        o.pool = text(pool, "pool")
        o.latency_metrics = 1 if latency_metrics else 0
        entries = [_name(a, "access entry") for a in access]
        if entries:
            arr = (c_char_p * len(entries))(*entries)
            keep.append(arr)
            o.access = ctypes.cast(arr, ctypes.POINTER(c_char_p))
            o.access_count = len(entries)
        o.isolation = _kind(ISOLATION, "isolation", isolation)
        o.host_user = text(host_user, "host user")
        o.max_address_space_mb = max_address_space_mb
        o.max_cpu_seconds = max_cpu_seconds
        o.max_open_files = max_open_files
        o.seccomp = 1 if seccomp else 0
        o.exported = 1 if export else 0
        if delivery not in ("at_most_once", "at_least_once"):
            raise ValueError(f"delivery {delivery!r} must be 'at_most_once' or 'at_least_once'")
        o.at_least_once = 1 if delivery == "at_least_once" else 0
        self._check(self._lib.pdc_launch(self._h, byref(o)))

    def activate(self, kernel_id: str) -> None:
        """Opens the kernel's gate (-> active)."""
        self._check(self._lib.pdc_activate(self._h, _name(kernel_id)))

    def deactivate(self, kernel_id: str) -> None:
        """Closes the kernel's gate (active -> deactivated); messages keep queuing."""
        self._check(self._lib.pdc_deactivate(self._h, _name(kernel_id)))

    def terminate(self, kernel_id: str, *, drop: bool = False, timeout_ms: int = 0) -> None:
        """Terminates the kernel: drains its queue for up to `timeout_ms` (0: 5000, the protocol's
        default), or drops it when `drop` is true."""
        # pdc_terminate takes timeout_ms literally (0 would be a drain of no time at all).
        self._check(self._lib.pdc_terminate(self._h, _name(kernel_id), 1 if drop else 0, timeout_ms or _DRAIN_MS))

    def subscribe(self, kernel_id: str) -> None:
        """Delivers the kernel's non-reply outputs to this session (read them with receive())."""
        self._check(self._lib.pdc_subscribe(self._h, _name(kernel_id)))

    def unsubscribe(self, kernel_id: str) -> None:
        self._check(self._lib.pdc_unsubscribe(self._h, _name(kernel_id)))

    def connect_kernels(self, from_kernel: str, to_kernel: str) -> None:
        """Pipes `from_kernel`'s outputs into `to_kernel` (refused if that would make a cycle)."""
        self._check(self._lib.pdc_connect_kernels(self._h, _name(from_kernel), _name(to_kernel)))

    def disconnect_kernels(self, from_kernel: str, to_kernel: str) -> None:
        self._check(self._lib.pdc_disconnect_kernels(self._h, _name(from_kernel), _name(to_kernel)))

    def _text(self, fn: Any, kernel_id: str | None) -> str:
        kid = None if kernel_id is None else _name(kernel_id)
        cap = _TEXT_BUFFER
        size = c_size_t()
        for _ in range(16):
            buf = ctypes.create_string_buffer(cap)
            size.value = cap
            rc = fn(self._h, kid, buf, byref(size))
            if rc == 0:
                return _string_at(buf, size.value).decode(errors="replace")
            if rc == _E_TOO_LARGE and size.value > cap:
                cap = size.value + size.value // 4 + 1024  # it is fetched again: leave room to grow
                continue
            raise self._error(rc)
        raise self._error(_E_TOO_LARGE)

    def status(self, kernel_id: str | None = None) -> Any:
        """The kernel's status as a dict (pdc_status_json); with no id, every kernel's, as a list of
        dicts (the same as list())."""
        return json.loads(self._text(self._lib.pdc_status_json, kernel_id))

    def list(self) -> list[dict]:
        """Every kernel's status, as a list of dicts (one per kernel, sorted by id)."""
        result = self.status(None)
        return result if isinstance(result, list) else [result]

    def metrics(self, kernel_id: str | None = None) -> str:
        """Prometheus exposition text of one kernel, or of all (None)."""
        return self._text(self._lib.pdc_metrics_prometheus, kernel_id)

    # -- messages over the socket ---------------------------------------------------------------
    def send(self, kernel_id: str, data: Any, *, type_id: int = 0, priority: int = _DEFAULT_PRIORITY,
             no_reply: bool = False) -> int:
        """Sends one message over the socket and returns its message id (per session, from 1).
        The reply, if any, arrives through receive()."""
        if type(data) is bytes:
            ptr, n = data, len(data)
        else:
            ptr, n, _keep = _buffer(data)
        rc = self._send_fn(self._h, _name(kernel_id), ptr, n, self._options(type_id, priority, no_reply),
                           self._mid_ref)
        if rc:
            raise self._error(rc)
        return self._mid.value

    def _message(self, n: int) -> Message:
        _, mid, corr, ts, tid, flags, prio, kptr = _unpack_info(self._info)
        kid = _string_at(kptr).decode(errors="replace") if kptr else ""
        return Message(self._view[:n].tobytes(), mid, corr, tid, flags, prio, kid, ts)

    def receive(self, timeout: float | None = None) -> Message:
        """The next delivered message (a reply or a subscribed output), waiting up to `timeout`
        seconds (None: forever; 0: only what has arrived). QueueTimeoutError if none came."""
        ns = -1 if timeout is None else _timeout_ns(timeout)
        size = self._size
        size.value = self._cap
        rc = self._receive_fn(self._h, ns, self._buf, self._size_ref, self._info_ref)
        while rc:
            if rc == _E_TOO_LARGE and size.value > self._cap:
                self._grow(size.value)  # the message is held for the next call
                size.value = self._cap
                rc = self._receive_fn(self._h, 0, self._buf, self._size_ref, self._info_ref)
                continue
            raise self._error(rc)
        return self._message(size.value)

    def request(self, kernel_id: str, data: Any, timeout: float | None = None, *, type_id: int = 0,
                priority: int = _DEFAULT_PRIORITY) -> bytes:
        """Sends a message and waits up to `timeout` seconds for the kernel's reply to it; returns
        the reply's payload. An error reply raises the error it names (PluginError for a handler
        failure). Other deliveries stay queued for receive()."""
        if type(data) is bytes:
            ptr, n = data, len(data)
        else:
            ptr, n, _keep = _buffer(data)
        ns = -1 if timeout is None else _timeout_ns(timeout)
        size = self._size
        size.value = self._cap
        rc = self._request_fn(self._h, _name(kernel_id), ptr, n, self._options(type_id, priority, False), ns,
                              self._buf, self._size_ref, None)
        while rc:
            if rc == _E_TOO_LARGE and size.value > self._cap:
                self._grow(size.value)  # the reply is held: pdc_receive hands it over first
                size.value = self._cap
                rc = self._receive_fn(self._h, 0, self._buf, self._size_ref, None)
                continue
            raise self._error(rc)
        return self._view[: size.value].tobytes()

    # -- attachments ----------------------------------------------------------------------------
    def attach(
        self,
        kernel_id: str,
        *,
        request_ring_bytes: int = 0,
        reply_ring_bytes: int = 0,
        full_policy: str = "kernel",
        spin_ns: int | None = None,
        full_timeout: float | None = 5.0,
        reattach: bool = False,
    ) -> "Attachment":
        """Attaches to the kernel's rings in shared memory. full_policy: "kernel" (the kernel's
        backpressure policy), "wait" (up to `full_timeout` seconds, None: forever) or "fail".
        spin_ns: polling before a wait parks (None: libpdc's default, 200 us)."""
        o = _capi.AttachOptions()
        self._lib.pdc_attach_options_init(byref(o))
        o.request_ring_bytes = request_ring_bytes
        o.reply_ring_bytes = reply_ring_bytes
        o.full_policy = _kind(FULL_POLICIES, "full policy", full_policy)
        o.full_timeout_ns = _timeout_ns(full_timeout)
        if spin_ns is not None:
            o.spin_ns = spin_ns
        o.reattach = 1 if reattach else 0
        out = c_void_p()
        kid = _name(kernel_id)
        self._check(self._lib.pdc_attach(self._h, kid, byref(o), byref(out)))
        return Attachment(self._lib, out.value, kid.decode(errors="replace"))


class PayloadView:
    """Attachment.receive_view()'s context manager: entering peeks at the next message and gives
    a read-only memoryview of its payload in shared memory; leaving releases the view and the
    message (pdc_attachment_release). ``message`` holds the envelope (its payload is the view)."""

    __slots__ = ("_a", "_ns", "_mv", "_active", "message")

    def __init__(self, attachment: "Attachment", ns: int) -> None:
        self._a = attachment
        self._ns = ns
        self._mv: memoryview | None = None
        self._active = False
        self.message: Message | None = None

    def __enter__(self) -> memoryview:
        a = self._a
        if self._active:
            raise KernelStateError("this view is already entered")
        ptr = c_void_p()
        rc = a._peek_fn(a._h, self._ns, byref(ptr), a._size_ref, a._info_ref)
        if rc:
            raise a._error(rc)
        n = a._size.value
        if n:
            mv = memoryview((c_char * n).from_address(ptr.value)).cast("B").toreadonly()
        else:
            mv = memoryview(b"")
        self._mv = mv
        self._active = True
        a._lent = self
        _, mid, corr, ts, tid, flags, prio, _k = _unpack_info(a._info)
        self.message = Message(mv, mid, corr, tid, flags, prio, a.kernel_id, ts)
        return mv

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def release(self) -> None:
        """Releases the view and hands the message's space back to the kernel; idempotent.
        BufferError if something still holds a buffer export of the view (a pickle.PickleBuffer,
        say): the message is released all the same, and what that object shows may change.
        Objects that keep only a reference to the view, such as a numpy array made with
        numpy.frombuffer (numpy releases the export at once), go unnoticed: do not let them
        outlive the block."""
        if not self._active:
            return
        self._active = False
        a = self._a
        if a._lent is self:
            a._lent = None
        mv, self._mv = self._mv, None
        self.message = None
        busy = None
        try:
            mv.release()
        except BufferError as e:
            busy = e
        if a._h is not None:
            rc = a._release_fn(a._h)
            if rc:
                raise a._error(rc)
        if busy is not None:
            raise BufferError(
                "the payload view is still in use (a buffer export of it outlives the receive_view "
                "block); the message was released and that memory may now change"
            ) from busy


class Attachment(_Handle):
    """A shared-memory data path to one kernel (pdc_attachment). Make one with Client.attach()."""

    __slots__ = ("_lib", "_h", "kernel_id", "_cap", "_buf", "_view", "_size", "_size_ref", "_mid", "_mid_ref",
                 "_info", "_info_ref", "_opts", "_opts_ref", "_send_fn", "_receive_fn", "_request_fn",
                 "_last_error", "_close_fn", "_detached", "_send_many_fn", "_receive_many_fn", "_peek_fn",
                 "_release_fn", "_begin_send_fn", "_flush_fn", "_poll_fn", "_count", "_count_ref", "_sizes",
                 "_sizes_cap", "_many_buf", "_many_cap", "_many_view", "_lent", "_slots", "_wait_fd_fn", "_arm_fn",
                 "__weakref__")

    def __init__(self, lib: ctypes.CDLL, handle: int, kernel_id: str) -> None:
        self._lib = lib
        self._h = c_void_p(handle)
        self.kernel_id = kernel_id
        self._detached = False
        self._close_fn = lib.pdc_attachment_close
        self._last_error = lib.pdc_attachment_last_error
        self._send_fn = lib.pdc_attachment_send
        self._receive_fn = lib.pdc_attachment_receive
        self._request_fn = lib.pdc_attachment_request
        self._send_many_fn = getattr(lib, "pdc_attachment_send_many", None)
        self._receive_many_fn = getattr(lib, "pdc_attachment_receive_many", None)
        self._peek_fn = getattr(lib, "pdc_attachment_peek", None)
        self._release_fn = getattr(lib, "pdc_attachment_release", None)
        self._begin_send_fn = getattr(lib, "pdc_attachment_begin_send", None)
        self._flush_fn = getattr(lib, "pdc_attachment_flush", None)
        self._poll_fn = getattr(lib, "pdc_attachment_poll", None)
        self._wait_fd_fn = getattr(lib, "pdc_attachment_wait_fd", None)
        self._arm_fn = getattr(lib, "pdc_attachment_arm", None)
        self._count = c_size_t()
        self._count_ref = byref(self._count)
        self._sizes = None
        self._sizes_cap = 0
        self._many_buf = None
        self._many_cap = 0
        self._many_view = None
        self._lent: PayloadView | None = None
        self._slots: list[memoryview] = []
        self._init_scratch(lib.pdc_attachment_max_message_bytes(self._h))

    # -- lifetime -------------------------------------------------------------------------------
    def _drop_borrowed(self) -> None:
        lent = self._lent
        if lent is not None:
            try:
                lent.release()
            except (BufferError, PdcError):
                pass
        if self._slots:
            self._release_slots()

    def _release_slots(self) -> None:
        for mv in self._slots:
            try:
                mv.release()
            except BufferError:
                pass
        self._slots.clear()

    def detach(self) -> None:
        """Closes the rings and tells pdcd (through the client, if it is still open). Later calls
        fail with KernelStateError; close() frees the handle."""
        if self._h is None:
            raise KernelStateError("the attachment is closed")
        self._drop_borrowed()
        self._detached = True
        rc = self._lib.pdc_attachment_detach(self._h)
        if rc:
            raise self._error(rc)

    def close(self) -> None:
        """Detaches (errors ignored: pdcd may be gone) and frees the handle; idempotent."""
        if self._h is None:
            return
        if not self._detached:
            try:
                self.detach()
            except PdcError:
                pass
        h, self._h = self._h, None
        self._close_fn(h)

    @property
    def closed(self) -> bool:
        return self._h is None

    def __enter__(self) -> "Attachment":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # No detach here (it talks through the client, maybe busy on another thread): closing
        # the rings is enough for pdcd.
        try:
            h, self._h = self._h, None
            if h is not None:
                self._close_fn(h)
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self._h is None else f"id {self.id}"
        return f"<pdc.Attachment kernel {self.kernel_id!r} {state}>"

    # -- errors and properties ------------------------------------------------------------------
    def _error(self, rc: int) -> PdcError:
        return self._error_of(rc, "the attachment is closed")

    def _missing(self, what: str) -> NotSupportedError:
        return NotSupportedError(f"this libpdc ({_capi.loaded_path()}) has no {what}")

    @property
    def id(self) -> int:
        """Attachment id pdcd assigned; 0 once detached (a new one after a reattach)."""
        return self._lib.pdc_attachment_id(self._h) if self._h is not None else 0

    @property
    def max_message_bytes(self) -> int:
        """Largest payload one message may carry, bytes (the kernel's limit, capped by the ring)."""
        return self._lib.pdc_attachment_max_message_bytes(self._h) if self._h is not None else 0

    # -- one message at a time --------------------------------------------------------------------
    def send(self, data: Any, *, type_id: int = 0, priority: int = _DEFAULT_PRIORITY,
             no_reply: bool = False) -> int:
        """Writes one message into the request ring and returns its message id (per attachment,
        from 1). A full ring waits or fails per the attachment's full_policy."""
        if type(data) is bytes:
            ptr, n = data, len(data)
        else:
            ptr, n, _keep = _buffer(data)
        if self._slots:
            self._release_slots()
        rc = self._send_fn(self._h, ptr, n, self._options(type_id, priority, no_reply), self._mid_ref)
        if rc:
            raise self._error(rc)
        return self._mid.value

    def receive(self, timeout: float | None = None) -> Message:
        """The next message from the kernel, waiting up to `timeout` seconds (None: forever; 0:
        only what is there). QueueTimeoutError if none came; TerminatedError once the kernel was
        terminated; PeerGoneError / DaemonStoppingError once pdcd is gone / stopping."""
        m = self._try_receive(-1 if timeout is None else _timeout_ns(timeout))
        if m is None:
            raise self._error(_E_TIMEOUT)
        return m

    def request(self, data: Any, timeout: float | None = None, *, type_id: int = 0,
                priority: int = _DEFAULT_PRIORITY) -> bytes:
        """Sends a message and waits up to `timeout` seconds for its reply; returns the reply's
        payload. Other messages stay queued for receive()."""
        if type(data) is bytes:
            ptr, n = data, len(data)
        else:
            ptr, n, _keep = _buffer(data)
        ns = -1 if timeout is None else _timeout_ns(timeout)
        if self._slots:
            self._release_slots()
        size = self._size
        size.value = self._cap
        rc = self._request_fn(self._h, ptr, n, self._options(type_id, priority, False), ns, self._buf,
                              self._size_ref, None)
        while rc:
            if rc == _E_TOO_LARGE and size.value > self._cap:
                self._grow(size.value)
                size.value = self._cap
                rc = self._receive_fn(self._h, 0, self._buf, self._size_ref, None)
                continue
            raise self._error(rc)
        return self._view[: size.value].tobytes()

    def _try_receive(self, ns: int) -> Message | None:
        """receive() with a timeout in nanoseconds that gives None instead of raising
        QueueTimeoutError (pdc.aio drains with it)."""
        if self._slots:
            self._release_slots()
        size = self._size
        size.value = self._cap
        rc = self._receive_fn(self._h, ns, self._buf, self._size_ref, self._info_ref)
        while rc:
            if rc == _E_TIMEOUT:
                return None
            if rc == _E_TOO_LARGE and size.value > self._cap:
                self._grow(size.value)
                size.value = self._cap
                rc = self._receive_fn(self._h, 0, self._buf, self._size_ref, self._info_ref)
                continue
            raise self._error(rc)
        _, mid, corr, ts, tid, flags, prio, _k = _unpack_info(self._info)
        return Message(self._view[: size.value].tobytes(), mid, corr, tid, flags, prio, self.kernel_id, ts)

    # -- event loops --------------------------------------------------------------------------
    def wait_fd(self) -> int:
        """The descriptor an event loop watches for readability to wait for this attachment
        (docs/client.md, "Waiting in an event loop"). Owned by the attachment: never read,
        write or close it. NotSupportedError when pdcd sent none (an older pdcd) or this
        libpdc lacks the call; KernelStateError once detached."""
        if self._h is None or self._detached:
            raise KernelStateError("the attachment is detached")
        if self._wait_fd_fn is None:
            raise self._missing("pdc_attachment_wait_fd")
        fd = self._wait_fd_fn(self._h)
        if fd < 0:
            raise NotSupportedError("pdcd sent no wait descriptor with this attachment (an older pdcd)")
        return fd

    def arm(self) -> bool:
        """Prepares a wait on wait_fd(): True when nothing can be received now (sleep until
        the descriptor is readable, then receive with timeout 0, and arm again on a timeout);
        False when a receiving call has something to return at once (a message, or the error
        that ends the attachment). Publishes what begin_send reserved."""
        if self._arm_fn is None:
            raise self._missing("pdc_attachment_arm")
        rc = self._arm_fn(self._h)
        if rc == 0:
            return True
        if rc == 1:
            return False
        raise self._error(rc)

    def receive_into(self, buffer: Any, timeout: float | None = None) -> int:
        """Receives the next message's payload into `buffer` (a writable contiguous bytes-like
        object) and returns its size. MessageTooLargeError (with ``needed``) when it does not
        fit: the message is then held for the next receiving call."""
        mv = memoryview(buffer)
        if mv.readonly:
            raise TypeError("receive_into needs a writable buffer")
        if not mv.c_contiguous:
            raise ValueError("receive_into needs a contiguous buffer")
        cap = mv.nbytes
        target = (c_char * cap).from_buffer(mv.cast("B") if (mv.format != "B" or mv.ndim != 1) else mv) if cap else None
        ns = -1 if timeout is None else _timeout_ns(timeout)
        if self._slots:
            self._release_slots()
        size = self._size
        size.value = cap
        rc = self._receive_fn(self._h, ns, target, self._size_ref, self._info_ref)
        if rc:
            e = self._error(rc)
            if isinstance(e, MessageTooLargeError):
                e.needed = size.value
            raise e
        return size.value

    # -- batches and zero copy --------------------------------------------------------------------
    def send_many(self, messages: Iterable[Any], *, type_id: int = 0, priority: int = _DEFAULT_PRIORITY,
                  no_reply: bool = False) -> int:
        """Sends every message of `messages` (bytes-like objects), in order, with one
        pdc_attachment_send_many call (one ring commit) per 4096; returns how many were sent. On
        an error the exception's ``sent`` says how many went before it."""
        fn = self._send_many_fn
        if fn is None:
            raise self._missing("pdc_attachment_send_many")
        opts = self._options(type_id, priority, no_reply)
        if self._slots:
            self._release_slots()
        total = 0
        it = iter(messages)
        count = self._count
        while True:
            chunk = list(itertools.islice(it, _BATCH))
            if not chunk:
                return total
            sizes = list(map(len, chunk))
            data = b"".join(chunk)
            if len(data) != sum(sizes):  # items whose len() is not their size in bytes (typed memoryviews)
                sizes = [memoryview(x).nbytes for x in chunk]
            arr = array(_SIZE_T_CODE, sizes)
            n = len(sizes)
            csizes = (c_size_t * n).from_buffer(arr)
            count.value = 0
            rc = fn(self._h, data, csizes, n, opts, self._count_ref)
            total += count.value
            if rc:
                e = self._error(rc)
                e.sent = total
                raise e

    def _many_buffers(self, max_messages: int, buffer_bytes: int) -> None:
        if max_messages > self._sizes_cap:
            self._sizes = (c_size_t * max_messages)()
            self._sizes_cap = max_messages
        if buffer_bytes > self._many_cap:
            self._many_cap = buffer_bytes
            self._many_buf = ctypes.create_string_buffer(buffer_bytes)
            self._many_view = memoryview(self._many_buf).cast("B")

    def receive_many(self, max: int = 1024, timeout: float | None = None) -> list[bytes]:  # noqa: A002
        """Up to `max` messages' payloads: waits up to `timeout` seconds (None: forever) for the
        first, then takes what is already there while it fits a reusable buffer (1 MiB, or
        max_message_bytes if larger; grown for a larger message). QueueTimeoutError when none
        came. An error that happens after some messages comes with the next call."""
        fn = self._receive_many_fn
        if fn is None:
            raise self._missing("pdc_attachment_receive_many")
        if max < 1:
            raise ValueError("max must be at least 1")
        if max > self._sizes_cap or self._many_cap == 0:
            self._many_buffers(max, self._many_cap or builtin_max(_MANY_BUFFER, self._cap))
        ns = -1 if timeout is None else _timeout_ns(timeout)
        if self._slots:
            self._release_slots()
        sizes = self._sizes
        rc = fn(self._h, ns, self._many_buf, self._many_cap, sizes, None, max, self._count_ref)
        while rc:
            if rc == _E_TOO_LARGE and sizes[0] > self._many_cap:
                self._many_buffers(max, sizes[0])  # nothing was consumed: take it now
                rc = fn(self._h, 0, self._many_buf, self._many_cap, sizes, None, max, self._count_ref)
                continue
            raise self._error(rc)
        n = self._count.value
        sz = sizes[:n]
        total = sum(sz)
        data = self._many_view[:total].tobytes()
        if n == 1:
            return [data]
        first = sz[0]
        if first and sz.count(first) == n:
            return [data[i : i + first] for i in range(0, total, first)]
        out = []
        off = 0
        for s in sz:
            out.append(data[off : off + s])
            off += s
        return out

    def receive_view(self, timeout: float | None = None) -> PayloadView:
        """Zero-copy receive, for a with block: ``with a.receive_view(1.0) as mv: ...`` gives a
        read-only memoryview of the next message's payload in shared memory, valid inside the
        block only; leaving it releases the message. Meanwhile other receiving calls raise
        KernelStateError; sends work."""
        if self._peek_fn is None or self._release_fn is None:
            raise self._missing("pdc_attachment_peek")
        return PayloadView(self, -1 if timeout is None else _timeout_ns(timeout))

    def poll(self, fn: Callable[[Message], Any], max_messages: int = 64, timeout: float | None = 0) -> int:
        """Zero-copy: calls fn(message) for up to `max_messages` messages already there (waiting up
        to `timeout` seconds for the first; None: forever), message.payload a read-only memoryview
        valid during the call only; then hands their space back in one release. Returns how many
        (0 when none came). If fn raises, the rest of the batch is consumed without calling fn and
        the exception is raised after."""
        cfn = self._poll_fn
        if cfn is None:
            raise self._missing("pdc_attachment_poll")
        state: list[Any] = [None]
        kernel_id = self.kernel_id

        def trampoline(_ctx: Any, payload: Any, size: int, info: Any) -> None:
            if state[0] is not None:
                return
            try:
                mv = (memoryview((c_char * size).from_address(payload)).cast("B").toreadonly()
                      if size else memoryview(b""))
                _, mid, corr, ts, tid, flags, prio, _k = _unpack_info(info.contents)
                try:
                    fn(Message(mv, mid, corr, tid, flags, prio, kernel_id, ts))
                finally:
                    mv.release()
            except BaseException as e:  # noqa: BLE001 - re-raised after the C call
                state[0] = e

        cb = _capi.MESSAGE_FN(trampoline)
        if self._slots:
            self._release_slots()
        ns = -1 if timeout is None else _timeout_ns(timeout)
        rc = cfn(self._h, cb, None, max_messages, ns, self._count_ref)
        if state[0] is not None:
            raise state[0]
        if rc:
            raise self._error(rc)
        return self._count.value

    def begin_send(self, nbytes: int, *, type_id: int = 0, priority: int = _DEFAULT_PRIORITY,
                   no_reply: bool = False) -> tuple[memoryview, int]:
        """Reserves one message of `nbytes` in the request ring: returns a writable memoryview of
        its payload (in shared memory) and its message id. Write the payload, then flush() (or
        send or receive): that publishes every reserved message at once and ends the views."""
        fn = self._begin_send_fn
        if fn is None:
            raise self._missing("pdc_attachment_begin_send")
        ptr = c_void_p()
        rc = fn(self._h, nbytes, self._options(type_id, priority, no_reply), byref(ptr), self._mid_ref)
        if rc:
            raise self._error(rc)
        mv = memoryview((c_char * nbytes).from_address(ptr.value)).cast("B") if nbytes else memoryview(bytearray())
        self._slots.append(mv)
        return mv, self._mid.value

    def flush(self) -> None:
        """Publishes every message reserved with begin_send (one commit)."""
        fn = self._flush_fn
        if fn is None:
            raise self._missing("pdc_attachment_flush")
        if self._slots:
            self._release_slots()
        rc = fn(self._h)
        if rc:
            raise self._error(rc)

    # -- numpy ----------------------------------------------------------------------------------
    def send_array(self, array_: Any, *, type_id: int = 0, priority: int = _DEFAULT_PRIORITY,
                   no_reply: bool = False) -> int:
        """Sends a numpy array's bytes (C order) as one message, without a copy when the array is
        C-contiguous. Only the bytes travel: the receiver must know dtype and shape."""
        if _np is None:
            raise NotSupportedError("send_array needs numpy")
        arr = _np.ascontiguousarray(array_)
        n = arr.nbytes
        if self._slots:
            self._release_slots()
        rc = self._send_fn(self._h, arr.ctypes.data if n else None, n, self._options(type_id, priority, no_reply),
                           self._mid_ref)
        if rc:
            raise self._error(rc)
        return self._mid.value

    def receive_array(self, dtype: Any, timeout: float | None = None, *, shape: Any = None) -> Any:
        """Receives the next message as a new, writable 1-D numpy array of `dtype` (or of `shape`),
        copied once out of shared memory (pdc_attachment_peek, then release). A payload whose size
        is not a multiple of the dtype's size raises ValueError (the message is consumed). For no
        copy at all use numpy.frombuffer inside receive_view."""
        if _np is None:
            raise NotSupportedError("receive_array needs numpy")
        dt = _np.dtype(dtype)
        if self._peek_fn is None:
            payload = self.receive(timeout).payload
            if len(payload) % dt.itemsize:
                raise ValueError(f"payload of {len(payload)} bytes is not a whole number of {dt} items")
            out = _np.frombuffer(payload, dtype=dt).copy()
        else:
            ptr = c_void_p()
            ns = -1 if timeout is None else _timeout_ns(timeout)
            if self._slots:
                self._release_slots()
            rc = self._peek_fn(self._h, ns, byref(ptr), self._size_ref, self._info_ref)
            if rc:
                raise self._error(rc)
            try:
                n = self._size.value
                if n % dt.itemsize:
                    raise ValueError(f"payload of {n} bytes is not a whole number of {dt} items")
                out = _np.empty(n // dt.itemsize, dtype=dt)
                if n:
                    ctypes.memmove(out.ctypes.data, ptr.value, n)
            finally:
                rc = self._release_fn(self._h)
            if rc:
                raise self._error(rc)
        return out.reshape(shape) if shape is not None else out


builtin_max = max


def connect(
    socket: str | os.PathLike | None = None,
    *,
    name: str = "python",
    reconnect: bool = False,
    reconnect_wait: bool = False,
    initial_backoff: float | None = None,
    max_backoff: float | None = None,
) -> Client:
    """Connects to pdcd at `socket` (None or "": $PDC_SOCKET, else libpdc's default path) and says
    hello. `name` shows in pdcd's log. reconnect=True: connect again by itself after pdcd went
    away (reconnect_wait: calls wait for it instead of failing at once; back-offs in seconds).
    Raises LibraryNotFound without libpdc, PeerGoneError / OSCallError / PermissionDeniedError
    when pdcd cannot be reached."""
    lib = _capi.load()
    o = _capi.ConnectOptions()
    lib.pdc_connect_options_init(byref(o))
    cname = _name(name, "client name")
    o.client_name = cname
    o.reconnect = 1 if reconnect else 0
    o.reconnect_wait = 1 if reconnect_wait else 0
    if initial_backoff is not None:
        o.initial_backoff_ns = _timeout_ns(initial_backoff)
    if max_backoff is not None:
        o.max_backoff_ns = _timeout_ns(max_backoff)
    path = None if socket is None else _name(socket, "socket path")
    out = c_void_p()
    rc = lib.pdc_connect_with(path, byref(o), byref(out))
    if rc:
        raw = lib.pdc_last_error(None)
        msg = raw.decode(errors="replace") if raw else lib.pdc_strerror(rc).decode(errors="replace")
        raise make_error(rc, msg)
    return Client(lib, out.value, None if socket is None else os.fsdecode(path))
