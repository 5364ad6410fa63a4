"""pdc.aio: asyncio over pdcd's attachments, and Runtime, named after the seed's RingKernelRuntime.

    import asyncio, pdc.aio

    async def main():
        async with pdc.aio.Runtime(plugins=["pdc_echo.so"]) as rt:
            async with rt.kernel_scope("e1", "echo"):
                assert await rt.send_and_receive("e1", b"hi", timeout=1.0) == b"hi"

    asyncio.run(main())

A wait parks in the event loop: each attachment's wait descriptor (docs/client.md, "Waiting in an
event loop") is registered with ``loop.add_reader`` while some coroutine waits on it, so an
``await att.request(...)`` costs no thread and no spinning beyond a short first poll (``spin``,
50 us by default, because a wake-up through the loop costs tens of microseconds on a VM).

Replies are routed by correlation id, so many coroutines may keep requests in flight on one
attachment; what is not the reply to an awaited request (outputs, replies to plain ``send``) is
queued for ``receive()``. Everything here runs on the loop's thread, except Client calls
(launch, terminate, ...), which Runtime runs on one worker thread of its own because they wait on
the daemon's socket.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import functools
from typing import Any, AsyncIterator, Iterable

from . import client as _client
from .client import Message
from .errors import KernelStateError, PdcError, QueueTimeoutError, error_of_reply

__all__ = ["Attachment", "Runtime", "DEFAULT_SPIN"]

#: How long a request polls (seconds, in libpdc) before it parks in the event loop.
DEFAULT_SPIN = 50e-6
_RECHECK = 1.0  # while parked, look at pdcd's liveness this often (a kernel host may hold its end)
_DRAIN_BUDGET = 1024  # messages handled per loop callback before yielding to other callbacks
_ABANDONED_MAX = 4096  # correlation ids of cancelled or timed-out requests whose replies are dropped


class Attachment:
    """An asyncio view of a pdc.Attachment (which stays usable as ``.sync``; do not receive from
    it directly while coroutines wait here). Make one with ``pdc.aio.Attachment(att)`` inside a
    running loop, or with Runtime.attachment()."""

    def __init__(self, attachment: _client.Attachment, *, spin: float = DEFAULT_SPIN,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.sync = attachment
        self.kernel_id = attachment.kernel_id
        self._fd = attachment.wait_fd()  # NotSupportedError: an older pdcd, nothing to wait on
        self._loop = loop or asyncio.get_running_loop()
        self._spin_ns = max(0, int(spin * 1e9))
        self._pending: dict[int, asyncio.Future] = {}
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._inbox: collections.deque[Message] = collections.deque()
        self._abandoned: dict[int, None] = {}
        self._reading = False
        self._recheck: asyncio.TimerHandle | None = None
        self._scheduled = False

    def __repr__(self) -> str:
        return f"<pdc.aio.Attachment kernel {self.kernel_id!r} pending {len(self._pending)}>"

    async def __aenter__(self) -> "Attachment":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    @property
    def pending(self) -> int:
        """Requests awaiting their replies."""
        return len(self._pending)

    # -- sending --------------------------------------------------------------------------------
    def send(self, data: Any, *, type_id: int = 0, priority: int = _client._DEFAULT_PRIORITY,
             no_reply: bool = False) -> int:
        """Writes one message (as Attachment.send; a full ring waits per the full policy) and
        returns its message id. Its reply, if any, comes through receive()."""
        return self.sync.send(data, type_id=type_id, priority=priority, no_reply=no_reply)

    async def request(self, data: Any, timeout: float | None = None, *, type_id: int = 0,
                      priority: int = _client._DEFAULT_PRIORITY) -> bytes:
        """Sends a message and returns its reply's payload, parking in the loop meanwhile.
        QueueTimeoutError after `timeout` seconds (None: no limit); an error reply raises the
        error it names (PluginError for a failed handler); PeerGoneError / TerminatedError when
        pdcd or the kernel ends the attachment. A cancelled or timed-out request's reply is
        dropped when it comes."""
        m = await self.request_message(data, timeout, type_id=type_id, priority=priority)
        if m.is_error:
            raise error_of_reply(m.payload, self.kernel_id)
        return m.payload

    async def request_message(self, data: Any, timeout: float | None = None, *, type_id: int = 0,
                              priority: int = _client._DEFAULT_PRIORITY) -> Message:
        """request(), giving the whole reply Message (error replies included, not raised)."""
        mid = self.sync.send(data, type_id=type_id, priority=priority)
        if self._spin_ns and not self._reading:
            # Fast path: poll briefly in libpdc for the reply (the loop is held that long).
            m = self.sync._try_receive(self._spin_ns)
            if m is not None:
                if m.is_reply and m.correlation_id == mid:
                    return m
                self._dispatch(m)
        fut = self._loop.create_future()
        self._pending[mid] = fut
        self._pump()
        return await self._wait(fut, timeout, mid)

    # -- receiving ------------------------------------------------------------------------------
    async def receive(self, timeout: float | None = None) -> Message:
        """The next message that is not the reply to an awaited request (oldest first).
        QueueTimeoutError after `timeout` seconds (None: no limit; 0: only what is there)."""
        if self._inbox:
            return self._inbox.popleft()
        fut = self._loop.create_future()
        self._waiters.append(fut)
        self._pump()
        if timeout == 0 and not fut.done():
            self._forget(fut, None)
            raise QueueTimeoutError(f"no message from kernel '{self.kernel_id}'")
        return await self._wait(fut, timeout, None)

    # -- lifetime -------------------------------------------------------------------------------
    def close(self) -> None:
        """Stops watching the descriptor, fails every waiting coroutine with KernelStateError
        and closes the attachment (as pdc.Attachment.close)."""
        self._stop_reading()
        self._fail(KernelStateError(f"the attachment to kernel '{self.kernel_id}' was closed"))
        self.sync.close()

    # -- the machinery --------------------------------------------------------------------------
    async def _wait(self, fut: asyncio.Future, timeout: float | None, mid: int | None) -> Message:
        timer = None
        if timeout is not None:
            what = "message" if mid is None else "reply"
            timer = self._loop.call_later(max(0.0, timeout), self._expire, fut, timeout, what)
        try:
            return await fut
        except BaseException:
            self._forget(fut, mid)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _expire(self, fut: asyncio.Future, timeout: float, what: str) -> None:
        if not fut.done():
            fut.set_exception(QueueTimeoutError(
                f"no {what} from kernel '{self.kernel_id}' within {timeout:g} s"))

    def _forget(self, fut: asyncio.Future, mid: int | None) -> None:
        if mid is not None:
            if self._pending.pop(mid, None) is not None:
                self._abandoned[mid] = None
                if len(self._abandoned) > _ABANDONED_MAX:
                    del self._abandoned[next(iter(self._abandoned))]
        else:
            with contextlib.suppress(ValueError):
                self._waiters.remove(fut)
        if not self._pending and not self._waiters:
            self._stop_reading()

    def _dispatch(self, m: Message) -> None:
        if m.is_reply:
            fut = self._pending.pop(m.correlation_id, None)
            if fut is not None:
                if not fut.done():
                    fut.set_result(m)
                return
            if self._abandoned.pop(m.correlation_id, 0) is None:
                return  # the reply to a request nobody awaits any more
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(m)
                return
        self._inbox.append(m)

    def _pump(self) -> None:
        """Hands every message there is to its waiter; then, if anybody still waits, arms the
        descriptor and watches it."""
        self._scheduled = False
        att = self.sync
        try:
            for _ in range(_DRAIN_BUDGET):
                m = att._try_receive(0)
                if m is not None:
                    self._dispatch(m)
                    continue
                if not self._pending and not self._waiters:
                    self._stop_reading()
                    return
                if att.arm():
                    self._start_reading()
                    return
            # A busy stream: let other callbacks run, then go on.
            if not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self._pump)
        except PdcError as e:
            self._fail(e)

    def _fail(self, e: BaseException) -> None:
        self._stop_reading()
        waiting = list(self._pending.values()) + list(self._waiters)
        self._pending.clear()
        self._waiters.clear()
        for fut in waiting:
            if not fut.done():
                fut.set_exception(e)

    def _start_reading(self) -> None:
        if not self._reading:
            self._loop.add_reader(self._fd, self._pump)
            self._reading = True
        if self._recheck is None:
            self._recheck = self._loop.call_later(_RECHECK, self._tick)

    def _tick(self) -> None:
        self._recheck = None
        if self._reading:
            self._pump()  # arm() asks whether pdcd is still there

    def _stop_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None


class Runtime:
    """An async context manager over one pdcd session, with the method names and semantics of
    the seed library's RingKernelRuntime. Kernels it launched and did not terminate are
    terminated when it exits.

    ``message_types``: @pdc.message classes; a message whose type_id is one of theirs is decoded
    into that class by receive() and send_and_receive() (others come as bytes)."""

    def __init__(self, socket: str | None = None, *, plugins: Iterable[str] = (), tier: str = "async",
                 message_types: Iterable[type] = (), spin: float = DEFAULT_SPIN,
                 attach_options: dict | None = None) -> None:
        self.socket = socket
        self.tier = tier
        self._plugins = list(plugins)
        self._types = {}
        for cls in message_types:
            self.register(cls)
        self._spin = spin
        self._attach_options = dict(attach_options or {})
        self._client: _client.Client | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._attachments: dict[str, Attachment] = {}
        self._launched: dict[str, None] = {}

    # -- lifetime -------------------------------------------------------------------------------
    async def __aenter__(self) -> "Runtime":
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pdc.aio")
        try:
            self._client = await self._run(_client.connect, self.socket)
            for p in self._plugins:
                await self.load_plugin(p)
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.shutdown()

    async def shutdown(self) -> None:
        """Closes every attachment, terminates the kernels this runtime launched (errors
        ignored: pdcd may be gone) and ends the session."""
        if self._client is None:
            return
        for kid in list(self._attachments):
            await self._detach(kid)
        for kid in list(self._launched):
            with contextlib.suppress(PdcError):
                await self._run(self._client.terminate, kid)
        self._launched.clear()
        await self._close()

    async def _close(self) -> None:
        c, self._client = self._client, None
        if c is not None:
            await self._run_on(c.close)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    @property
    def client(self) -> _client.Client:
        """The synchronous Client underneath (call it only through run(), from this loop)."""
        if self._client is None:
            raise KernelStateError("the runtime is not open (use `async with`)")
        return self._client

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Runs fn(*args, **kwargs) on the runtime's worker thread, where the Client lives."""
        return await self._run(fn, *args, **kwargs)

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self._pool is None:
            raise KernelStateError("the runtime is not open (use `async with`)")
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def _run_on(self, fn: Any) -> None:
        if self._pool is not None:
            await self._run(fn)
        else:
            fn()

    def register(self, cls: type) -> type:
        """Decodes messages of cls.type_id into cls (a @pdc.message class); returns cls, so it
        may be used as a decorator."""
        tid = getattr(cls, "type_id", None)
        if tid is None or not hasattr(cls, "decode"):
            raise TypeError(f"{cls!r} is not a @pdc.message class")
        self._types[tid] = cls
        return cls

    # -- lifecycle (the seed's names) -----------------------------------------------------------
    async def load_plugin(self, path: str) -> None:
        await self._run(self.client.load_plugin, path)

    async def launch(self, kernel_id: str, kernel_type: str | None = None, **options: Any) -> None:
        """Launches kernel `kernel_id` of plugin kernel type `kernel_type` (default: the same
        name, as the seed's launch(kernel_id)); options as Client.launch, tier defaulting to
        the runtime's."""
        options.setdefault("tier", self.tier)
        await self._run(self.client.launch, kernel_type or kernel_id, kernel_id, **options)
        self._launched[kernel_id] = None

    async def activate(self, kernel_id: str) -> None:
        await self._run(self.client.activate, kernel_id)

    async def reactivate(self, kernel_id: str) -> None:
        """activate() of a deactivated kernel (the seed's separate name)."""
        await self.activate(kernel_id)

    async def deactivate(self, kernel_id: str) -> None:
        await self._run(self.client.deactivate, kernel_id)

    async def terminate(self, kernel_id: str, timeout: float | None = None, *, drop: bool = False) -> None:
        """Terminates the kernel, draining what it queued for up to `timeout` seconds (None:
        pdcd's default) unless drop; closes this runtime's attachment to it first."""
        await self._detach(kernel_id)
        ms = 0 if timeout is None else max(1, int(timeout * 1000))
        await self._run(self.client.terminate, kernel_id, drop=drop, timeout_ms=ms)
        self._launched.pop(kernel_id, None)

    @contextlib.asynccontextmanager
    async def kernel_scope(self, kernel_id: str, kernel_type: str | None = None,
                           **options: Any) -> AsyncIterator[Attachment]:
        """Launches and activates a kernel for the block, yields its attachment and terminates
        it on the way out (also on an exception)."""
        await self.launch(kernel_id, kernel_type, **options)
        try:
            await self.activate(kernel_id)
            yield await self.attachment(kernel_id)
        finally:
            if self._client is not None and kernel_id in self._launched:
                with contextlib.suppress(PdcError):
                    await self.terminate(kernel_id)

    # -- messages -------------------------------------------------------------------------------
    async def attachment(self, kernel_id: str) -> Attachment:
        """This runtime's attachment to the kernel, made on first use."""
        a = self._attachments.get(kernel_id)
        if a is None:
            sync = await self._run(self.client.attach, kernel_id, **self._attach_options)
            a = Attachment(sync, spin=self._spin)
            self._attachments[kernel_id] = a
        return a

    async def _detach(self, kernel_id: str) -> None:
        a = self._attachments.pop(kernel_id, None)
        if a is None:
            return
        a._stop_reading()
        a._fail(PdcError(f"the runtime closed its attachment to kernel '{kernel_id}'"))
        await self._run_on(a.sync.close)

    def _encode(self, message: Any, type_id: int | None) -> tuple[Any, int]:
        if hasattr(message, "encode") and hasattr(type(message), "type_id") and not isinstance(message, (str, bytes)):
            return message.encode(), type(message).type_id if type_id is None else type_id
        if isinstance(message, str):
            message = message.encode()
        return message, 0 if type_id is None else type_id

    def _decode(self, m: Message) -> Any:
        cls = self._types.get(m.type_id) if m.type_id else None
        return cls.decode(m.payload) if cls is not None else m.payload

    async def send(self, kernel_id: str, message: Any, *, type_id: int | None = None,
                   priority: int = _client._DEFAULT_PRIORITY) -> int:
        """Sends a message (bytes-like, str, or a @pdc.message instance, which brings its type_id)
        through the kernel's attachment; returns its message id. Its reply comes to receive()."""
        payload, tid = self._encode(message, type_id)
        return (await self.attachment(kernel_id)).send(payload, type_id=tid, priority=priority)

    async def receive(self, kernel_id: str, timeout: float | None = 1.0) -> Any:
        """The kernel's next message to this runtime (decoded per message_types, else bytes), or
        None when none came within `timeout` seconds: a timeout is an ordinary result, as in the
        seed. An error reply raises the error it names."""
        a = await self.attachment(kernel_id)
        try:
            m = await a.receive(timeout)
        except QueueTimeoutError:
            return None
        if m.is_error:
            raise error_of_reply(m.payload, kernel_id)
        return self._decode(m)

    async def send_and_receive(self, kernel_id: str, message: Any, timeout: float | None = 1.0, *,
                               type_id: int | None = None, priority: int = _client._DEFAULT_PRIORITY) -> Any:
        """Sends a message and returns its reply (decoded per message_types, else bytes);
        QueueTimeoutError when none came within `timeout` seconds."""
        payload, tid = self._encode(message, type_id)
        a = await self.attachment(kernel_id)
        m = await a.request_message(payload, timeout, type_id=tid, priority=priority)
        if m.is_error:
            raise error_of_reply(m.payload, kernel_id)
        return self._decode(m)

    # -- telemetry ------------------------------------------------------------------------------
    async def state(self, kernel_id: str) -> str:
        """The kernel's state name ("active", "deactivated", ...)."""
        return (await self.get_telemetry(kernel_id))["state"]

    async def get_telemetry(self, kernel_id: str | None = None) -> Any:
        """The daemon's status of one kernel (a dict: state, counters, queue depths, latency
        percentiles), or of the daemon when kernel_id is None."""
        return await self._run(self.client.status, kernel_id)

    async def summary(self) -> list[dict]:
        """Every kernel pdcd hosts, a dict each (Client.list)."""
        return await self._run(self.client.list)

    async def metrics(self, kernel_id: str | None = None) -> str:
        """Prometheus text (Client.metrics)."""
        return await self._run(self.client.metrics, kernel_id)
