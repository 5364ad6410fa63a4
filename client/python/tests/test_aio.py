"""Tests of pdc.aio (asyncio attachments and Runtime) against a real pdcd.

Each test runs its coroutine with asyncio.run and bounds every await with asyncio.wait_for, so a
hang fails the test instead of stalling the suite. Where a test needs a wait to really park in
the event loop, it makes the kernel unable to answer (launched, not active) and then lets it
answer: the answer can only come through the wait descriptor, however fast the machine is.
"""

from __future__ import annotations

import asyncio
import struct

import pytest

import pdc
import pdc.aio

from conftest import wait_for

#: A generous bound for anything that should take milliseconds.
WAIT = 10.0
TIERS = ["async", "threaded", "spin", "pool"]


def run(coro, bound: float = 60.0):
    """Runs `coro` in a fresh event loop, failing (not hanging) after `bound` seconds."""
    async def bounded():
        return await asyncio.wait_for(coro, bound)

    return asyncio.run(bounded())


async def settle(predicate, what: str, timeout: float = WAIT) -> None:
    """Lets the loop run until predicate() is true (at most `timeout` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


@pdc.message(type_id=0)
class I64:
    value: pdc.i64


@pdc.message(type_id=9)
class Tagged:
    stream: pdc.u32
    value: pdc.f64


# ------------------------------------------------------------------------------------------------
# pdc.aio.Attachment
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tier", TIERS)
def test_request_round_trips_on_every_tier(client, tier):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "e", tier=tier)
    client.activate("e")

    async def body():
        att = pdc.aio.Attachment(client.attach("e"))
        for i in range(500):
            assert await att.request(b"r%d" % i, WAIT) == b"r%d" % i
        assert att.pending == 0
        att.close()

    run(body())


def test_a_parked_request_is_woken_through_the_loop(client):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "e", tier="threaded")  # launched: it queues and answers nothing yet
    att = client.attach("e")

    async def body():
        a = pdc.aio.Attachment(att)
        task = asyncio.ensure_future(a.request(b"late", None))
        await settle(lambda: a._reading, "the request to park on the wait descriptor")
        assert not task.done()
        ticks = 0

        async def ticker():  # the loop stays free while the request waits
            nonlocal ticks
            while not task.done():
                ticks += 1
                await asyncio.sleep(0)

        t = asyncio.ensure_future(ticker())
        await settle(lambda: ticks >= 100, "other coroutines to run meanwhile")
        client.activate("e")
        assert await asyncio.wait_for(task, WAIT) == b"late"
        await t
        assert not a._reading  # nobody waits: the descriptor is not watched
        a.close()

    run(body())


def test_concurrent_requests_get_their_own_replies(client):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "e", tier="spin")
    client.activate("e")

    async def body():
        a = pdc.aio.Attachment(client.attach("e"))
        for _ in range(5):
            replies = await asyncio.gather(*(a.request(b"c%d" % i, WAIT) for i in range(200)))
            assert replies == [b"c%d" % i for i in range(200)]
        a.close()

    run(body())


def test_receive_gets_what_no_request_awaits(client):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "e", tier="threaded")
    client.activate("e")

    async def body():
        a = pdc.aio.Attachment(client.attach("e"))
        m1 = a.send(b"one", type_id=4)
        assert await a.request(b"two", WAIT) == b"two"  # overtakes nothing: "one" waits in the inbox
        m = await a.receive(WAIT)
        assert (m.payload, m.correlation_id, m.type_id) == (b"one", m1, 4) and m.is_reply
        # receive parks too: nothing is there until the kernel answers.
        client.deactivate("e")
        m3 = a.send(b"three")
        task = asyncio.ensure_future(a.receive(None))
        await settle(lambda: a._reading, "receive to park")
        client.activate("e")
        m = await asyncio.wait_for(task, WAIT)
        assert (m.payload, m.correlation_id) == (b"three", m3)
        with pytest.raises(pdc.QueueTimeoutError):
            await a.receive(0)
        a.close()

    run(body())


def test_a_timed_out_request_raises_and_its_late_reply_is_dropped(client):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "e", tier="threaded")  # launched only: no reply yet

    async def body():
        a = pdc.aio.Attachment(client.attach("e"))
        with pytest.raises(pdc.QueueTimeoutError, match="no reply from kernel 'e' within 0.05 s") as info:
            await a.request(b"abandoned", 0.05)
        assert isinstance(info.value, TimeoutError)
        assert a.pending == 0 and not a._reading
        with pytest.raises(pdc.QueueTimeoutError, match="no message from kernel 'e' within 0.05 s"):
            await a.receive(0.05)
        client.activate("e")
        assert await a.request(b"next", WAIT) == b"next"  # the reply to "abandoned" came first
        with pytest.raises(pdc.QueueTimeoutError):
            await a.receive(0.05)  # ... and was dropped, not queued
        a.close()

    run(body())


def test_a_cancelled_request_stops_watching_and_its_reply_is_dropped(client):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "e", tier="async")

    async def body():
        a = pdc.aio.Attachment(client.attach("e"))
        task = asyncio.ensure_future(a.request(b"cancelled", None))
        await settle(lambda: a._reading, "the request to park")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert a.pending == 0 and not a._reading
        # A cancelled receive leaves no waiter behind to swallow a message.
        rtask = asyncio.ensure_future(a.receive(None))
        await settle(lambda: a._reading, "receive to park")
        rtask.cancel()
        with pytest.raises(asyncio.CancelledError):
            await rtask
        client.activate("e")
        plain = a.send(b"plain")
        assert await a.request(b"after", WAIT) == b"after"
        m = await a.receive(WAIT)
        assert (m.payload, m.correlation_id) == (b"plain", plain)
        a.close()

    run(body())


def test_an_error_reply_raises_the_error_it_names(client):
    client.load_plugin("pdc_double.so")
    client.launch("double", "d", tier="threaded")
    client.activate("d")

    async def body():
        a = pdc.aio.Attachment(client.attach("d"))
        assert struct.unpack("<q", await a.request(struct.pack("<q", 21), WAIT)) == (42,)
        with pytest.raises(pdc.PluginError, match=r"handler of kernel 'd' failed .*got 3 bytes"):
            await a.request(b"bad", WAIT)
        m = await a.request_message(b"bad", WAIT)  # the whole reply, not raised
        assert m.is_error and m.payload.startswith(b"plugin_error: ")
        assert struct.unpack("<q", await a.request(struct.pack("<q", -1), WAIT)) == (-2,)
        a.close()

    run(body())


def test_error_of_reply_maps_the_errc_name():
    assert type(pdc.error_of_reply(b"not_found: no such thing")) is pdc.NotFoundError
    assert type(pdc.error_of_reply(b"plugin_error: x")) is pdc.PluginError
    assert type(pdc.error_of_reply(b"nonsense: x")) is pdc.PluginError
    assert type(pdc.error_of_reply(b"no colon")) is pdc.PluginError
    assert str(pdc.error_of_reply(b"", "k")) == "kernel 'k' replied with an error"


def test_terminate_mid_stream_ends_every_waiter_with_terminated(client):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "e", tier="threaded")
    client.activate("e")

    async def body():
        a = pdc.aio.Attachment(client.attach("e"))
        done = 0

        async def stream(k):
            nonlocal done
            i = 0
            while True:
                assert await a.request(b"%d-%d" % (k, i), WAIT) == b"%d-%d" % (k, i)
                i += 1
                done += 1

        tasks = [asyncio.ensure_future(stream(k)) for k in range(8)]
        await settle(lambda: done >= 400, "the streams to make progress")
        await asyncio.get_running_loop().run_in_executor(None, client.terminate, "e")
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), WAIT)
        assert all(isinstance(r, pdc.TerminatedError) for r in results), results
        with pytest.raises(pdc.TerminatedError):
            await a.receive(None)  # at once, not parked forever
        a.close()

    run(body())


def test_a_killed_daemon_ends_a_parked_request_with_peer_gone(daemon, client):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "e", tier="threaded")

    async def body():
        a = pdc.aio.Attachment(client.attach("e"))
        task = asyncio.ensure_future(a.request(b"never", None))
        await settle(lambda: a._reading, "the request to park")
        daemon.kill()
        with pytest.raises(pdc.PeerGoneError):
            await asyncio.wait_for(task, WAIT)
        with pytest.raises(pdc.PdcError):
            await asyncio.wait_for(a.request(b"again", None), WAIT)
        a.close()

    run(body())


def test_a_killed_daemon_is_noticed_even_while_a_kernel_host_holds_the_wake_up(daemon, client):
    client.load_plugin("pdc_echo.so")
    try:
        client.launch("echo", "iso", tier="threaded", isolation="process")
    except pdc.NotSupportedError as e:
        pytest.skip(f"process isolation is not available here: {e}")
    client.activate("iso")
    client.deactivate("iso")

    async def body():
        a = pdc.aio.Attachment(client.attach("iso"))
        task = asyncio.ensure_future(a.request(b"never", None))
        await settle(lambda: a._reading, "the request to park")
        daemon.kill()  # the host keeps its duplicate of pdcd's end: no EOF on the descriptor
        with pytest.raises(pdc.PeerGoneError):
            await asyncio.wait_for(task, WAIT)  # the once-a-second look at the session finds it
        a.close()

    run(body())


def test_close_fails_the_waiters_and_the_descriptor_is_checked(client):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "e")

    async def body():
        sync = client.attach("e")
        a = pdc.aio.Attachment(sync)
        task = asyncio.ensure_future(a.receive(None))
        await settle(lambda: a._reading, "receive to park")
        a.close()
        with pytest.raises(pdc.KernelStateError, match="was closed"):
            await task
        assert sync.closed
        other = client.attach("e")
        other.detach()
        with pytest.raises(pdc.KernelStateError):
            pdc.aio.Attachment(other)  # a detached attachment has no descriptor to watch
        other.close()

    run(body())


def test_a_stream_of_fifty_thousand_pipelined_requests_is_all_checked(client):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "e", tier="spin")
    client.activate("e")

    async def body():
        a = pdc.aio.Attachment(client.attach("e"))
        window = 256
        for base in range(0, 50_000, window):
            got = await asyncio.gather(*(a.request(struct.pack("<Q", base + i), WAIT) for i in range(window)))
            assert got == [struct.pack("<Q", base + i) for i in range(window)]
        a.close()

    run(body(), bound=300.0)


# ------------------------------------------------------------------------------------------------
# pdc.aio.Runtime
# ------------------------------------------------------------------------------------------------


def test_runtime_follows_the_seed_lifecycle(daemon, client):
    async def body():
        async with pdc.aio.Runtime(daemon.socket, plugins=["pdc_echo.so"], tier="threaded") as rt:
            await rt.launch("echo")  # the seed's launch(kernel_id): type and id the same
            assert await rt.state("echo") == "launched"
            with pytest.raises(pdc.KernelStateError):
                await rt.deactivate("echo")  # only from active
            await rt.activate("echo")
            assert await rt.state("echo") == "active"
            assert await rt.send_and_receive("echo", b"hi", timeout=WAIT) == b"hi"
            await rt.deactivate("echo")
            await rt.reactivate("echo")
            mid = await rt.send("echo", "text")
            assert mid > 0
            assert await rt.receive("echo", timeout=WAIT) == b"text"
            assert await rt.receive("echo", timeout=0.05) is None  # a timeout is an ordinary result
            tel = await rt.get_telemetry("echo")
            assert tel["kernel_id"] == "echo" and tel["state"] == "active"
            assert [k["kernel_id"] for k in await rt.summary()] == ["echo"]
            assert "pdc_" in await rt.metrics()
            await rt.terminate("echo")
            with pytest.raises(pdc.NotFoundError):  # a terminated kernel is gone from pdcd
                await rt.state("echo")
            with pytest.raises(pdc.NotFoundError):
                await rt.launch("e2", "no_such_type")

    run(body())


def test_runtime_kernel_scope_and_message_types(daemon, client):
    async def body():
        async with pdc.aio.Runtime(daemon.socket, plugins=["pdc_echo.so", "pdc_double.so"],
                                   message_types=[Tagged]) as rt:
            async with rt.kernel_scope("e", "echo", tier="spin") as att:
                assert isinstance(att, pdc.aio.Attachment)
                got = await rt.send_and_receive("e", Tagged(3, 1.5), timeout=WAIT)
                assert got == Tagged(3, 1.5)  # echo keeps the type id: decoded into Tagged
                assert await att.request(b"raw", WAIT) == b"raw"
            assert client.list() == []  # terminated on the way out
            with pytest.raises(RuntimeError):
                async with rt.kernel_scope("d", "double"):
                    raise RuntimeError("the block failed")
            assert client.list() == []  # terminated on the way out of a failed block too
            async with rt.kernel_scope("d2", "double"):
                assert await rt.send_and_receive("d2", I64(8), timeout=WAIT) == I64(16).encode()
                with pytest.raises(pdc.PluginError):
                    await rt.send_and_receive("d2", b"odd", timeout=WAIT)
            with pytest.raises(TypeError):
                rt.register(int)

    run(body())


def test_runtime_exit_terminates_what_it_launched(daemon, client):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "mine-not")
    client.activate("mine-not")

    async def body():
        async with pdc.aio.Runtime(daemon.socket) as rt:
            await rt.launch("a", "echo")
            await rt.activate("a")
            assert await rt.send_and_receive("a", b"x", timeout=WAIT) == b"x"
            await rt.launch("b", "echo")

    run(body())
    states = {k["kernel_id"]: k["state"] for k in client.list()}
    assert states == {"mine-not": "active"}  # a and b were terminated; what it did not launch stays


def test_runtime_outside_its_block_and_on_a_dead_daemon(daemon, tmp_path):
    async def body():
        rt = pdc.aio.Runtime(daemon.socket)
        with pytest.raises(pdc.KernelStateError, match="not open"):
            await rt.launch("x", "echo")
        with pytest.raises(pdc.PdcError):
            async with pdc.aio.Runtime(str(tmp_path / "nobody.sock")):
                pass
        async with pdc.aio.Runtime(daemon.socket, plugins=["pdc_echo.so"]) as rt:
            await rt.launch("e", "echo")
            a = await rt.attachment("e")
            task = asyncio.ensure_future(rt.send_and_receive("e", b"never", timeout=None))
            await settle(lambda: a._reading, "the request to park")
            daemon.kill()
            with pytest.raises(pdc.PeerGoneError):
                await asyncio.wait_for(task, WAIT)
        # the exit above ignored the dead daemon's errors

    run(body())
    wait_for(lambda: not daemon.alive(), WAIT, "the killed daemon to be gone")
