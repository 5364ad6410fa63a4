"""pdc: a Python client for pdcd, the ring-kernel actor daemon.

    import pdc
    with pdc.connect() as client:
        client.load_plugin("pdc_echo.so")
        client.launch("echo", "e1", tier="spin")
        client.activate("e1")
        with client.attach("e1") as att:
            assert att.request(b"hi", timeout=1.0) == b"hi"

The synchronous API is pdc.connect() -> Client -> Client.attach() ->
Attachment; pdc.aio has the asyncio one (and Runtime, which follows the
method names of the seed library's RingKernelRuntime). Everything binds
libpdc's C ABI through ctypes: set PDC_LIBRARY to the path of libpdc.so.0
to use one that the dynamic loader does not find. docs/python.md has the
whole story.
"""

from __future__ import annotations

from ._capi import LibraryNotFound
from .client import (
    BACKPRESSURE,
    FULL_POLICIES,
    ISOLATION,
    TIERS,
    Attachment,
    Client,
    Message,
    PayloadView,
    connect,
)
from .errors import *  # noqa: F401,F403 - one class per errc, listed in errors.__all__
from .errors import __all__ as _error_names
from .message import f32, f64, i8, i16, i32, i64, message, u8, u16, u32, u64

__version__ = "0.2.0"

__all__ = [
    "connect",
    "Client",
    "Attachment",
    "Message",
    "PayloadView",
    "LibraryNotFound",
    "message",
    "i8",
    "u8",
    "i16",
    "u16",
    "i32",
    "u32",
    "i64",
    "u64",
    "f32",
    "f64",
    "TIERS",
    "BACKPRESSURE",
    "ISOLATION",
    "FULL_POLICIES",
    "__version__",
    *_error_names,
]
