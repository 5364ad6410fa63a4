"""Tests of pdc.message: dataclasses with a fixed binary layout (pdc/message.py).

Most need nothing but Python; the last one sends an encoded message through a real echo kernel
(conftest.py's fixtures, skipped without a daemon)."""

from __future__ import annotations

import dataclasses
import struct
from typing import Annotated

import pytest

import pdc


@pdc.message(type_id=7)
class Sample:
    stream: pdc.u32
    value: pdc.f64
    note: bytes = b""


@pdc.message
class Plain:
    count: int
    ratio: float
    flag: bool


@pdc.message(byteorder=">")
class BigEndian:
    a: pdc.u16
    b: pdc.i32


@pdc.message
class Named:
    tag: Annotated[bytes, "4s"]
    level: pdc.i8
    text: str = ""


def test_layout_attributes():
    assert Sample.type_id == 7
    assert Sample.fixed_size == 12  # u32 + f64, no padding
    assert Sample.struct.format == "<Id"
    assert Plain.type_id == 0
    assert Plain.struct.format == "<qd?"
    assert Plain.fixed_size == 17
    assert dataclasses.is_dataclass(Sample)


def test_encode_is_the_struct_layout():
    s = Sample(3, 1.5, b"hi")
    assert s.encode() == struct.pack("<Id", 3, 1.5) + b"hi"
    assert bytes(s) == s.encode()
    assert Sample(3, 1.5).encode() == struct.pack("<Id", 3, 1.5)
    assert BigEndian(1, -2).encode() == struct.pack(">Hi", 1, -2)
    assert Plain(-1, 0.25, True).encode() == struct.pack("<qd?", -1, 0.25, True)


def test_round_trips():
    for obj in (Sample(3, 1.5), Sample(2**32 - 1, -0.0, b"\x00tail\xff"), Plain(-(2**63), 1e300, False),
                BigEndian(65535, -(2**31)), Named(b"abcd", -128, "héllo")):
        data = obj.encode()
        assert type(obj).decode(data) == obj
        assert type(obj).decode(bytearray(data)) == obj
        assert type(obj).decode(memoryview(data)) == obj


def test_decode_from_a_larger_buffer_view():
    data = b"xx" + Sample(9, 2.0, b"z").encode()
    assert Sample.decode(memoryview(data)[2:]) == Sample(9, 2.0, b"z")


def test_str_tail_is_utf8():
    n = Named(b"tag!", 5, "ünïcode")
    assert n.encode().endswith("ünïcode".encode())
    assert Named.decode(n.encode()).text == "ünïcode"


def test_fixed_string_field_pads():
    n = Named(b"ab", 1)
    assert n.encode()[:4] == b"ab\x00\x00"
    assert Named.decode(n.encode()).tag == b"ab\x00\x00"


def test_decode_wrong_sizes():
    with pytest.raises(ValueError, match="at least 12 bytes"):
        Sample.decode(b"\x00" * 11)
    with pytest.raises(ValueError, match="17 bytes"):
        Plain.decode(b"\x00" * 18)  # no tail: exactly the fixed size
    with pytest.raises(ValueError):
        Plain.decode(b"")


def test_encode_out_of_range_is_value_error():
    with pytest.raises(ValueError, match="cannot encode Sample"):
        Sample(-1, 0.0).encode()
    with pytest.raises(ValueError):
        BigEndian(70000, 0).encode()


def test_an_existing_dataclass_is_kept():
    @pdc.message(type_id=3)
    @dataclasses.dataclass(frozen=True)
    class Frozen:
        x: pdc.u8

    assert Frozen(5).encode() == b"\x05"
    with pytest.raises(dataclasses.FrozenInstanceError):
        Frozen(5).x = 6


@pytest.mark.parametrize("build", [
    lambda: pdc.message(type("NoLayout", (), {"__annotations__": {"x": list}})),
    lambda: pdc.message(type("TailFirst", (), {"__annotations__": {"t": bytes, "x": int}})),
    lambda: pdc.message(type("BadCode", (), {"__annotations__": {"x": Annotated[int, "Z"]}})),
    lambda: pdc.message(type("TwoCodes", (), {"__annotations__": {"x": Annotated[int, "b", "h"]}})),
], ids=["no-layout", "tail-not-last", "bad-code", "two-codes"])
def test_bad_fields_are_type_errors(build):
    with pytest.raises(TypeError):
        build()


@pytest.mark.parametrize("kwargs", [{"byteorder": "@"}, {"type_id": -1}, {"type_id": 2**32}])
def test_bad_arguments_are_value_errors(kwargs):
    with pytest.raises(ValueError):
        pdc.message(**kwargs)(type("X", (), {"__annotations__": {"x": int}}))


def test_through_an_echo_kernel(client, echo):
    """What a kernel sees is the encoded bytes; the type id travels in the envelope."""
    sample = Sample(42, 3.25, b"payload")
    with client.attach(echo) as att:
        att.send(sample.encode(), type_id=Sample.type_id)
        m = att.receive(10.0)
        assert m.type_id == Sample.type_id
        assert Sample.decode(m.payload) == sample
        att.send(bytes(sample))
        with att.receive_view(10.0) as mv:
            assert Sample.decode(mv) == sample  # decodes in place, from shared memory
    assert Plain.decode(client.request(echo, Plain(7, 0.5, True).encode(), 10.0)) == Plain(7, 0.5, True)
