"""parse_duration / format_duration: units, compounds, errors, exact round trip."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_genesys.core.durations import MAX_DURATION_NS, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("250ms", 250_000_000),
        ("2s", 2_000_000_000),
        ("1.5s", 1_500_000_000),
        ("100us", 100_000),
        ("100µs", 100_000),
        ("500ns", 500),
        ("1m", 60_000_000_000),
        ("1h", 3_600_000_000_000),
        ("1h30m", 5_400_000_000_000),
        ("1m 30.5s", 90_500_000_000),
        (" 2S ", 2_000_000_000),
        ("0.1", 100_000_000),
        (".5s", 500_000_000),
        ("0", 0),
        (2, 2_000_000_000),
        (0.1, 100_000_000),
        (1.5, 1_500_000_000),
        ("1.0000000005ns", 1),
    ],
)
def test_parse_duration(text: str | int | float, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("-1s", "negative"),
        (-1, "negative"),
        (-0.5, "negative"),
        ("1x", "expected e.g."),
        ("1h30", "expected e.g."),
        ("ms", "expected e.g."),
        ("1..2s", "expected e.g."),
        (math.inf, "finite"),
        (math.nan, "finite"),
        ("200y", "expected e.g."),
        ("1000000h", "100 years"),
        (True, "expected e.g."),
    ],
)
def test_parse_duration_rejects(value: object, reason: str) -> None:
    with pytest.raises(ValueError, match="invalid duration") as info:
        parse_duration(value)  # type: ignore[arg-type]
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (250_000_000, "250ms"),
        (2_000_000_000, "2s"),
        (1_500_000, "1.5ms"),
        (850_000, "850us"),
        (999, "999ns"),
        (60_000_000_000, "1m"),
        (5_400_000_000_000, "90m"),
        (7_200_000_000_000, "2h"),
        (1_000_000_001, "1.000000001s"),
        (-250_000_000, "-250ms"),
    ],
)
def test_format_duration(ns: int, text: str) -> None:
    assert format_duration(ns) == text


@given(st.integers(min_value=0, max_value=MAX_DURATION_NS))
def test_round_trip(ns: int) -> None:
    assert parse_duration(format_duration(ns)) == ns
