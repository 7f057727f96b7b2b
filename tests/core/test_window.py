"""IntRing keeps the last N values; nearest_rank returns real samples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_genesys.core.window import IntRing, nearest_rank


def test_ring_evicts_oldest_and_reports_it() -> None:
    r = IntRing(2)
    assert r.push(1) is None
    assert r.push(2) is None
    assert r.push(3) == 1
    assert sorted(r.values()) == [2, 3]
    r.clear()
    assert len(r) == 0 and r.values() == []


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=50), st.integers(1, 10))
def test_ring_holds_last_capacity_values(values: list[int], cap: int) -> None:
    r = IntRing(cap)
    for v in values:
        r.push(v)
    assert sorted(r.values()) == sorted(values[-cap:] if values else [])


@given(st.lists(st.integers(), min_size=1, max_size=100), st.floats(0.001, 1.0))
def test_nearest_rank_is_a_sample_with_enough_below(values: list[int], q: float) -> None:
    ordered = sorted(values)
    v = nearest_rank(ordered, q)
    assert v in values
    assert sum(1 for x in values if x <= v) >= q * len(values) - 1e-9


def test_nearest_rank_examples() -> None:
    assert nearest_rank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9
    assert nearest_rank([5], 0.5) == 5
    with pytest.raises(ValueError):
        nearest_rank([], 0.5)
    with pytest.raises(ValueError):
        IntRing(0)


@given(
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=50),
    st.integers(1, 10),
    st.integers(0, 12),
)
def test_tail_is_the_last_n_values_pushed(values: list[int], cap: int, n: int) -> None:
    r = IntRing(cap)
    for v in values:
        r.push(v)
    kept = values[-cap:] if values else []
    assert sorted(r.tail(n)) == sorted(kept[-n:] if n else [])
