#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus (tests/fuzz/corpus/<target>/): valid and
nearly valid inputs of each kind, so fuzzing starts from the shapes pdcd
really reads. Run from the repository root; needs flatc (Debian's
flatbuffers-compiler). The output is committed; rerun after a format change."""
import json
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def envelope(message_id, payload, flags=0):
    # pdc::envelope, 48 bytes (proto/include/pdc/proto/envelope.hpp).
    head = struct.pack("<QQQQIIHBB", message_id, 0, 0, 7, len(payload), 0, flags, 0, 0)
    head += b"\0" * (48 - len(head))
    return head + payload


def envelopes():
    write("fuzz_envelope", "empty_payload", envelope(1, b""))
    write("fuzz_envelope", "hello", envelope(2, b"hello"))
    write("fuzz_envelope", "short", envelope(3, b"x")[:20])
    write("fuzz_envelope", "length_lies", envelope(4, b"abc")[:-1])


def record(payload):
    pad = (-len(payload)) % 8
    return struct.pack("<II", len(payload), 0x52444350) + payload + b"\0" * pad


def rings():
    data = record(envelope(1, b"ping")) + record(envelope(2, b"pong"))
    # write_pos, read_pos, max_record, data area, then mutations (offset, value).
    write("fuzz_ring_consumer", "two_records", struct.pack("<QQI", len(data), 0, 1024) + data)
    padding = struct.pack("<II", 4096 - 8 - 8, 0x50444350)
    write("fuzz_ring_consumer", "padding_lap", struct.pack("<QQI", 4096 + 8, 4088, 1024) + b"\0" * 4088 + padding[:8])
    write("fuzz_ring_consumer", "behind", struct.pack("<QQI", 10, 100, 1024) + data)
    mutated = struct.pack("<QQI", len(data), 0, 1024) + data.ljust(4096, b"\0") + struct.pack("<IQ", 3, 2**63)
    write("fuzz_ring_consumer", "index_moves", mutated)


def configs():
    write("fuzz_config", "empty", b"")
    write("fuzz_config", "full", b"""socket = "/tmp/x.sock"
plugin_dirs = ["kernels"]
plugins = ["pdc_echo.so"]
log_level = "debug"
admin_group = ""
drain_timeout_ms = 100
session_queue_limit = 10
max_in_flight_bytes = 65536

[limits]
max_sessions = 4
max_queue_bytes = 1048576

[defaults]
capacity = 8
max_message_bytes = 1024
block_timeout_ms = 5

[[pool]]
name = "p"
threads = 2

[[kernel]]
type = "echo"
id = "e"
tier = "pool"
pool = "p"
access = ["anyone=status", "uid:1000=send,attach"]
""")
    write("fuzz_config", "bad_type", b"[defaults]\ncapacity = \"many\"\n")
    write("fuzz_config", "unknown_key", b"sockett = 1\n")
    write("fuzz_config", "dup_kernel", b"[[kernel]]\ntype='echo'\nid='a'\n[[kernel]]\ntype='echo'\nid='a'\n")


def frames():
    schema = os.path.join(ROOT, "proto", "control.fbs")
    requests = {
        "hello": {"body_type": "Hello", "body": {"client_name": "fuzz", "protocol_version": 0}},
        "launch": {"body_type": "Launch", "body": {"kernel_type": "echo", "kernel_id": "x", "tier": "Threaded",
                                                    "access": ["anyone=all"]}},
        "activate": {"body_type": "Activate", "body": {"kernel_id": "x"}},
        "terminate": {"body_type": "Terminate", "body": {"kernel_id": "x", "drop": True, "timeout_ms": 1}},
        "status": {"body_type": "Status", "body": {"kernel_id": "e"}},
        "list": {"body_type": "List", "body": {"after": "a"}},
        "metrics": {"body_type": "Metrics", "body": {"format": "Prometheus", "text_offset": 0}},
        "send": {"body_type": "Send", "body": {"kernel_id": "e", "message": list(envelope(1, b"hi")), "ack": True}},
        "attach": {"body_type": "Attach", "body": {"kernel_id": "e"}},
        "detach": {"body_type": "Detach", "body": {"attachment_id": 1}},
        "subscribe": {"body_type": "Subscribe", "body": {"kernel_id": "e"}},
        "connect": {"body_type": "Connect", "body": {"from_kernel": "e", "to_kernel": "e"}},
        "plugin_load": {"body_type": "PluginLoad", "body": {"path": "/etc/passwd"}},
        "plugin_list": {"body_type": "PluginList", "body": {}},
        "pool_list": {"body_type": "PoolList", "body": {}},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in requests.items():
            body = dict(body, id=1)
            src = os.path.join(tmp, name + ".json")
            with open(src, "w") as f:
                json.dump(body, f)
            subprocess.run(["flatc", "-b", "-o", tmp, schema, src], check=True)
            with open(os.path.join(tmp, name + ".bin"), "rb") as f:
                frame = f.read()
            write("fuzz_control_frame", name + "_admin", b"\x01" + frame)
            write("fuzz_control_frame", name + "_user", b"\x00" + frame)


def descriptors():
    size_2_0 = 4 * 4 + 8 * 2 + 4 * 2 + 8  # pdc_plugin_descriptor on 64-bit (48)
    type_size = 4 * 4 + 8 * 6
    head = struct.pack("<IIII", 2, 1, size_2_0, type_size)
    one = head + bytes([1, 3]) + struct.pack("<III", type_size, 0x1F, 0) + bytes([0b0101, 2])
    write("fuzz_plugin_descriptor", "one_type", one + b"fuzz\0" + b"1.0\0" + b"echo\0" + b"an echo\0")
    two = head + bytes([2, 3])
    two += struct.pack("<III", type_size, 0x1F, 2) + bytes([0b0111, 2])
    two += struct.pack("<III", type_size, 0x06, 1) + bytes([0b1000, 4])
    write("fuzz_plugin_descriptor", "two_types", two + b"p\0" + b"2\0" + b"a\0" + b"A\0" + b"b\0" + b"B\0")
    write("fuzz_plugin_descriptor", "old_major", struct.pack("<IIII", 1, 0, size_2_0, type_size) + bytes([1, 3]))
    write("fuzz_plugin_descriptor", "dup_names", head + bytes([2, 3]) +
          (struct.pack("<III", type_size, 0x1F, 0) + bytes([4, 2])) * 2 + b"p\0v\0same\0")


def main():
    envelopes()
    rings()
    configs()
    frames()
    descriptors()
    for target in sorted(os.listdir(CORPUS)):
        print(f"{target}: {len(os.listdir(os.path.join(CORPUS, target)))} seeds")


if __name__ == "__main__":
    sys.exit(main())
