from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_genesys.config import _parse_duration, format_duration


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("250ms", 250_000_000),
        ("2s", 2_000_000_000),
        ("1.5s", 1_500_000_000),
        ("100us", 100_000),
        ("1m", 60_000_000_000),
        ("1h", 3_600_000_000_000),
        ("7ns", 7),
        (" 3 s ", 3_000_000_000),
        ("2", 2_000_000_000),
        (2, 2_000_000_000),
        (0.25, 250_000_000),
        ("-1s", -1_000_000_000),
    ],
)
def test_parse_duration(text: object, ns: int) -> None:
    assert _parse_duration(text) == ns


@pytest.mark.parametrize("bad", ["", "fast", "2 sec", "1s2", "nan", True, None, [1], float("inf")])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        _parse_duration(bad)


@given(st.integers(min_value=0, max_value=10**15))
def test_format_round_trips(ns: int) -> None:
    assert _parse_duration(format_duration(ns)) == ns
