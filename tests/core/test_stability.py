"""Stability windows: count, time and lifetime."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_genesys.core.stability import TIME_BUCKETS, StabilityTracker

S = 1_000_000_000


def test_one_when_nothing_counted() -> None:
    s = StabilityTracker()
    assert (s.window_ratio, s.time_ratio(), s.lifetime_ratio) == (1.0, 1.0, 1.0)


def test_count_window_slides() -> None:
    s = StabilityTracker(window=3, window_ns=3_600 * S)
    for i, good in enumerate((False, True, True, True)):
        s.record(good, i * S)
    assert s.window_ratio == 1.0
    assert s.lifetime_ratio == 0.75
    assert s.time_ratio() == 0.75


def test_time_window_forgets_old_buckets() -> None:
    s = StabilityTracker(window=1_000, window_ns=60 * S)  # buckets of 1 s
    for i in range(30):
        s.record(False, i * S)
    for i in range(30, 90):
        s.record(True, i * S)
    # At t = 89 s the window holds buckets 30..89: all good.
    assert s.time_ratio() == 1.0
    assert s.lifetime_ratio == pytest.approx(60 / 90)
    # Much later, with nothing recorded, the time window is empty again.
    assert s.time_ratio(10_000 * S) == 1.0


def test_time_window_partial() -> None:
    s = StabilityTracker(window=1_000, window_ns=TIME_BUCKETS * S)
    s.record(False, 0)
    s.record(True, 30 * S)
    assert s.time_ratio() == 0.5
    assert s.time_ratio(60 * S) == 1.0  # the bad one's bucket just left the window


def test_invalid() -> None:
    with pytest.raises(ValueError):
        StabilityTracker(window=0)
    with pytest.raises(ValueError):
        StabilityTracker(window_ns=1)


@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 10 * S)), max_size=200),
    st.integers(1, 50),
)
def test_ratios_in_unit_interval_and_count_window_exact(
    records: list[tuple[bool, int]], window: int
) -> None:
    s = StabilityTracker(window=window, window_ns=5 * S)
    now = 0
    for good, step in records:
        now += step
        s.record(good, now)
        for ratio in (s.window_ratio, s.time_ratio(), s.lifetime_ratio):
            assert 0.0 <= ratio <= 1.0
    last = [g for g, _ in records][-window:]
    expected = sum(last) / len(last) if last else 1.0
    assert s.window_ratio == pytest.approx(expected)


def test_the_buckets_are_a_compact_array() -> None:
    s = StabilityTracker()
    assert s._buckets.itemsize <= 4 and len(s._buckets) == 2 * TIME_BUCKETS
    assert len(s._ring) == 13  # a bit per probe of the count window (100)


def test_a_bucket_past_32_bits_widens_instead_of_raising() -> None:
    s = StabilityTracker(window=10, window_ns=60 * S)
    s.record(True, 0)
    s.record(False, 0)
    # As if 2**32 - 1 probes had settled in the first second (one of them good).
    top = 2**32 - 1
    s._buckets[0] = top - 1
    s._buckets[TIME_BUCKETS] = top
    s._time_good, s._time_total = top - 1, top
    s.record(True, 10)
    assert s._buckets.typecode == "Q"
    assert (s._buckets[0], s._buckets[TIME_BUCKETS]) == (top, top + 1)
    assert s.time_ratio() == top / (top + 1)
    assert s.time_ratio(61 * S) == 1.0  # the widened bucket empties like any other
    s.record(False, 61 * S)
    assert s.time_ratio() == 0.0
    assert s.lifetime_ratio == 0.5 and s.window_ratio == 0.5


@given(st.lists(st.booleans(), max_size=300), st.integers(1, 40))
def test_count_window_bits_match_a_list(goods: list[bool], window: int) -> None:
    s = StabilityTracker(window=window, window_ns=5 * S)
    for i, good in enumerate(goods):
        s.record(good, i)
        last = goods[: i + 1][-window:]
        assert s._ring_good == sum(last)
