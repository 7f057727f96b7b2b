"""Duration values in settings: a thin layer over `otel_genesys.core.durations`.

Settings may spell a negative duration; it is parsed here (and rejected later
by the rule of the key it belongs to, which gives the better message).
``*_ms`` keys take a bare number of milliseconds, or a duration with a unit.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from otel_genesys.core.durations import NS_PER_MS, format_duration, parse_duration

__all__ = ["_parse_duration", "_parse_millis", "format_duration", "format_millis"]


def _negated(value: object) -> tuple[bool, object]:
    if isinstance(value, str) and value.strip().startswith("-"):
        return True, value.strip()[1:]
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        return True, -value
    return False, value


def _parse_duration(value: object) -> int:
    """Parse a duration to integer nanoseconds; bare numbers are seconds.

    >>> _parse_duration("250ms"), _parse_duration("1.5s"), _parse_duration(2)
    (250000000, 1500000000, 2000000000)
    """
    negative, magnitude = _negated(value)
    ns = parse_duration(magnitude)  # type: ignore[arg-type]
    return -ns if negative else ns


def _parse_millis(value: object) -> int:
    """Parse a number of milliseconds (or a duration string with a unit) to nanoseconds."""
    negative, magnitude = _negated(value)
    if isinstance(magnitude, str) and not magnitude.strip().replace(".", "", 1).isdigit():
        try:
            ns = parse_duration(magnitude)
        except ValueError:
            raise ValueError("expected a number of milliseconds") from None
    else:
        if isinstance(magnitude, bool) or not isinstance(magnitude, int | float | str):
            raise ValueError("expected a number of milliseconds")
        try:
            amount = Decimal(str(magnitude).strip())
        except InvalidOperation:
            raise ValueError("expected a number of milliseconds") from None
        if not amount.is_finite():
            raise ValueError("expected a finite number of milliseconds")
        ns = parse_duration(format_duration(int(amount * NS_PER_MS)))
    return -ns if negative else ns


def format_millis(ns: int) -> int | float:
    """A ``*_ms`` key's value as written in settings: whole ms as an int, else a float.

    >>> format_millis(300_000_000), format_millis(1_500_000)
    (300, 1.5)
    """
    whole, frac = divmod(ns, NS_PER_MS)
    return whole if not frac else ns / NS_PER_MS
