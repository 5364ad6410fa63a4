#!/usr/bin/env python3
"""vector_add: the seed's vector_add example, against pdcd's vector_add kernel.

    PDC_LIBRARY=build/client/libpdc.so.0 /usr/bin/python3 client/python/examples/vector_add.py \
        [--socket PATH] [--size 1024] [--requests 1000] [--tier spin]

It connects to a running pdcd (scripts/run.sh starts one; --socket or $PDC_SOCKET name another),
launches a vector_add kernel of its own, sends pairs of float vectors through a shared-memory
attachment and checks every sum. The kernel speaks flatbuffers (kernels/vector_add/vector_add.fbs):
the two tables are small enough to lay out by hand with struct, so this needs nothing beyond the
standard library (numpy is used for the vectors where present).
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from the tree without installing
import pdc  # noqa: E402


def encode_request(a: array, b: array) -> bytes:
    """A VectorAddRequest {a:[float], b:[float]} flatbuffer, laid out as:
    root offset | vtable (4 u16) | table (soffset, offset a, offset b) | vector a | vector b."""
    n = len(a)
    vtable = struct.pack("<HHHH", 8, 12, 4, 8)  # vtable bytes, table bytes, field a at +4, b at +8
    table_pos = 4 + len(vtable)  # 12
    a_pos = table_pos + 12
    b_pos = a_pos + 4 + 4 * n
    table = struct.pack("<iII", table_pos - 4, a_pos - (table_pos + 4), b_pos - (table_pos + 8))
    return b"".join((struct.pack("<I", table_pos), vtable, table,
                     struct.pack("<I", n), a.tobytes(), struct.pack("<I", n), b.tobytes()))


def decode_response(buf: bytes) -> array:
    """The `sum` vector of a VectorAddResponse flatbuffer."""
    (root,) = struct.unpack_from("<I", buf, 0)
    (soff,) = struct.unpack_from("<i", buf, root)
    vt = root - soff
    vt_size, _ = struct.unpack_from("<HH", buf, vt)
    field = struct.unpack_from("<H", buf, vt + 4)[0] if vt_size > 4 else 0
    out = array("f")
    if field:
        pos = root + field
        vec = pos + struct.unpack_from("<I", buf, pos)[0]
        (n,) = struct.unpack_from("<I", buf, vec)
        out.frombytes(buf[vec + 4: vec + 4 + 4 * n])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="element-wise float vector sums in a pdcd kernel")
    ap.add_argument("--socket", default=None, help="pdcd's socket (default: $PDC_SOCKET, else libpdc's)")
    ap.add_argument("--size", type=int, default=1024, help="elements per vector")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--tier", default="spin", choices=sorted(pdc.TIERS))
    args = ap.parse_args()

    kernel_id = f"vector_add-example-{random.randrange(1 << 32):08x}"
    with pdc.connect(args.socket) as client:
        try:
            client.load_plugin("pdc_vector_add.so")
        except pdc.AlreadyExistsError:
            pass  # scripts/run.sh's pdcd loaded it already
        client.launch("vector_add", kernel_id, tier=args.tier, capacity=256,
                      max_message_bytes=max(65536, 8 * args.size + 64))
        try:
            client.activate(kernel_id)
            with client.attach(kernel_id) as att:
                rng = random.Random(7)
                worst = 0.0
                t0 = time.perf_counter()
                for _ in range(args.requests):
                    a = array("f", (rng.uniform(-1, 1) for _ in range(args.size)))
                    b = array("f", (rng.uniform(-1, 1) for _ in range(args.size)))
                    total = decode_response(att.request(encode_request(a, b), timeout=5.0))
                    if len(total) != args.size:
                        raise SystemExit(f"the kernel returned {len(total)} sums for {args.size} elements")
                    expect = array("f", (x + y for x, y in zip(a, b)))
                    if total != expect:
                        worst = max(abs(x - y) for x, y in zip(total, expect))
                        raise SystemExit(f"wrong sums: largest difference {worst}")
                dt = time.perf_counter() - t0
                print(f"{args.requests} vector additions of {args.size} floats on the {args.tier} tier: "
                      f"all correct, {dt / args.requests * 1e6:.1f} us each (building and checking "
                      f"the vectors in Python included)")
                # A malformed request is refused by the kernel's flatbuffers verifier, cleanly.
                try:
                    att.request(b"not a flatbuffer", timeout=5.0)
                except pdc.PluginError as e:
                    print(f"a malformed request gets: {e}")
        finally:
            client.terminate(kernel_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
