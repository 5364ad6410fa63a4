"""Kernels of another node through the Python client (docs/cluster.md): two pdcd nodes on one
nats-server on loopback, a client of node a naming ``b/<kernel>``.

Needs ``nats-server`` (Debian: nats-server) on the PATH besides what conftest.py needs; without it
the tests skip, or fail under PDC_PYTEST_REQUIRE=1. Every wait is bounded.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess

import pytest

import pdc

from conftest import _unavailable, wait_for

WAIT = 20.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def nats_url(tmp_path, tools):
    """A nats-server with JetStream on a free loopback port, stopped after the test."""
    exe = shutil.which("nats-server")
    if exe is None:
        _unavailable("nats-server is not installed (Debian package nats-server)")
    port = _free_port()
    proc = subprocess.Popen([exe, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path / "js"),
                             "-l", str(tmp_path / "nats-server.log")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def listening():
        if proc.poll() is not None:
            pytest.fail(f"nats-server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return False

    try:
        wait_for(listening, 10.0, f"nats-server to listen on port {port}")
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _node(name: str, url: str) -> str:
    return f'[cluster]\nnode = "{name}"\nurls = ["{url}"]\njetstream = true\n\n'


B_KERNELS = (
    '[[kernel]]\ntype = "echo"\nid = "echo"\nexport = true\naccess = ["node:a=send"]\n\n'
    '[[kernel]]\ntype = "double"\nid = "double"\nexport = true\naccess = ["node:a=send"]\n\n'
    '[[kernel]]\ntype = "echo"\nid = "hidden"\n'
)


@pytest.fixture
def nodes(nats_url, daemon_factory):
    """Node b (echo and double exported to node a, hidden not) and node a; returns (a, b) once a
    request from a reaches b/echo. (nats_url first: the server outlives the nodes.)"""
    b = daemon_factory(_node("b", nats_url) + B_KERNELS, plugins=["pdc_echo.so", "pdc_double.so",
                                                                  "pdc_counter.so"])
    a = daemon_factory(_node("a", nats_url))
    with a.connect(name="pytest-probe") as c:
        def reached():
            try:
                return c.request("b/echo", b"ping", timeout=2) == b"ping"
            except pdc.PdcError:
                return False

        wait_for(reached, 30.0, "b/echo to answer a request from node a", interval=0.1)
    return a, b


def test_a_request_names_a_kernel_of_another_node_and_gets_its_reply(nodes):
    a, _ = nodes
    with a.connect(name="pytest") as c:
        for i in range(50):
            text = f"hello {i}".encode()
            assert c.request("b/echo", text, timeout=WAIT) == text
        assert struct.unpack("<q", c.request("b/double", struct.pack("<q", 21), timeout=WAIT)) == (42,)
        # A one-way send (nobody awaits its answer); a request after it still gets its own reply.
        c.send("b/echo", b"one-way")
        assert c.request("b/echo", b"after", timeout=WAIT) == b"after"


def test_what_a_node_does_not_export_or_nobody_serves_is_not_found_with_the_reason(nodes):
    a, _ = nodes
    with a.connect(name="pytest") as c:
        with pytest.raises(pdc.errors.NotFoundError, match="node 'b' exports no kernel 'hidden'"):
            c.request("b/hidden", b"x", timeout=WAIT)
        with pytest.raises(pdc.errors.NotFoundError, match="no pdcd of node 'zz'"):
            c.request("zz/echo", b"x", timeout=WAIT)
        # The node's own kernels are untouched by that.
        assert c.request("b/echo", b"still", timeout=WAIT) == b"still"


def test_launch_exports_a_kernel_at_least_once_and_another_node_reaches_it(nodes):
    a, b = nodes
    with b.connect(name="pytest-b") as cb:
        cb.launch("counter", "durable", tier="threaded", export=True, delivery="at_least_once",
                  access=["node:a=send"])
        cb.activate("durable")
        st = cb.status("durable")
        assert st["exported"] is True and st["at_least_once"] is True
        with pytest.raises(ValueError, match="at_most_once"):
            cb.launch("counter", "bad", delivery="sometimes")
    with a.connect(name="pytest") as c:
        for _ in range(20):
            c.send("b/durable", b"tick")

        def counted():
            (n,) = struct.unpack("<q", c.request("b/durable", b"how many", timeout=WAIT))
            return n if n >= 21 else False

        # Through JetStream, each handled once the stream took it: 20 sends and this request.
        assert wait_for(counted, 30.0, "b/durable to count 20 messages from node a", interval=0.1) >= 21
