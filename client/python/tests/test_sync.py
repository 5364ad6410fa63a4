"""Tests of pdc's synchronous API (pdc.connect -> Client -> Attachment) against a real pdcd.

Every test that needs a daemon gets a fresh one (conftest.py: ``daemon``, ``client``, ``echo``)
with the example kernels of the build tree (kernels/*/): echo replies with its payload and type
id, counter replies with its count as an int64, double with twice its int64, router forwards to
another kernel, echo_loop is echo in loop style.

Waits are bounded (a timeout on every receive, join(timeout) on every thread); no test passes or
fails by how fast the machine is, except the stream test's generous overall limit.
"""

from __future__ import annotations

import os
import pickle
import re
import struct
import subprocess
import sys
import threading
import time
from array import array
from pathlib import Path

import pytest

import pdc
from pdc import errors

from conftest import wait_for

try:
    import numpy as np
except ImportError:  # pragma: no cover
    np = None

needs_numpy = pytest.mark.skipif(np is None, reason="numpy is not installed")

#: A generous bound for anything that should take milliseconds.
WAIT = 10.0
PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO = Path(__file__).resolve().parents[3]


def run_in_thread(fn, *args):
    """Runs fn(*args) on a thread; returns (thread, result) where result gets "value" or "error"."""
    result: dict = {}

    def body():
        try:
            result["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            result["error"] = e

    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t, result


def join_or_fail(t: threading.Thread, what: str, timeout: float = WAIT) -> None:
    t.join(timeout)
    assert not t.is_alive(), f"{what} still blocked after {timeout} s (a hang)"


def receive_n(att: pdc.Attachment, n: int) -> list[bytes]:
    """n payloads from the attachment, each waited for at most WAIT seconds."""
    return [att.receive(WAIT).payload for _ in range(n)]


def wait_until_blocked(t: threading.Thread, settle: float = 0.2) -> None:
    """Gives a thread that is about to block the chance to get there. Nothing depends on it
    having got there: a thread that is not blocked yet fails the same way."""
    t.join(settle)


# ------------------------------------------------------------------------------------------------
# connect, close, session
# ------------------------------------------------------------------------------------------------


def test_connect_and_close(daemon):
    c = pdc.connect(daemon.socket, name="pytest-connect")
    assert not c.closed
    assert c.socket == daemon.socket
    assert "session" in repr(c)
    assert c.list() == []
    c.close()
    assert c.closed
    assert "closed" in repr(c)
    c.close()  # idempotent
    with pytest.raises(pdc.KernelStateError):
        c.list()


def test_context_manager_closes(daemon):
    with pdc.connect(daemon.socket) as c:
        assert isinstance(c, pdc.Client)
        assert c.list() == []
    assert c.closed
    with pytest.raises(pdc.KernelStateError):
        c.status("x")


def test_daemon_counts_sessions(daemon, client):
    def sessions():
        m = re.search(r"^pdc_daemon_sessions (\d+)$", client.metrics(), re.M)
        return int(m.group(1))

    assert sessions() == 1
    other = daemon.connect()
    assert sessions() == 2
    other.close()
    wait_for(lambda: sessions() == 1, WAIT, "pdcd to notice the closed session")


def test_session_id_and_max_message_bytes(daemon, client):
    assert client.session_id > 0
    with daemon.connect() as other:
        assert other.session_id > 0
        assert other.session_id != client.session_id
    assert client.max_message_bytes == 65536  # the daemon's default [defaults] max_message_bytes


def test_max_message_bytes_follows_the_daemon_config(daemon_factory):
    d = daemon_factory("[defaults]\nmax_message_bytes = 4096\n")
    with d.connect() as c:
        assert c.max_message_bytes == 4096
        c.load_plugin("pdc_echo.so")
        c.launch("echo", "e")
        c.activate("e")
        assert c.request("e", b"y" * 4096, WAIT) == b"y" * 4096
        with pytest.raises(pdc.MessageTooLargeError):
            c.send("e", b"y" * 4097)


def test_connect_to_nothing_is_peer_gone(library, tmp_path):
    path = str(tmp_path / "nobody.sock")
    with pytest.raises(pdc.PeerGoneError) as ei:
        pdc.connect(path)
    assert isinstance(ei.value, ConnectionError)
    assert path in str(ei.value)
    assert ei.value.code == -9 and ei.value.name == "peer_gone"


# ------------------------------------------------------------------------------------------------
# plugins
# ------------------------------------------------------------------------------------------------


def test_load_and_unload_plugin(client):
    client.load_plugin("pdc_echo.so")
    with pytest.raises(pdc.AlreadyExistsError):
        client.load_plugin("pdc_echo.so")
    client.launch("echo", "e")
    with pytest.raises(pdc.KernelStateError, match="terminate them first"):
        client.unload_plugin("echo")  # a kernel of it lives
    client.terminate("e")
    client.unload_plugin("echo")
    with pytest.raises(pdc.NotFoundError):
        client.unload_plugin("echo")
    with pytest.raises(pdc.NotFoundError, match="unknown kernel type"):
        client.launch("echo", "e2")
    client.load_plugin("pdc_echo.so")  # loads again after an unload
    client.launch("echo", "e2")
    client.activate("e2")
    assert client.request("e2", b"back", WAIT) == b"back"


def test_load_plugin_by_path(daemon, client):
    client.load_plugin(daemon.kernel_dir / "pdc_counter.so")  # an os.PathLike inside the plugin folder
    client.launch("counter", "c")


def test_missing_plugin_is_not_found(client):
    with pytest.raises(pdc.NotFoundError, match="no plugin 'pdc_nope.so'"):
        client.load_plugin("pdc_nope.so")


def test_plugin_outside_the_plugin_folders_is_permission_denied(client, tmp_path):
    with pytest.raises(pdc.PermissionDeniedError, match="outside the plugin folders") as ei:
        client.load_plugin(str(tmp_path / "elsewhere.so"))
    assert isinstance(ei.value, PermissionError)
    assert ei.value.code == -16


def test_broken_plugin_is_plugin_error(daemon_factory, tmp_path):
    folder = tmp_path / "bogus"
    folder.mkdir()
    (folder / "pdc_bogus.so").write_bytes(b"this is not an ELF file\n")
    d = daemon_factory(plugin_dirs=[folder])
    with d.connect() as c:
        with pytest.raises(pdc.PluginError):
            c.load_plugin("pdc_bogus.so")
        c.load_plugin("pdc_echo.so")  # the daemon carries on


# ------------------------------------------------------------------------------------------------
# kernels: lifecycle, status, list, metrics
# ------------------------------------------------------------------------------------------------


def test_lifecycle_and_status(client):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "e", tier="threaded", capacity=128)
    st = client.status("e")
    assert st["kernel_id"] == "e"
    assert st["kernel_type"] == "echo"
    assert st["plugin"] == "echo"
    assert st["state"] == "launched"
    assert st["tier"] == "threaded"
    assert st["backpressure"] == "block"
    assert st["capacity"] == 128
    assert st["max_message_bytes"] == 65536
    client.activate("e")
    assert client.status("e")["state"] == "active"
    client.deactivate("e")
    assert client.status("e")["state"] == "deactivated"
    client.activate("e")
    assert client.status("e")["state"] == "active"
    client.terminate("e")
    with pytest.raises(pdc.NotFoundError):
        client.status("e")  # a terminated kernel is gone
    assert client.list() == []


def test_launch_options_show_in_status(client):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "p", tier="pool", workers=2, backpressure="drop-oldest", max_message_bytes=1024,
                  latency_metrics=False)
    st = client.status("p")
    assert (st["tier"], st["workers"], st["backpressure"]) == ("pool", 2, "drop_oldest")
    assert st["max_message_bytes"] == 1024
    assert st["latency_metrics"] is False


def test_list_and_counters(client):
    client.load_plugin("pdc_echo.so")
    for kid in ("b", "a", "c"):
        client.launch("echo", kid)
    client.activate("a")
    kernels = client.list()
    assert [k["kernel_id"] for k in kernels] == ["a", "b", "c"]  # sorted by id
    assert {k["kernel_id"]: k["state"] for k in kernels} == {"a": "active", "b": "launched", "c": "launched"}
    assert [(k["kernel_id"], k["state"]) for k in client.status()] == [  # status() with no id: the list
        (k["kernel_id"], k["state"]) for k in kernels]
    for i in range(3):
        assert client.request("a", b"%d" % i, WAIT) == b"%d" % i
    st = client.status("a")
    assert st["messages_in"] == 3
    assert st["processed"] == 3
    assert st["messages_out"] == 3
    assert st["handler_errors"] == 0
    assert st["processing"]["count"] == 3


def test_metrics_text(client, echo):
    client.request(echo, b"x", WAIT)
    text = client.metrics(echo)
    assert "# TYPE pdc_kernel_messages_in_total counter" in text
    m = re.search(r'^pdc_kernel_messages_in_total\{([^}]*)\} (\d+)$', text, re.M)
    assert m, text
    assert 'kernel="e"' in m.group(1) and 'type="echo"' in m.group(1) and 'tier="threaded"' in m.group(1)
    assert int(m.group(2)) == 1
    assert re.search(r'^pdc_kernel_state\{[^}]*state="active"[^}]*\} 1$', text, re.M), text
    everything = client.metrics()
    assert "pdc_daemon_kernels 1" in everything
    assert 'kernel="e"' in everything


def test_launched_and_deactivated_kernels_queue(client, echo):
    # A launched kernel queues until activated.
    client.launch("echo", "later")
    mid = client.send("later", b"queued")
    assert client.status("later")["queue_depth"] == 1
    with pytest.raises(pdc.QueueTimeoutError):
        client.receive(0.05)
    client.activate("later")
    m = client.receive(WAIT)
    assert (m.payload, m.correlation_id, m.kernel_id) == (b"queued", mid, "later")
    # A deactivated one too, and it answers once active again.
    client.deactivate(echo)
    mid = client.send(echo, b"held")
    assert client.status(echo)["queue_depth"] == 1
    client.activate(echo)
    m = client.receive(WAIT)
    assert (m.payload, m.correlation_id) == (b"held", mid)


def test_illegal_transitions_are_kernel_state_errors(client):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "e")
    with pytest.raises(pdc.KernelStateError, match="it is launched"):
        client.deactivate("e")
    client.activate("e")
    with pytest.raises(pdc.KernelStateError, match="it is active"):
        client.activate("e")
    client.deactivate("e")
    with pytest.raises(pdc.KernelStateError):
        client.deactivate("e")
    assert client.status("e")["state"] == "deactivated"  # refusals change nothing
    e = pytest.raises(pdc.KernelStateError, client.deactivate, "e").value
    assert (e.code, e.name) == (-4, "illegal_state")


@pytest.mark.parametrize("call", ["activate", "deactivate", "terminate", "status", "metrics", "send", "request",
                                  "attach", "subscribe"])
def test_unknown_kernel_is_not_found(client, call):
    args = {"send": ("nope", b"x"), "request": ("nope", b"x", WAIT)}.get(call, ("nope",))
    with pytest.raises(pdc.NotFoundError) as ei:
        getattr(client, call)(*args)
    assert isinstance(ei.value, LookupError)
    assert "nope" in str(ei.value)


def test_duplicate_launch_is_already_exists(client, echo):
    with pytest.raises(pdc.AlreadyExistsError, match="already exists"):
        client.launch("echo", echo, tier="spin")
    st = client.status(echo)  # the first one is untouched
    assert (st["state"], st["tier"]) == ("active", "threaded")
    assert client.request(echo, b"still here", WAIT) == b"still here"


@pytest.mark.parametrize("kwargs", [{"tier": "bogus"}, {"tier": 2}, {"backpressure": "sometimes"},
                                    {"isolation": "jail"}])
def test_bad_kind_names_are_value_errors(client, kwargs):
    client.load_plugin("pdc_echo.so")
    with pytest.raises(ValueError, match="one of"):
        client.launch("echo", "e", **kwargs)
    assert client.list() == []  # nothing was sent


def test_kind_names_are_lenient_about_case_and_dashes(client):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "e", tier=" Spin ", backpressure="DROP-NEWEST")
    st = client.status("e")
    assert (st["tier"], st["backpressure"]) == ("spin", "drop_newest")


def test_cuda_tier_is_not_supported(client):
    client.load_plugin("pdc_echo.so")
    with pytest.raises(pdc.NotSupportedError, match="cuda"):
        client.launch("echo", "g", tier="cuda")


def test_loop_kernel_refused_on_async_tier(client):
    client.load_plugin("pdc_echo_loop.so")
    with pytest.raises(pdc.PdcError, match="async") as ei:
        client.launch("echo_loop", "l", tier="async")
    assert not isinstance(ei.value, (pdc.NotFoundError, pdc.AlreadyExistsError))
    client.launch("echo_loop", "l", tier="threaded")
    client.activate("l")
    assert client.request("l", b"loop", WAIT) == b"loop"


def test_create_failure_is_plugin_error(client):
    client.load_plugin("pdc_counter.so")
    with pytest.raises(pdc.PluginError):
        client.launch("counter", "c", config="not a number")
    assert client.list() == []
    client.launch("counter", "c", config="10")
    client.activate("c")
    assert [struct.unpack("<q", client.request("c", b"", WAIT))[0] for _ in range(3)] == [11, 12, 13]


def test_bad_send_options_are_value_errors(client, echo):
    with pytest.raises(ValueError, match="priority"):
        client.send(echo, b"x", priority=256)
    with pytest.raises(TypeError):
        client.send(echo, "text is not bytes")
    with pytest.raises(TypeError):
        client.activate(42)


# ------------------------------------------------------------------------------------------------
# messages over the socket
# ------------------------------------------------------------------------------------------------


def test_socket_send_and_receive(client, echo):
    ids = [client.send(echo, b"m%d" % i, type_id=7) for i in range(5)]
    assert ids == list(range(ids[0], ids[0] + 5))  # per session, increasing by one
    for i, mid in enumerate(ids):
        m = client.receive(WAIT)
        assert m.payload == b"m%d" % i
        assert m.correlation_id == mid
        assert m.kernel_id == echo
        assert m.type_id == 7  # echo keeps the type id
        assert m.is_reply and not m.is_error and not m.no_reply
    with pytest.raises(pdc.QueueTimeoutError):
        client.receive(0.05)


def test_socket_request(client, echo):
    assert client.request(echo, b"hello", WAIT) == b"hello"
    assert client.request(echo, b"", WAIT) == b""
    assert client.request(echo, bytearray(b"ba"), WAIT) == b"ba"
    assert client.request(echo, memoryview(b"xmvx")[1:3], WAIT) == b"mv"
    assert client.request(echo, array("i", [1, 2]), WAIT) == array("i", [1, 2]).tobytes()
    big = os.urandom(client.max_message_bytes)
    assert client.request(echo, big, WAIT) == big


def test_request_leaves_other_deliveries_for_receive(client, echo):
    first = client.send(echo, b"first")
    assert client.request(echo, b"second", WAIT) == b"second"
    m = client.receive(WAIT)
    assert (m.payload, m.correlation_id) == (b"first", first)


def test_error_reply_raises_the_error_it_names(client):
    client.load_plugin("pdc_double.so")
    client.launch("double", "d")
    client.activate("d")
    assert struct.unpack("<q", client.request("d", struct.pack("<q", 21), WAIT)) == (42,)
    # Not 8 bytes: the handler fails with PDC_E_INVALID_ARGUMENT; a handler failure comes back as
    # PluginError whose text names the handler's code and reason.
    with pytest.raises(pdc.PluginError, match=r"handler of kernel 'd' failed \(invalid argument\).*got 5 bytes"):
        client.request("d", b"three", WAIT)
    with client.attach("d") as att:  # the same through the rings
        with pytest.raises(pdc.PluginError, match="got 4 bytes"):
            att.request(b"four", WAIT)
        mid = att.send(b"four")  # receive() hands the error reply over as a message
        m = att.receive(WAIT)
        assert m.correlation_id == mid and m.is_reply and m.is_error
        assert m.payload.startswith(b"plugin_error: handler of kernel 'd' failed")
        assert struct.unpack("<q", att.request(struct.pack("<q", -4), WAIT)) == (-8,)
    wait_for(lambda: client.status("d")["handler_errors"] == 3, WAIT, "the handler errors to be counted")


def test_socket_receive_timeout(client):
    t0 = time.monotonic()
    with pytest.raises(pdc.QueueTimeoutError) as ei:
        client.receive(timeout=0.05)
    assert time.monotonic() - t0 >= 0.04
    assert isinstance(ei.value, TimeoutError)
    with pytest.raises(TimeoutError):
        client.receive(0)


def test_socket_oversize_loses_nothing_else(client, echo):
    limit = client.max_message_bytes
    a = client.send(echo, b"before")
    with pytest.raises(pdc.MessageTooLargeError):
        client.send(echo, b"x" * (limit + 1))
    with pytest.raises(pdc.MessageTooLargeError):
        client.request(echo, b"x" * (limit + 1), WAIT)
    b = client.send(echo, b"after")
    got = [client.receive(WAIT) for _ in range(2)]
    assert [(m.payload, m.correlation_id) for m in got] == [(b"before", a), (b"after", b)]
    with pytest.raises(pdc.QueueTimeoutError):
        client.receive(0.05)
    assert client.status(echo)["messages_in"] == 2


def test_subscribe_receives_outputs(client):
    client.load_plugin("pdc_echo.so")
    client.load_plugin("pdc_router.so")
    client.launch("echo", "worker")
    client.activate("worker")
    client.launch("router", "front", config="worker")
    client.activate("front")
    client.subscribe("worker")
    client.send("front", b"job-1")
    m = client.receive(WAIT)
    assert (m.payload, m.kernel_id, m.is_reply) == (b"job-1", "worker", False)
    client.unsubscribe("worker")
    client.send("front", b"job-2")
    wait_for(lambda: client.status("worker")["processed"] == 2, WAIT, "the worker to handle job-2")
    with pytest.raises(pdc.QueueTimeoutError):
        client.receive(0.05)


def test_connected_kernels(client):
    client.load_plugin("pdc_double.so")
    for kid in ("d1", "d2"):
        client.launch("double", kid)
        client.activate(kid)
    client.connect_kernels("d1", "d2")
    with pytest.raises(pdc.PdcError, match="cycle"):
        client.connect_kernels("d2", "d1")
    client.subscribe("d2")
    client.send("d1", struct.pack("<q", 5), no_reply=True)  # d1's answer becomes an output, fed to d2
    m = client.receive(WAIT)
    assert (m.kernel_id, struct.unpack("<q", m.payload)[0]) == ("d2", 20)
    client.disconnect_kernels("d1", "d2")


# ------------------------------------------------------------------------------------------------
# attachments
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tier", ["async", "threaded", "spin", "pool"])
def test_every_tier_round_trips(client, tier):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "e", tier=tier)
    client.activate("e")
    assert client.status("e")["tier"] == tier
    assert client.request("e", b"socket " + tier.encode(), WAIT) == b"socket " + tier.encode()
    with client.attach("e") as att:
        assert att.request(b"ring " + tier.encode(), WAIT) == b"ring " + tier.encode()
        att.send_many([b"%d" % i for i in range(100)])
        assert receive_n(att, 100) == [b"%d" % i for i in range(100)]


def test_attach_request_send_receive(client, echo):
    with client.attach(echo) as att:
        assert att.kernel_id == echo
        assert att.id > 0
        assert att.max_message_bytes == 65536
        assert repr(att).startswith("<pdc.Attachment kernel 'e'")
        assert att.request(b"ping", WAIT) == b"ping"
        ids = [att.send(b"s%d" % i, type_id=3) for i in range(3)]
        assert ids == list(range(ids[0], ids[0] + 3))
        for i, mid in enumerate(ids):
            m = att.receive(WAIT)
            assert (m.payload, m.correlation_id, m.type_id, m.kernel_id) == (b"s%d" % i, mid, 3, echo)
            assert m.is_reply
        first = att.send(b"set aside")
        assert att.request(b"wanted", WAIT) == b"wanted"
        m = att.receive(WAIT)
        assert (m.payload, m.correlation_id) == (b"set aside", first)
    assert att.closed
    assert att.id == 0
    with pytest.raises(pdc.KernelStateError):
        att.send(b"x")


def test_attachment_count_and_detach(client, echo):
    def attachments():
        return int(re.search(r"^pdc_daemon_attachments (\d+)$", client.metrics(), re.M).group(1))

    att = client.attach(echo)
    assert attachments() == 1
    att.detach()
    with pytest.raises(pdc.KernelStateError):
        att.detach()
    for call in (lambda: att.send(b"x"), lambda: att.receive(0), lambda: att.request(b"x", WAIT)):
        with pytest.raises(pdc.KernelStateError, match="after detach"):
            call()
    wait_for(lambda: attachments() == 0, WAIT, "pdcd to drop the detached attachment")
    att.close()
    att.close()  # idempotent


def test_bad_attach_options(client, echo):
    with pytest.raises(ValueError, match="full policy"):
        client.attach(echo, full_policy="maybe")


def test_attachment_receive_timeout(client, echo):
    with client.attach(echo) as att:
        with pytest.raises(pdc.QueueTimeoutError) as ei:
            att.receive(timeout=0.05)
        assert isinstance(ei.value, TimeoutError)
        with pytest.raises(pdc.QueueTimeoutError):
            att.receive(0)
        with pytest.raises(pdc.QueueTimeoutError):
            att.receive_many(16, 0.05)
        with pytest.raises(pdc.QueueTimeoutError):
            att.receive_into(bytearray(8), 0.05)
        assert att.poll(lambda m: None, 16, 0.05) == 0  # poll says 0 instead
        with pytest.raises(pdc.QueueTimeoutError):
            with att.receive_view(0.05):
                pass
        assert att.request(b"alive", WAIT) == b"alive"


def test_attachment_oversize_loses_nothing_else(client):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "e", max_message_bytes=1024)
    client.activate("e")
    with client.attach("e") as att:
        limit = att.max_message_bytes
        assert limit == 1024
        att.send(b"one")
        with pytest.raises(pdc.MessageTooLargeError, match="nothing was sent"):
            att.send(b"x" * (limit + 1))
        with pytest.raises(pdc.MessageTooLargeError):
            att.request(b"x" * (limit + 1), WAIT)
        att.send(b"y" * limit)
        with pytest.raises(pdc.MessageTooLargeError) as ei:
            att.send_many([b"a", b"b", b"x" * (limit + 1), b"c"])
        assert ei.value.sent == 2  # the two before it went; nothing after
        assert receive_n(att, 4) == [b"one", b"y" * limit, b"a", b"b"]
        with pytest.raises(pdc.QueueTimeoutError):
            att.receive(0.05)
        assert att.request(b"fine", WAIT) == b"fine"


def test_receive_into(client, echo):
    with client.attach(echo) as att:
        att.send(b"hello")
        small = bytearray(2)
        with pytest.raises(pdc.MessageTooLargeError) as ei:
            att.receive_into(small, WAIT)
        assert ei.value.needed == 5
        assert small == bytearray(2)
        buf = bytearray(16)
        assert att.receive_into(buf, WAIT) == 5  # the message was held for this call
        assert bytes(buf[:5]) == b"hello"
        att.send(struct.pack("<3i", 1, 2, 3))
        ints = array("i", [0, 0, 0, 0])
        assert att.receive_into(ints, WAIT) == 12
        assert list(ints) == [1, 2, 3, 0]
        with pytest.raises(TypeError):
            att.receive_into(b"read-only", WAIT)


def test_send_many_and_receive_many(client, echo):
    with client.attach(echo) as att:
        msgs = [b"%05d" % i for i in range(5000)] + [b"", b"odd size", bytearray(b"ba"), memoryview(b"mv")]
        assert att.send_many(msgs) == len(msgs)
        got: list[bytes] = []
        while len(got) < len(msgs):
            batch = att.receive_many(1024, WAIT)
            assert 1 <= len(batch) <= 1024
            got += batch
        assert got == [bytes(m) for m in msgs]
        assert att.send_many([]) == 0
        assert att.send_many(iter([b"gen%d" % i for i in range(3)])) == 3
        got = []
        while len(got) < 3:
            got += att.receive_many(2, WAIT)  # max is respected
        assert got == [b"gen0", b"gen1", b"gen2"]
        with pytest.raises(ValueError):
            att.receive_many(0)


def test_receive_many_grows_for_a_large_message(client, echo):
    with client.attach(echo) as att:
        big = os.urandom(att.max_message_bytes)
        att.send_many([b"small", big, b"tail"])
        got = []
        while len(got) < 3:
            got += att.receive_many(8, WAIT)
        assert got == [b"small", big, b"tail"]


def test_receive_view_is_zero_copy_and_lent(client, echo):
    with client.attach(echo) as att:
        att.send(b"viewed")
        att.send(b"next")
        view = att.receive_view(WAIT)
        with view as mv:
            assert isinstance(mv, memoryview)
            assert mv.readonly
            assert bytes(mv) == b"viewed"
            assert view.message.is_reply and view.message.payload is mv
            # While a message is lent, receiving calls are refused; sends work.
            with pytest.raises(pdc.KernelStateError, match="not released"):
                att.receive(0)
            with pytest.raises(pdc.KernelStateError):
                att.receive_many(4, 0)
            with pytest.raises(pdc.KernelStateError):
                att.receive_into(bytearray(16), 0)
            with pytest.raises(pdc.KernelStateError):
                with att.receive_view(0):
                    pass
            with pytest.raises(pdc.KernelStateError):
                view.__enter__()
            att.send(b"sent while lent")
        with pytest.raises(ValueError):
            mv[0]  # released after the with block
        assert view.message is None
        view.release()  # idempotent
        assert receive_n(att, 2) == [b"next", b"sent while lent"]


def test_receive_view_empty_payload(client, echo):
    with client.attach(echo) as att:
        att.send(b"")
        with att.receive_view(WAIT) as mv:
            assert len(mv) == 0
        assert att.request(b"ok", WAIT) == b"ok"


def test_poll(client, echo):
    with client.attach(echo) as att:
        att.send_many([b"p%d" % i for i in range(10)])
        seen: list[tuple[bytes, bool]] = []
        views: list[memoryview] = []

        def take(m: pdc.Message) -> None:
            assert isinstance(m.payload, memoryview) and m.payload.readonly
            seen.append((bytes(m.payload), m.is_reply))
            views.append(m.payload)

        deadline = time.monotonic() + WAIT
        while len(seen) < 10 and time.monotonic() < deadline:
            n = att.poll(take, 4, WAIT)
            assert 1 <= n <= 4
        assert seen == [(b"p%d" % i, True) for i in range(10)]
        with pytest.raises(ValueError):
            views[0].tobytes()  # valid during the callback only

        class Boom(Exception):
            pass

        def explode(m):
            raise Boom

        att.send(b"boom")
        with pytest.raises(Boom):
            att.poll(explode, 4, WAIT)
        assert att.request(b"after boom", WAIT) == b"after boom"


def test_begin_send_and_flush(client, echo):
    with client.attach(echo) as att:
        slots = []
        for i in range(3):
            mv, mid = att.begin_send(4, type_id=9)
            mv[:] = b"bs%02d" % i
            slots.append((mv, mid))
        att.flush()
        with pytest.raises(ValueError):
            slots[0][0][0] = 1  # the slot views end at the flush
        for i, (_, mid) in enumerate(slots):
            m = att.receive(WAIT)
            assert (m.payload, m.correlation_id, m.type_id) == (b"bs%02d" % i, mid, 9)
        mv, mid = att.begin_send(2)
        mv[:] = b"ok"
        m = att.receive(WAIT)  # a receive flushes too
        assert (m.payload, m.correlation_id) == (b"ok", mid)
        with pytest.raises(pdc.MessageTooLargeError):
            att.begin_send(att.max_message_bytes + 1)


@needs_numpy
def test_numpy_arrays(client, echo):
    with client.attach(echo) as att:
        a = np.arange(1000, dtype=np.float64)
        att.send_array(a)
        b = att.receive_array(np.float64, WAIT)
        assert b.dtype == np.float64 and b.flags.writeable
        np.testing.assert_array_equal(a, b)
        m = np.arange(24, dtype=np.int32).reshape(4, 6)
        att.send_array(m[:, ::2])  # not contiguous: sent in C order
        np.testing.assert_array_equal(att.receive_array(np.int32, WAIT, shape=(4, 3)), m[:, ::2])
        att.send_array(np.zeros(0, dtype=np.uint8))
        assert att.receive_array(np.uint8, WAIT).size == 0
        # An array as a plain payload, read in place with frombuffer inside a view.
        att.send(np.array([1.5, 2.5], dtype=np.float32))
        with att.receive_view(WAIT) as mv:
            assert np.frombuffer(mv, dtype=np.float32).tolist() == [1.5, 2.5]
        assert att.request(np.array([7], dtype=np.int64), WAIT) == struct.pack("<q", 7)
        # A size that is not a whole number of items: ValueError, and the message is consumed.
        att.send(b"seven!!")
        with pytest.raises(ValueError, match="not a whole number"):
            att.receive_array(np.float64, WAIT)
        with pytest.raises(pdc.QueueTimeoutError):
            att.receive(0.05)


def test_an_export_outliving_the_view_is_a_buffer_error(client, echo):
    with client.attach(echo) as att:
        att.send(b"12345678")
        with pytest.raises(BufferError, match="still in use"):
            with att.receive_view(WAIT) as mv:
                kept = pickle.PickleBuffer(mv)  # holds a buffer export of the view
        del kept
        assert att.request(b"usable", WAIT) == b"usable"  # the message was released all the same


def test_full_ring_fail_policy(client):
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "slow")  # launched, not active: it takes nothing from the ring
    with client.attach("slow", full_policy="fail", request_ring_bytes=64 * 1024) as att:
        sent = 0
        with pytest.raises(pdc.QueueFullError):
            for _ in range(100_000):
                att.send(b"x" * 1000)
                sent += 1
        assert sent > 0
        client.activate("slow")
        assert len(receive_n(att, sent)) == sent  # everything that went in comes back


# ------------------------------------------------------------------------------------------------
# terminate and daemon death
# ------------------------------------------------------------------------------------------------


def test_terminate_mid_stream(client, echo):
    att = client.attach(echo)
    progress = threading.Event()

    def stream():
        i = 0
        while True:
            reply = att.request(b"%d" % i, WAIT)
            assert reply == b"%d" % i
            i += 1
            if i == 200:
                progress.set()

    t, result = run_in_thread(stream)
    assert progress.wait(WAIT), result
    client.terminate(echo)
    join_or_fail(t, "a streaming attachment after terminate")
    assert isinstance(result.get("error"), pdc.TerminatedError), result
    assert "terminated" in str(result["error"])
    t, result = run_in_thread(att.receive, None)  # sticky, and at once, even with no timeout
    join_or_fail(t, "receive(timeout=None) on a terminated kernel's attachment")
    assert isinstance(result.get("error"), pdc.TerminatedError), result
    att.close()


def test_terminate_wakes_a_waiting_receive(client, echo):
    att = client.attach(echo)
    t, result = run_in_thread(att.receive, None)
    wait_until_blocked(t)
    client.terminate(echo)
    join_or_fail(t, "receive(timeout=None) after terminate")
    assert isinstance(result.get("error"), pdc.TerminatedError), result
    att.close()


def test_terminate_drains_before_the_end(client, echo):
    att = client.attach(echo)
    att.send_many([b"d%d" % i for i in range(50)])
    client.terminate(echo)  # drains: every committed message is answered first
    assert receive_n(att, 50) == [b"d%d" % i for i in range(50)]
    with pytest.raises(pdc.TerminatedError):
        att.receive(WAIT)
    with pytest.raises(pdc.TerminatedError):
        att.send(b"late")
    att.close()


def test_daemon_kill_while_receiving(daemon, client, echo):
    att = client.attach(echo)
    t, result = run_in_thread(att.receive, None)
    wait_until_blocked(t)
    daemon.kill()
    join_or_fail(t, "receive(timeout=None) after kill -9 of pdcd")
    err = result.get("error")
    assert isinstance(err, (pdc.PeerGoneError, pdc.DaemonStoppingError)), result
    # Just after: every call fails at once, never waits.
    t, result = run_in_thread(att.receive, None)
    join_or_fail(t, "a new receive(timeout=None) on a dead daemon's attachment")
    assert isinstance(result.get("error"), pdc.PeerGoneError), result
    with pytest.raises(pdc.PeerGoneError):
        att.send(b"x")
    t, result = run_in_thread(client.request, echo, b"x", None)
    join_or_fail(t, "client.request(timeout=None) on a dead daemon")
    assert isinstance(result.get("error"), pdc.PeerGoneError), result
    with pytest.raises(pdc.PeerGoneError):
        client.status()
    att.close()  # closing after the daemon died is fine


def test_daemon_kill_while_client_waits(daemon, client, echo):
    t, result = run_in_thread(client.receive, None)
    wait_until_blocked(t)
    daemon.kill()
    join_or_fail(t, "client.receive(timeout=None) after kill -9 of pdcd")
    assert isinstance(result.get("error"), pdc.PeerGoneError), result
    assert isinstance(result["error"], ConnectionError)


def test_daemon_sigterm(daemon, client, echo):
    """A stopping daemon says so (Goodbye, rings closed with reason daemon_stopping) before it goes:
    every call then fails with DaemonStoppingError, never TerminatedError (docs/client.md)."""
    att = client.attach(echo)
    t, result = run_in_thread(att.receive, None)
    wait_until_blocked(t)
    assert daemon.stop() == 0  # SIGTERM: a clean exit, within the bounded wait
    join_or_fail(t, "receive(timeout=None) after SIGTERM of pdcd")
    assert isinstance(result.get("error"), pdc.DaemonStoppingError), result
    assert "pdcd is stopping" in str(result["error"])
    with pytest.raises(pdc.DaemonStoppingError):
        att.send(b"x")
    with pytest.raises(pdc.DaemonStoppingError) as ei:
        client.status()
    assert isinstance(ei.value, ConnectionError)
    t, result = run_in_thread(client.receive, None)
    join_or_fail(t, "client.receive(timeout=None) after SIGTERM of pdcd")
    assert isinstance(result.get("error"), pdc.DaemonStoppingError), result
    att.close()


# ------------------------------------------------------------------------------------------------
# a long stream
# ------------------------------------------------------------------------------------------------

STREAM_COUNT = int(os.environ.get("PDC_PYTEST_STREAM", "2000000"))
STREAM_BATCH = 4096


def test_two_million_message_stream(client):
    """STREAM_COUNT messages through one attachment to a spin-tier echo, in batches of send_many /
    receive_many, two batches in flight; each payload is its index (8 bytes, little-endian), and
    every reply is compared with what was sent, in order."""
    client.load_plugin("pdc_echo.so")
    client.launch("echo", "s", tier="spin")
    client.activate("s")
    pack = struct.Struct("<Q").pack
    in_flight: list[list[bytes]] = []

    def take_oldest(att: pdc.Attachment) -> None:
        batch = in_flight.pop(0)
        got: list[bytes] = []
        while len(got) < len(batch):
            got += att.receive_many(len(batch) - len(got), WAIT)
        if got != batch:  # name the first difference
            bad = next(i for i, (x, y) in enumerate(zip(got, batch)) if x != y)
            pytest.fail(f"reply {bad} of the batch from index {struct.unpack('<Q', batch[0])[0]}: "
                        f"{got[bad]!r} instead of {batch[bad]!r}")

    t0 = time.monotonic()
    with client.attach("s") as att:
        for start in range(0, STREAM_COUNT, STREAM_BATCH):
            batch = [pack(i) for i in range(start, min(start + STREAM_BATCH, STREAM_COUNT))]
            assert att.send_many(batch) == len(batch)
            in_flight.append(batch)
            if len(in_flight) == 2:
                take_oldest(att)
        while in_flight:
            take_oldest(att)
        with pytest.raises(pdc.QueueTimeoutError):
            att.receive(0.05)  # nothing more
    elapsed = time.monotonic() - t0
    st = client.status("s")
    assert st["processed"] == STREAM_COUNT
    assert (st["handler_errors"], st["dropped"], st["rejected"], st["malformed"]) == (0, 0, 0, 0)
    print(f"\n{STREAM_COUNT} messages in {elapsed:.2f} s ({STREAM_COUNT / elapsed:,.0f}/s)")
    assert elapsed < 120, f"{STREAM_COUNT} messages took {elapsed:.1f} s"


# ------------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------------


def _header_codes() -> dict[str, int]:
    header = REPO / "core" / "include" / "pdc" / "errors.h"
    if not header.is_file():
        pytest.skip(f"{header} is not here (not a source tree)")
    return {m.group(1): int(m.group(2)) for m in
            re.finditer(r"#define PDC_E_(\w+) \((-\d+)\)", header.read_text())}


def _errc_names() -> dict[int, str]:
    """errc name by code, from core/src/errc.cpp's table (in code order, from ok = 0)."""
    src = REPO / "core" / "src" / "errc.cpp"
    if not src.is_file():
        pytest.skip(f"{src} is not here (not a source tree)")
    names = re.findall(r'\{errc::\w+, "(\w+)", "', src.read_text())
    return {-i: n for i, n in enumerate(names) if i}


def test_every_code_has_a_class():
    codes = _header_codes()
    assert len(codes) == 24
    assert sorted(errors.ERRORS) == sorted(codes.values())
    names = _errc_names()
    for code, cls in errors.ERRORS.items():
        assert cls.name == names[code], (code, cls)


@pytest.mark.parametrize("code,cls", sorted(errors.ERRORS.items(), reverse=True), ids=lambda v: str(v))
def test_error_class_table(code, cls):
    assert issubclass(cls, errors.PdcError)
    assert cls.code == code < 0
    assert cls.name and cls.name != "unknown"
    assert cls.__name__ in errors.__all__ and getattr(pdc, cls.__name__) is cls
    e = errors.make_error(code, "what happened")
    assert type(e) is cls
    assert (e.code, e.name, e.message, str(e)) == (code, cls.name, "what happened", "what happened")
    assert type(errors.make_error(-code)) is cls  # a positive code works too
    assert str(errors.make_error(code)) == cls.name  # no message: the name
    assert errors.error_class(code) is cls and errors.error_class(-code) is cls
    back = pickle.loads(pickle.dumps(e))
    assert (type(back), back.code, back.message) == (cls, code, "what happened")


def test_error_class_names_are_unique():
    names = [c.name for c in errors.ERRORS.values()]
    assert len(set(names)) == len(names)
    assert len(set(errors.ERRORS.values())) == len(errors.ERRORS)


def test_builtin_bases():
    assert issubclass(pdc.QueueTimeoutError, TimeoutError)
    assert issubclass(pdc.PeerGoneError, ConnectionError)
    assert issubclass(pdc.DaemonStoppingError, ConnectionError)
    assert issubclass(pdc.NotFoundError, LookupError)
    assert issubclass(pdc.PermissionDeniedError, PermissionError)
    assert issubclass(pdc.OSCallError, OSError)
    e = pdc.PermissionDeniedError("no")  # one argument: not read as (errno, strerror)
    assert str(e) == "no" and e.code == -16


def test_unknown_code():
    e = errors.make_error(-999, "")
    assert type(e) is errors.PdcError
    assert e.code == -999 and "999" in str(e)
    assert errors.error_class(-999) is errors.PdcError


def test_libpdc_agrees_on_codes(library):
    """pdc_strerror knows every code of ERRORS (the library and the table agree)."""
    lib = pdc._capi.load()
    unknown = lib.pdc_strerror(-999)
    for code in errors.ERRORS:
        text = lib.pdc_strerror(code)
        assert text and text != unknown, code


# ------------------------------------------------------------------------------------------------
# loading libpdc
# ------------------------------------------------------------------------------------------------


def _python_with_library(library: str, code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PDC_LIBRARY=library, PYTHONPATH=str(PACKAGE_DIR))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


LIBRARY_PROBE = """
import pdc
try:
    pdc.connect("/nonexistent/pdcd.sock")
except pdc.LibraryNotFound as e:
    assert isinstance(e, OSError)
    print("LibraryNotFound:", e)
else:
    print("loaded")
"""


def test_missing_library_is_library_not_found(tmp_path):
    missing = str(tmp_path / "libpdc.so.0")
    r = _python_with_library(missing, LIBRARY_PROBE)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("LibraryNotFound:"), r.stdout
    assert "PDC_LIBRARY=" + missing in r.stdout


def test_a_library_that_is_not_libpdc(tmp_path):
    import ctypes.util

    libc = ctypes.util.find_library("c")
    if not libc:
        pytest.skip("no libc to try")
    r = _python_with_library(libc, LIBRARY_PROBE)
    assert r.returncode == 0, r.stderr
    assert "is not a usable libpdc" in r.stdout, r.stdout


def test_import_does_not_load_the_library(tmp_path):
    r = _python_with_library(str(tmp_path / "nothing.so"),
                             "import pdc, pdc._capi as c; print(c.loaded_path(), pdc.__version__)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["None", pdc.__version__]
