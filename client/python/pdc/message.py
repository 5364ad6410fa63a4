"""@message: a dataclass whose fields travel as a fixed binary layout.

    @pdc.message(type_id=7)
    class Sample:
        stream: pdc.u32
        value: pdc.f64
        note: bytes = b""     # a trailing bytes (or str) field takes the rest

    payload = Sample(3, 1.5).encode()      # 12 bytes + the note
    Sample.decode(payload) == Sample(3, 1.5)

The layout is what ``struct`` makes of the fields in order, little-endian
and without padding (byte order ``"<"``; pass ``byteorder=">"`` or ``"="``
for another). The field types: the aliases below (``pdc.u32``, ``pdc.f32``,
...), plain ``int`` (a signed 64-bit integer), ``float`` (a double),
``bool`` (one byte), ``typing.Annotated[T, "<struct code>"]`` for any other
``struct`` code (``"16s"`` for a fixed 16-byte string, say), and as the last
field only, ``bytes`` or ``str`` (UTF-8) for a tail of any length. It is
what a C++ kernel reads with a packed struct, or with the same offsets.

Every decorated class gains ``encode()`` (also ``bytes(obj)``), the class
method ``decode(data)``, and the class attributes ``type_id`` (sent as the
envelope's type id by pdc.aio.Runtime), ``struct`` (the ``struct.Struct``
of the fixed part) and ``fixed_size``.
"""

from __future__ import annotations

import dataclasses
import struct
import typing
from typing import Annotated, Any

__all__ = ["message", "i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64", "f32", "f64"]

i8 = Annotated[int, "b"]
u8 = Annotated[int, "B"]
i16 = Annotated[int, "h"]
u16 = Annotated[int, "H"]
i32 = Annotated[int, "i"]
u32 = Annotated[int, "I"]
i64 = Annotated[int, "q"]
u64 = Annotated[int, "Q"]
f32 = Annotated[float, "f"]
f64 = Annotated[float, "d"]

_PLAIN = {int: "q", float: "d", bool: "?"}
_TAIL = (bytes, str)


def _code(owner: type, name: str, hint: Any) -> str | type:
    """The struct code of one field, or bytes/str for a tail field."""
    if typing.get_origin(hint) is Annotated:
        base, *extra = typing.get_args(hint)
        codes = [e for e in extra if isinstance(e, str)]
        if len(codes) != 1:
            raise TypeError(f"{owner.__name__}.{name}: Annotated needs exactly one struct code string")
        code = codes[0]
        try:
            struct.calcsize("<" + code)
        except struct.error as e:
            raise TypeError(f"{owner.__name__}.{name}: bad struct code {code!r}: {e}") from None
        return code
    if hint in _PLAIN:
        return _PLAIN[hint]
    if hint in _TAIL:
        return hint
    raise TypeError(
        f"{owner.__name__}.{name}: type {hint!r} has no binary layout; use int, float, bool, pdc.u32 "
        "and the other aliases, Annotated[T, '<struct code>'], or bytes/str as the last field"
    )


def _build(cls: type, type_id: int, byteorder: str) -> type:
    if byteorder not in ("<", ">", "=", "!"):
        raise ValueError(f"byteorder must be '<', '>', '=' or '!', not {byteorder!r}")
    if not 0 <= type_id <= 0xFFFFFFFF:
        raise ValueError(f"type_id must fit 32 bits, got {type_id}")
    if not dataclasses.is_dataclass(cls):
        cls = dataclasses.dataclass(cls)
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = dataclasses.fields(cls)
    codes: list[str] = []
    tail: type | None = None
    for i, f in enumerate(fields):
        code = _code(cls, f.name, hints[f.name])
        if isinstance(code, type):
            if i != len(fields) - 1:
                raise TypeError(f"{cls.__name__}.{f.name}: a {code.__name__} field must be the last one")
            tail = code
        else:
            codes.append(code)
    packer = struct.Struct(byteorder + "".join(codes))
    names = tuple(f.name for f in fields[: len(codes)])
    tail_name = fields[-1].name if tail is not None else None
    fixed = packer.size

    def encode(self: Any) -> bytes:
        try:
            head = packer.pack(*[getattr(self, n) for n in names])
        except struct.error as e:
            raise ValueError(f"cannot encode {type(self).__name__}: {e}") from None
        if tail_name is None:
            return head
        value = getattr(self, tail_name)
        if tail is str:
            value = value.encode()
        return head + bytes(value)

    def decode(klass: type, data: Any) -> Any:
        mv = memoryview(data).cast("B")
        if len(mv) < fixed or (tail_name is None and len(mv) != fixed):
            want = f"{fixed} bytes" if tail_name is None else f"at least {fixed} bytes"
            raise ValueError(f"cannot decode {klass.__name__}: {len(mv)} bytes, the layout needs {want}")
        values = list(packer.unpack_from(mv))
        if tail_name is not None:
            rest = mv[fixed:].tobytes()
            values.append(rest.decode() if tail is str else rest)
        return klass(*values)

    cls.encode = encode
    cls.__bytes__ = encode
    cls.decode = classmethod(decode)
    cls.type_id = type_id
    cls.struct = packer
    cls.fixed_size = fixed
    return cls


def message(cls: type | None = None, *, type_id: int = 0, byteorder: str = "<") -> Any:
    """Class decorator: makes `cls` a dataclass (if it is not one) with a binary layout
    (module docstring). Use bare (``@message``) or with arguments (``@message(type_id=3)``)."""
    if cls is None:
        return lambda c: _build(c, type_id, byteorder)
    return _build(cls, type_id, byteorder)
