"""Human durations ("250ms", "1h30m", 2.5) to integer nanoseconds and back.

Units: ``ns``, ``us`` (also ``µs``), ``ms``, ``s``, ``m``, ``h``; several
parts may follow each other (``1h30m``, ``1m 30.5s``). A bare number, given as
``int``/``float`` or as a string without a unit, means seconds. Parsing is
exact (decimal arithmetic, no float rounding of ``"0.1s"``); fractions of a
nanosecond are rounded to the nearest nanosecond. `format_duration` writes the
shortest exact spelling with a single unit, so
``parse_duration(format_duration(ns)) == ns`` for every ``ns >= 0``.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
NS_PER_M = 60 * NS_PER_S
NS_PER_H = 60 * NS_PER_M

_UNITS: dict[str, int] = {
    "ns": 1,
    "us": NS_PER_US,
    "µs": NS_PER_US,
    "μs": NS_PER_US,
    "ms": NS_PER_MS,
    "s": NS_PER_S,
    "m": NS_PER_M,
    "h": NS_PER_H,
}

MAX_DURATION_NS = 100 * 365 * 24 * NS_PER_H
"""Anything longer is a typo; the bound keeps arithmetic on results cheap."""

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
# "ms" must be tried before "m" and "s"; regex alternation is ordered.
_PART = re.compile(rf"\s*({_NUMBER})\s*(ns|us|µs|μs|ms|s|m|h)", re.IGNORECASE)
_BARE = re.compile(rf"\s*({_NUMBER})\s*")
_HINT = "expected e.g. '250ms', '2s', '1.5s', '100us', '1h30m' or a number of seconds"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _to_ns(amount: Decimal, unit_ns: int) -> int:
    return int((amount * unit_ns).to_integral_value())


def parse_duration(value: str | int | float) -> int:
    """Parse a duration to integer nanoseconds.

    Raises ``ValueError`` naming the value and the accepted forms when the
    input is malformed, negative, not finite, or absurdly large.

    >>> parse_duration("250ms"), parse_duration("1.5s"), parse_duration(2)
    (250000000, 1500000000, 2000000000)
    >>> parse_duration("1h30m") == parse_duration("90m")
    True
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"invalid duration {_shown(value)}: {_HINT}")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"invalid duration {_shown(value)}: must be finite")
        if value < 0:
            raise ValueError(f"invalid duration {_shown(value)}: must not be negative")
        # repr() of a float is the shortest string that round-trips, so 0.1 -> "0.1".
        ns = _to_ns(Decimal(repr(value)) if isinstance(value, float) else Decimal(value), NS_PER_S)
    else:
        ns = _parse_text(value)
    if ns > MAX_DURATION_NS:
        raise ValueError(f"invalid duration {_shown(value)}: longer than 100 years")
    return ns


def _parse_text(text: str) -> int:
    stripped = text.strip()
    if stripped.startswith("-"):
        raise ValueError(f"invalid duration {_shown(text)}: must not be negative")
    if stripped.startswith("+"):
        stripped = stripped[1:]
    if not stripped:
        raise ValueError(f"invalid duration {_shown(text)}: empty; {_HINT}")
    bare = _BARE.fullmatch(stripped)
    try:
        if bare is not None:
            return _to_ns(Decimal(bare.group(1)), NS_PER_S)
        total = 0
        pos = 0
        while pos < len(stripped):
            part = _PART.match(stripped, pos)
            if part is None:
                raise ValueError(f"invalid duration {_shown(text)}: {_HINT}")
            number, unit = part.groups()
            total += _to_ns(Decimal(number), _UNITS[unit.lower()])
            pos = part.end()
            if total > MAX_DURATION_NS:
                raise ValueError(f"invalid duration {_shown(text)}: longer than 100 years")
        return total
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"invalid duration {_shown(text)}: {_HINT}") from None


def _decimal_text(ns: int, unit_ns: int) -> str:
    whole, frac = divmod(ns, unit_ns)
    if not frac:
        return str(whole)
    digits = len(str(unit_ns)) - 1
    return f"{whole}.{str(frac).rjust(digits, '0').rstrip('0')}"


def format_duration(ns: int) -> str:
    """The shortest exact single-unit spelling of ``ns``.

    Whole hours and minutes use ``h``/``m``; otherwise the largest of ``s``,
    ``ms``, ``us``, ``ns`` not bigger than the value, with as many decimals as
    exactness needs. Negative values get a leading ``-`` (for display only:
    `parse_duration` rejects them).

    >>> format_duration(250_000_000), format_duration(2_000_000_000)
    ('250ms', '2s')
    >>> format_duration(1_500_000), format_duration(850_000), format_duration(0)
    ('1.5ms', '850us', '0s')
    """
    if ns < 0:
        return "-" + format_duration(-ns)
    if ns == 0:
        return "0s"
    if ns % NS_PER_H == 0:
        return f"{ns // NS_PER_H}h"
    if ns % NS_PER_M == 0:
        return f"{ns // NS_PER_M}m"
    for unit, unit_ns in (("s", NS_PER_S), ("ms", NS_PER_MS), ("us", NS_PER_US)):
        if ns >= unit_ns:
            return _decimal_text(ns, unit_ns) + unit
    return f"{ns}ns"
