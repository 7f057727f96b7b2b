"""A small TOML writer for plain data (``check-config`` output and tests).

Python 3.11 reads TOML (``tomllib``) but cannot write it; this covers what the
effective configuration holds: tables, strings, numbers, booleans, arrays.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def dumps(data: Mapping[str, Any]) -> str:
    """Serialise a mapping as a TOML document."""
    lines: list[str] = []
    _emit_table(data, (), lines)
    return "\n".join(lines).strip("\n") + "\n"


def format_value(value: Any) -> str:
    """One TOML value (inline form)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{format_key(k)} = {format_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    raise TypeError(f"cannot write a {type(value).__name__} as TOML")


def format_key(key: str) -> str:
    """A key, quoted only when it is not a bare key."""
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _string(text: str) -> str:
    # JSON string escapes are a subset of TOML basic-string escapes, except that
    # TOML also forbids a raw DEL character.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _emit_table(table: Mapping[str, Any], path: tuple[str, ...], lines: list[str]) -> None:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, Mapping)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
    if path and (scalars or not tables):
        lines.append("")
        lines.append("[" + ".".join(format_key(p) for p in path) + "]")
    for key, value in scalars:
        lines.append(f"{format_key(key)} = {format_value(value)}")
    for key, value in tables:
        _emit_table(value, (*path, key), lines)
