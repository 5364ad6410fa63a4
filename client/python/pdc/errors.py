"""pdc's exceptions: one class per PDC_E_* code of pdc/errors.h.

Every class derives from PdcError. Each carries ``code`` (the negative
PDC_E_* value), ``name`` (the pdc::errc enumerator, e.g. "timeout") and
``message`` (libpdc's one-line message of the failure; str(e) gives it).
Some also derive from the builtin exception that means the same, so that
``except TimeoutError`` or ``except ConnectionError`` catch them too.
"""

from __future__ import annotations

__all__ = [
    "PdcError",
    "InvalidArgumentError",
    "NotFoundError",
    "AlreadyExistsError",
    "KernelStateError",
    "MessageTooLargeError",
    "QueueFullError",
    "EmptyError",
    "QueueTimeoutError",
    "PeerGoneError",
    "TerminatedError",
    "ProtocolError",
    "VersionMismatchError",
    "CorruptSegmentError",
    "OSCallError",
    "PluginError",
    "PermissionDeniedError",
    "RejectedError",
    "NotSupportedError",
    "ShuttingDownError",
    "InternalError",
    "DroppedError",
    "LimitError",
    "KernelRestartedError",
    "DaemonStoppingError",
    "ERRORS",
    "error_class",
    "make_error",
    "error_of_reply",
]


class PdcError(Exception):
    """A failed libpdc call. ``code``: the PDC_E_* value (negative int);
    ``name``: the errc name; ``message``: libpdc's message."""

    code: int = 0
    name: str = "unknown"

    def __init__(self, message: str = "", code: int | None = None) -> None:
        # One positional argument only: OSError subclasses would read two as (errno, strerror).
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message or self.name

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.code))


def _rebuild(cls, message, code):
    e = cls(message)
    e.code = code
    return e


class InvalidArgumentError(PdcError):
    """PDC_E_INVALID_ARGUMENT: a parameter is out of range or malformed."""

    code, name = -1, "invalid_argument"


class NotFoundError(PdcError, LookupError):
    """PDC_E_NOT_FOUND: no such kernel, plugin, type or attachment."""

    code, name = -2, "not_found"


class AlreadyExistsError(PdcError):
    """PDC_E_ALREADY_EXISTS: the name or id is taken."""

    code, name = -3, "already_exists"


class KernelStateError(PdcError):
    """PDC_E_ILLEGAL_STATE: not allowed in the current state (of a kernel,
    an attachment or a client)."""

    code, name = -4, "illegal_state"


class MessageTooLargeError(PdcError):
    """PDC_E_MESSAGE_TOO_LARGE: larger than the limit; nothing was sent.
    From a receiving call into a caller's buffer: ``needed`` is the size
    the message needs (0 when unknown)."""

    code, name = -5, "message_too_large"
    needed: int = 0


class QueueFullError(PdcError):
    """PDC_E_FULL: a bounded queue or ring has no room now."""

    code, name = -6, "full"


class EmptyError(PdcError):
    """PDC_E_EMPTY: nothing to read now."""

    code, name = -7, "empty"


class QueueTimeoutError(PdcError, TimeoutError):
    """PDC_E_TIMEOUT: the deadline passed (also a TimeoutError)."""

    code, name = -8, "timeout"


class PeerGoneError(PdcError, ConnectionError):
    """PDC_E_PEER_GONE: the other side (pdcd, usually) is gone."""

    code, name = -9, "peer_gone"


class TerminatedError(PdcError):
    """PDC_E_TERMINATED: the kernel was terminated."""

    code, name = -10, "terminated"


class ProtocolError(PdcError):
    """PDC_E_PROTOCOL: a malformed or unexpected frame."""

    code, name = -11, "protocol_error"


class VersionMismatchError(PdcError):
    """PDC_E_VERSION: an unsupported protocol, layout or ABI version."""

    code, name = -12, "version_mismatch"


class CorruptSegmentError(PdcError):
    """PDC_E_CORRUPT_SEGMENT: a bad shared-memory segment or record."""

    code, name = -13, "corrupt_segment"


class OSCallError(PdcError, OSError):
    """PDC_E_SYSTEM: an operating-system call failed (the message names it)."""

    code, name = -14, "system_error"


class PluginError(PdcError):
    """PDC_E_PLUGIN: a plugin failed to load, or its create or handler failed."""

    code, name = -15, "plugin_error"


class PermissionDeniedError(PdcError, PermissionError):
    """PDC_E_PERMISSION: the caller is not allowed to do this."""

    code, name = -16, "permission_denied"


class RejectedError(PdcError):
    """PDC_E_REJECTED: refused by the kernel's backpressure policy."""

    code, name = -17, "rejected"


class NotSupportedError(PdcError):
    """PDC_E_NOT_SUPPORTED: not supported here (also: this libpdc lacks the C call)."""

    code, name = -18, "not_supported"


class ShuttingDownError(PdcError):
    """PDC_E_SHUTTING_DOWN: the daemon is shutting down."""

    code, name = -19, "shutting_down"


class InternalError(PdcError):
    """PDC_E_INTERNAL: a bug in pdc."""

    code, name = -20, "internal"


class DroppedError(PdcError):
    """PDC_E_DROPPED: dropped by the kernel's backpressure policy."""

    code, name = -21, "dropped"


class LimitError(PdcError):
    """PDC_E_LIMIT: a configured limit of the daemon is reached."""

    code, name = -22, "limit_reached"


class KernelRestartedError(PdcError):
    """PDC_E_KERNEL_RESTARTED: the kernel's host process restarted; requests in flight are lost."""

    code, name = -23, "kernel_restarted"


class DaemonStoppingError(PdcError, ConnectionError):
    """PDC_E_DAEMON_STOPPING: pdcd is stopping; the session and its attachments end."""

    code, name = -24, "daemon_stopping"


#: PDC_E_* code -> exception class.
ERRORS: dict[int, type[PdcError]] = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        AlreadyExistsError,
        KernelStateError,
        MessageTooLargeError,
        QueueFullError,
        EmptyError,
        QueueTimeoutError,
        PeerGoneError,
        TerminatedError,
        ProtocolError,
        VersionMismatchError,
        CorruptSegmentError,
        OSCallError,
        PluginError,
        PermissionDeniedError,
        RejectedError,
        NotSupportedError,
        ShuttingDownError,
        InternalError,
        DroppedError,
        LimitError,
        KernelRestartedError,
        DaemonStoppingError,
    )
}


def error_class(code: int) -> type[PdcError]:
    """The class for a PDC_E_* code (negative or positive); PdcError when unknown."""
    return ERRORS.get(-abs(code), PdcError)


def make_error(code: int, message: str = "") -> PdcError:
    """An instance of the class for `code`, carrying `code` and `message`."""
    code = -abs(code)
    cls = ERRORS.get(code)
    if cls is None:
        e = PdcError(message or f"unknown pdc error code {code}")
        e.code = code
        return e
    return cls(message or cls.name)


def error_of_reply(payload: bytes, kernel_id: str = "") -> PdcError:
    """The error an error reply carries: its text is "<errc name>: <reason>" (the class
    named, else PluginError), as libpdc maps it for pdc_attachment_request."""
    text = bytes(payload).decode(errors="replace").replace("\n", " ").replace("\r", " ")
    if not text:
        text = f"kernel '{kernel_id}' replied with an error"
    name, colon, _ = text.partition(":")
    cls = PluginError
    if colon:
        cls = next((c for c in ERRORS.values() if c.name == name), PluginError)
    return cls(text)
