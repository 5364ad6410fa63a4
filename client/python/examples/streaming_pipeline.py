#!/usr/bin/env python3
"""streaming_pipeline: the seed's streaming pipeline example, with asyncio, against pdcd.

    PDC_LIBRARY=build/client/libpdc.so.0 /usr/bin/python3 client/python/examples/streaming_pipeline.py \
        [--socket PATH] [--count 20000] [--window 1024]

Three kernels in a chain, each on its own tier, all inside pdcd:

    Python --attachment--> front (router, async tier)
                              | send_to
                              v
                           stage1 (double, threaded tier) --connect--> stage2 (double, spin tier)
                                                                          | outputs
    Python <----------------------- subscription ------------------------+

Python streams integers into the front kernel through a shared-memory attachment (no reply
asked), the router hands each to stage1, stage1's doubled value flows on to stage2 (a kernel
connection), and stage2's outputs come back to this process's subscription: every value arrives
multiplied by four, and each one is checked. It connects to a running pdcd (scripts/run.sh starts
one; --socket or $PDC_SOCKET name another) and terminates the kernels it launched on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from the tree without installing
import pdc  # noqa: E402
import pdc.aio  # noqa: E402


async def load(rt: pdc.aio.Runtime, plugin: str) -> None:
    try:
        await rt.load_plugin(plugin)
    except pdc.AlreadyExistsError:
        pass  # scripts/run.sh's pdcd loaded it already


async def main() -> int:
    ap = argparse.ArgumentParser(description="a three-kernel streaming pipeline driven from asyncio")
    ap.add_argument("--socket", default=None, help="pdcd's socket (default: $PDC_SOCKET, else libpdc's)")
    ap.add_argument("--count", type=int, default=20000, help="values to stream")
    ap.add_argument("--window", type=int, default=1024, help="values in the pipeline at most")
    args = ap.parse_args()

    tag = f"{random.randrange(1 << 32):08x}"
    front, stage1, stage2 = f"front-{tag}", f"stage1-{tag}", f"stage2-{tag}"
    async with pdc.aio.Runtime(args.socket) as rt:
        await load(rt, "pdc_router.so")
        await load(rt, "pdc_double.so")
        # Launch the back of the pipeline first, so nothing is sent to a kernel that is not there.
        await rt.launch(stage2, "double", tier="spin")
        await rt.launch(stage1, "double", tier="threaded")
        await rt.launch(front, "router", tier="async", config=stage1)
        await rt.run(rt.client.connect_kernels, stage1, stage2)
        await rt.run(rt.client.subscribe, stage2)
        for k in (stage2, stage1, front):
            await rt.activate(k)

        att = await rt.attachment(front)
        received: list[int] = []

        def take(limit: int) -> list[bytes]:
            """Up to `limit` deliveries of the subscription: waits for the first, then takes what
            is there (runs on the runtime's thread, where the Client lives)."""
            out = [rt.client.receive(10.0).payload]
            while len(out) < limit:
                try:
                    out.append(rt.client.receive(0).payload)
                except pdc.QueueTimeoutError:
                    break
            return out

        progress = asyncio.Event()

        async def consume() -> None:
            while len(received) < args.count:
                for payload in await rt.run(take, args.count - len(received)):
                    received.append(struct.unpack("<q", payload)[0])
                progress.set()

        # Flow control end to end: at most --window values inside the pipeline at once. A
        # kernel-to-kernel hand-off that finds its target's queue full fails (the router counts
        # a handler error) rather than waiting, so the producer must not run ahead of the slowest
        # stage by more than the queues hold (4096 each by default).
        t0 = time.perf_counter()
        consumer = asyncio.ensure_future(consume())
        for i in range(args.count):
            while i - len(received) >= args.window:
                progress.clear()
                await asyncio.wait_for(progress.wait(), 10.0)
            att.send(struct.pack("<q", i), no_reply=True)
        await asyncio.wait_for(consumer, 60.0)
        dt = time.perf_counter() - t0

        if sorted(received) != [4 * i for i in range(args.count)]:
            missing = set(4 * i for i in range(args.count)) - set(received)
            raise SystemExit(f"{len(missing)} values did not come through the pipeline right")
        in_order = received == sorted(received)
        print(f"{args.count} values through front -> stage1 -> stage2: all correct (x4), "
              f"{'in order' if in_order else 'reordered'}, {args.count / dt:,.0f} values/s end to end")
        for k in (front, stage1, stage2):
            t = await rt.get_telemetry(k)
            print(f"  {k}: {t['state']}, tier {t['tier']}, processed {t['processed']}, "
                  f"handler errors {t['handler_errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
