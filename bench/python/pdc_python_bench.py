#!/usr/bin/env python3
"""pdc's Python client against bare Python baselines, measured in the same run.

    PDC_LIBRARY=build/client/libpdc.so.0 /usr/bin/python3 bench/python/pdc_python_bench.py \
        --pdcd build/bin/pdcd --kernels build/kernels [--reps 5]

It starts its own pdcd (socket in a temporary folder) with the echo and sink kernels, and runs
each row --reps times, interleaving pdc with its baselines so that both see the same machine
(this VM's bare spin ping-pong switches between about 0.2 us and 0.7-1 us within minutes):

- bare Python ping-pong over a Unix socketpair between two processes (the floor of any
  socket-based Python IPC), and over a shared-memory word both processes spin on (the floor of
  any Python round trip across processes: what the interpreter itself costs);
- pdc request round trip p50/p99, sync, on the spin tier (tier 3) and on the async tier;
- pdc.aio request round trip p50/p99 on the async tier (tier 1) and the spin tier;
- batched one-way throughput: send_many of 16-byte messages into a sink kernel, one probe at the
  end whose reply says all arrived;
- zero-copy receive of 1 MiB payloads: a stream of 1 MiB replies from echo read through
  receive_view (each payload also written once by begin_send, copied by the kernel).

The report gives medians of the repetitions and, per row, the ratio to its bare baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import mmap
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "client" / "python"))
import pdc  # noqa: E402
import pdc.aio  # noqa: E402

NS = 1e9


def percentile(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


# -- bare baselines -------------------------------------------------------------------------------
def bare_socket_pingpong(n: int) -> list[float]:
    """Round trips (seconds each) of one byte over a socketpair between two processes."""
    a, b = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        a.close()
        try:
            while True:
                d = b.recv(1)
                if not d or d == b"q":
                    break
                b.send(d)
        finally:
            os._exit(0)
    b.close()
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        a.send(b"x")
        a.recv(1)
        out.append((clock() - t0) / NS)
    a.send(b"q")
    os.waitpid(pid, 0)
    a.close()
    return out


def bare_shm_pingpong(n: int) -> list[float]:
    """Round trips over one shared 8-byte word two processes spin on (ping: odd, pong: even)."""
    m = mmap.mmap(-1, 64)
    word = memoryview(m).cast("Q")
    pid = os.fork()
    if pid == 0:
        expect = 1
        while True:
            v = word[0]
            if v == expect:
                word[0] = v + 1
                expect += 2
            elif v == 0xFFFFFFFF:
                os._exit(0)
    out = []
    clock = time.perf_counter_ns
    v = 0
    for _ in range(n):
        t0 = clock()
        word[0] = v + 1
        v += 2
        while word[0] != v:
            pass
        out.append((clock() - t0) / NS)
    word[0] = 0xFFFFFFFF
    os.waitpid(pid, 0)
    word.release()
    m.close()
    return out


# -- pdc rows ------------------------------------------------------------------------------------
def sync_round_trips(att: pdc.Attachment, n: int) -> list[float]:
    out = []
    clock = time.perf_counter_ns
    payload = b"12345678"
    req = att.request
    for _ in range(n):
        t0 = clock()
        req(payload, 5.0)
        out.append((clock() - t0) / NS)
    return out


def aio_round_trips(att: pdc.Attachment, n: int, spin: float) -> list[float]:
    async def body():
        a = pdc.aio.Attachment(att, spin=spin)
        out = []
        clock = time.perf_counter_ns
        payload = b"12345678"
        for _ in range(n):
            t0 = clock()
            await a.request(payload, 5.0)
            out.append((clock() - t0) / NS)
        return out

    return asyncio.run(body())


def batched_throughput(att: pdc.Attachment, n: int) -> float:
    """Messages per second, one way, into the sink kernel (16-byte payloads)."""
    msgs = [b"0123456789abcdef"] * n
    before = struct.unpack("<q", att.request(b"probe", 30.0, type_id=1))[0]
    t0 = time.perf_counter()
    att.send_many(msgs, no_reply=True)
    after = struct.unpack("<q", att.request(b"probe", 30.0, type_id=1))[0]
    dt = time.perf_counter() - t0
    if after - before != n + 1:  # the sink counts the probe too
        raise SystemExit(f"the sink saw {after - before - 1} of {n} messages")
    return n / dt


def zero_copy_receive(att: pdc.Attachment, n: int, size: int) -> float:
    """Bytes per second of 1 MiB replies read through receive_view, one in flight ahead."""
    total = 0
    t0 = time.perf_counter()
    inflight = 0
    sent = 0
    while total < n * size:
        while sent < n and inflight < 2:
            buf, _ = att.begin_send(size)  # written in place in the request ring
            buf[:8] = struct.pack("<Q", sent)
            att.flush()
            sent += 1
            inflight += 1
        with att.receive_view(10.0) as view:
            assert len(view) == size
            total += len(view)
        inflight -= 1
    return total / (time.perf_counter() - t0)


# -- the daemon ----------------------------------------------------------------------------------
def start_pdcd(pdcd: str, kernels: str, folder: str) -> subprocess.Popen:
    sock = os.path.join(folder, "pdcd.sock")
    cfg = os.path.join(folder, "pdcd.toml")
    with open(cfg, "w") as f:
        f.write(f'socket = "{sock}"\nplugin_dirs = ["{kernels}"]\nplugins = ["pdc_echo.so", "pdc_sink.so"]\n'
                "[defaults]\nmax_message_bytes = 1048576\n")
    log = open(os.path.join(folder, "pdcd.log"), "w")
    proc = subprocess.Popen([pdcd, "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            pdc.connect(sock).close()
            return proc
        except pdc.PdcError:
            if proc.poll() is not None:
                break
            time.sleep(0.02)
    proc.kill()
    raise SystemExit(f"pdcd did not start; its log:\n{open(os.path.join(folder, 'pdcd.log')).read()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pdcd", default=shutil.which("pdcd") or "build/bin/pdcd")
    ap.add_argument("--kernels", default="build/kernels")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--round-trips", type=int, default=20000)
    ap.add_argument("--stream", type=int, default=2_000_000)
    ap.add_argument("--mib", type=int, default=2000, help="1 MiB payloads per zero-copy repetition")
    args = ap.parse_args()

    folder = tempfile.mkdtemp(prefix="pdc-pybench-")
    proc = start_pdcd(args.pdcd, os.path.abspath(args.kernels), folder)
    rows: dict[str, list] = {}

    def add(name, value):
        rows.setdefault(name, []).append(value)

    try:
        c = pdc.connect(os.path.join(folder, "pdcd.sock"))
        c.launch("echo", "spin", tier="spin", max_message_bytes=4096)
        c.launch("echo", "async", tier="async", max_message_bytes=4096)
        c.launch("sink", "sink", tier="spin", max_message_bytes=4096)
        c.launch("echo", "big", tier="spin", capacity=64, max_message_bytes=1 << 20)
        for k in ("spin", "async", "sink", "big"):
            c.activate(k)
        att = {k: c.attach(k) for k in ("spin", "async")}
        sink = c.attach("sink", request_ring_bytes=16 << 20)
        big = c.attach("big", request_ring_bytes=8 << 20, reply_ring_bytes=8 << 20)
        n = args.round_trips
        for k in att.values():  # warm up
            sync_round_trips(k, 2000)
        for rep in range(args.reps):
            for name, fn in (
                ("bare socketpair ping-pong", lambda: bare_socket_pingpong(n)),
                ("bare shared-memory spin ping-pong", lambda: bare_shm_pingpong(n)),
                ("sync request, spin tier", lambda: sync_round_trips(att["spin"], n)),
                ("sync request, async tier", lambda: sync_round_trips(att["async"], n)),
                ("aio request, async tier", lambda: aio_round_trips(att["async"], n, pdc.aio.DEFAULT_SPIN)),
                ("aio request, spin tier", lambda: aio_round_trips(att["spin"], n, pdc.aio.DEFAULT_SPIN)),
                ("aio request, async tier, no poll (parks)", lambda: aio_round_trips(att["async"], n // 4, 0.0)),
            ):
                v = fn()
                add(name, (statistics.median(v), percentile(v, 0.99)))
            add("batched one-way throughput (msg/s)", batched_throughput(sink, args.stream))
            add("zero-copy receive of 1 MiB payloads (GB/s)", zero_copy_receive(big, args.mib, 1 << 20) / 1e9)
            print(f"repetition {rep + 1}/{args.reps} done", file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)

    def med(name, i):
        return statistics.median(r[i] for r in rows[name])

    bare_sock = med("bare socketpair ping-pong", 0)
    bare_shm = med("bare shared-memory spin ping-pong", 0)
    print(f"pdc Python client, {args.reps} repetitions, medians (Python {sys.version.split()[0]}, "
          f"libpdc {pdc._capi.loaded_path()})")
    print(f"{'row':48} {'p50 us':>9} {'p99 us':>9} {'/ bare shm':>10} {'/ bare sock':>11}")
    for name in rows:
        if isinstance(rows[name][0], tuple):
            p50, p99 = med(name, 0), med(name, 1)
            print(f"{name:48} {p50 * 1e6:9.2f} {p99 * 1e6:9.2f} {p50 / bare_shm:10.2f} {p50 / bare_sock:11.2f}")
    for name in rows:
        if not isinstance(rows[name][0], tuple):
            vals = rows[name]
            print(f"{name:48} {statistics.median(vals):12.3f}   (min {min(vals):.3f}, max {max(vals):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
