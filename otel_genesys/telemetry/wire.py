"""Protobuf wire-format primitives shared by the hand-written OTLP encoders.

:mod:`otel_genesys.telemetry.probe_spans` (traces) and
:mod:`otel_genesys.telemetry.metrics_wire` (metrics) write OTLP messages
straight to bytes with these:

- varints for lengths, enums and ``int64`` values (negative ints as ten bytes);
- length-delimited fields for strings, bytes and sub-messages;
- little-endian ``fixed64`` / ``double`` values (:mod:`struct`);
- ``AnyValue`` / ``KeyValue`` bodies for attributes, in two flavours: *clean*
  (the value as the SDK's span attribute cleaning would leave it, then
  encoded) and *raw* (exactly what the SDK's OTLP encoder does with a value
  nobody cleaned: an unsupported type is an error, mapping keys are ``str()``'d).

A tag is the field number shifted left by three, or'ed with the wire type
(0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any, Final

__all__ = [
    "AV_INT",
    "KV_KEY",
    "KV_VALUE",
    "VARINT_1",
    "clean_keys",
    "encode_any_value",
    "encode_attributes",
    "encode_double",
    "encode_int64",
    "encode_key_value",
    "encode_string",
    "encode_varint",
    "fixed64_field",
    "length_delimited",
    "pack_double",
    "pack_fixed64",
]

VARINT_1: Final = tuple(bytes((i,)) for i in range(128))
"""The one-byte varints 0..127, prebuilt."""
_U64: Final = 1 << 64
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1
pack_double = struct.Struct("<d").pack
"""Eight little-endian bytes of a ``double``."""
pack_fixed64 = struct.Struct("<Q").pack
"""Eight little-endian bytes of a ``fixed64``."""


def encode_varint(value: int) -> bytes:
    """Base-128 varint of a non-negative integer (lengths, enums, uint fields).

    >>> encode_varint(300)
    b'\\xac\\x02'
    """
    if value < 0x80:
        if value < 0:
            raise ValueError(f"varint of a negative number: {value}")
        return VARINT_1[value]
    if value < 0x4000:  # two bytes: most message lengths
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_int64(value: int) -> bytes:
    """``int64`` varint: negative values as their 64-bit two's complement."""
    if value < 0:
        if value < _INT64_MIN:
            raise ValueError(f"value out of int64 range: {value}")
        return encode_varint(value + _U64)
    if value > _INT64_MAX:
        raise ValueError(f"value out of int64 range: {value}")
    return encode_varint(value)


def length_delimited(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return tag + encode_varint(len(payload)) + payload


def encode_string(field: int, text: str) -> bytes:
    """A ``string`` field (UTF-8, length-delimited) with its tag.

    >>> encode_string(1, "ok")
    b'\\n\\x02ok'
    """
    return length_delimited(encode_varint(field << 3 | 2), text.encode())


def encode_double(field: int, value: float) -> bytes:
    """A ``double`` field (wire type 1, eight little-endian bytes) with its tag."""
    return encode_varint(field << 3 | 1) + pack_double(value)


def fixed64_field(tag: int, value: int) -> bytes:
    """A ``fixed64`` field (``tag`` a one-byte tag), left out when zero (proto3 default)."""
    return bytes((tag,)) + pack_fixed64(value) if value else b""


# AnyValue fields: string 1, bool 2, int 3, double 4, array 5, kvlist 6, bytes 7.
_AV_STRING: Final = b"\x0a"
_AV_TRUE: Final = b"\x10\x01"
_AV_FALSE: Final = b"\x10\x00"
AV_INT: Final = b"\x18"
"""Tag of ``AnyValue.int_value``."""
_AV_DOUBLE: Final = b"\x21"
_AV_ARRAY: Final = b"\x2a"
_AV_KVLIST: Final = b"\x32"
_AV_BYTES: Final = b"\x3a"
# KeyValue: key 1, value 2. ArrayValue / KeyValueList: values 1.
KV_KEY: Final = b"\x0a"
"""Tag of ``KeyValue.key``."""
KV_VALUE: Final = b"\x12"
"""Tag of ``KeyValue.value``."""
_LIST_VALUES: Final = b"\x0a"


def _has_own_str(value: object) -> bool:
    # The SDK turns an unsupported value into str(value) only when its type defines
    # __str__ or __repr__; otherwise the value becomes None (an empty AnyValue).
    cls = type(value)
    return cls.__str__ is not object.__str__ or cls.__repr__ is not object.__repr__


def encode_any_value(value: Any, max_len: int | None = None, *, clean: bool = True) -> bytes:
    """The body of an ``AnyValue`` message for ``value``.

    ``None`` is an empty AnyValue; bool, str, int, float and bytes map to their
    fields; other sequences become ``array_value`` and mappings ``kvlist_value``
    (recursively). With ``clean`` (span attributes, as the SDK cleans them)
    anything else is ``str(value)``, mapping keys are cleaned like attribute keys
    and strings are cut to ``max_len`` characters when given; without it (what
    the SDK's OTLP encoder does to uncleaned values, e.g. metric attributes) an
    unsupported value raises :class:`TypeError` and mapping keys are ``str()``'d.
    Raises ``ValueError`` for an int outside int64 or a string that is not
    valid Unicode (the SDK drops such attributes).

    >>> encode_any_value(True)
    b'\\x10\\x01'
    """
    if value is None:
        return b""
    if isinstance(value, bool):
        return _AV_TRUE if value else _AV_FALSE
    if isinstance(value, str):
        if max_len is not None and len(value) > max_len:
            value = value[:max_len]
        return length_delimited(_AV_STRING, value.encode())
    if isinstance(value, int):
        return AV_INT + encode_int64(value)
    if isinstance(value, float):
        return _AV_DOUBLE + pack_double(value)
    if isinstance(value, bytes):
        return length_delimited(_AV_BYTES, value)
    if isinstance(value, Sequence):
        body = b"".join(
            length_delimited(_LIST_VALUES, encode_any_value(v, max_len, clean=clean)) for v in value
        )
        return length_delimited(_AV_ARRAY, body)
    if isinstance(value, Mapping):
        items = clean_keys(value.items()) if clean else [(str(k), v) for k, v in value.items()]
        body = b"".join(
            length_delimited(_LIST_VALUES, encode_key_value(k, v, max_len, clean=clean))
            for k, v in items
        )
        return length_delimited(_AV_KVLIST, body)
    if not clean:
        raise TypeError(f"Invalid type {type(value)} of attribute value")
    if _has_own_str(value):
        return encode_any_value(str(value), max_len)
    return b""


def encode_key_value(
    key: str, value: Any, max_len: int | None = None, *, clean: bool = True
) -> bytes:
    """The body of a ``KeyValue`` message (key, then the value's AnyValue)."""
    if not isinstance(key, str):
        raise TypeError(f"attribute key of type {type(key)}")
    value_field = length_delimited(KV_VALUE, encode_any_value(value, max_len, clean=clean))
    return length_delimited(KV_KEY, key.encode()) + value_field if key else value_field


def clean_keys(items: Any) -> list[tuple[str, Any]]:
    """Keys as the SDK keeps them: empty keys dropped, other non-str keys str()'d."""
    out: list[tuple[str, Any]] = []
    for key, value in items:
        if not key:
            continue
        if not isinstance(key, str):
            if not _has_own_str(key):
                continue
            key = str(key)
        out.append((key, value))
    return out


def encode_attributes(
    tag: bytes, attrs: Mapping[str, Any], max_len: int | None = None, *, clean: bool = True
) -> bytes:
    """Repeated ``KeyValue`` fields under ``tag``; an attribute that cannot be
    encoded is left out (as the SDK's encoder does after logging it)."""
    parts = []
    for key, value in attrs.items():
        try:
            parts.append(length_delimited(tag, encode_key_value(key, value, max_len, clean=clean)))
        except Exception:  # the SDK's encoder logs and skips on any error
            continue
    return b"".join(parts)
