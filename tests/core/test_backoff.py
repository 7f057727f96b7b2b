"""Backoff: full jitter inside [0, ceiling], ceiling doubling up to the cap."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_genesys.core.backoff import Backoff


def test_ceiling_doubles_until_cap_and_reset_restarts() -> None:
    b = Backoff(100, 1_000, rng=random.Random(1))
    ceilings = []
    for _ in range(6):
        ceilings.append(b.peek_ceiling_ns())
        b.next_delay_ns()
    assert ceilings == [100, 200, 400, 800, 1_000, 1_000]
    assert b.attempt == 6
    b.reset()
    assert (b.attempt, b.peek_ceiling_ns()) == (0, 100)


def test_seeded_rng_is_reproducible_and_jittered() -> None:
    a = Backoff(1_000_000, 10**9, rng=random.Random(42))
    b = Backoff(1_000_000, 10**9, rng=random.Random(42))
    delays_a = [a.next_delay_ns() for _ in range(20)]
    assert delays_a == [b.next_delay_ns() for _ in range(20)]
    # Full jitter: at the cap, draws spread over the whole range rather than clustering.
    capped = Backoff(1_000, 1_000, rng=random.Random(3))
    draws = [capped.next_delay_ns() for _ in range(500)]
    assert min(draws) < 100 and max(draws) > 900


def test_huge_attempt_counts_stay_cheap() -> None:
    b = Backoff(1, 5, rng=random.Random(0))
    b.attempt = 10**9
    assert b.peek_ceiling_ns() == 5


@pytest.mark.parametrize(("base", "cap"), [(0, 10), (-1, 10), (10, 5)])
def test_invalid_bounds(base: int, cap: int) -> None:
    with pytest.raises(ValueError):
        Backoff(base, cap)


@given(
    base=st.integers(1, 10**10),
    extra=st.integers(0, 10**11),
    seed=st.integers(0, 2**32),
    n=st.integers(1, 80),
)
def test_delays_within_ceiling_and_ceiling_within_cap(
    base: int, extra: int, seed: int, n: int
) -> None:
    cap = base + extra
    b = Backoff(base, cap, rng=random.Random(seed))
    for _ in range(n):
        ceiling = b.peek_ceiling_ns()
        assert base <= ceiling <= cap
        assert 0 <= b.next_delay_ns() <= ceiling
