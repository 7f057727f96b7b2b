"""The three jitter estimators."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_genesys.core.jitter import JitterTracker
from otel_genesys.core.window import IntRing


def test_nothing_before_two_samples() -> None:
    j = JitterTracker()
    j.update(5_000)
    assert (j.consecutive_ns, j.rfc3550_ns, j.pdv_ns) == (None, None, None)
    assert j.peek_consecutive(7_000) == 2_000


def test_consecutive_and_rfc3550() -> None:
    j = JitterTracker()
    for rtt in (100, 300, 200):
        j.update(rtt)
    assert j.consecutive_ns == 100
    # J1 = 200/16 = 12.5 ; J2 = 12.5 + (100 - 12.5)/16 = 17.96875
    assert j.rfc3550_ns == 18


def test_rfc3550_converges_to_constant_deviation() -> None:
    j = JitterTracker()
    for i in range(400):
        j.update(1_000 if i % 2 else 1_600)
    assert j.rfc3550_ns == pytest.approx(600, abs=1)


def test_pdv_is_windowed_quantile_minus_min() -> None:
    j = JitterTracker(window=4, quantile=0.5)
    for rtt in (10, 50, 20, 30):
        j.update(rtt)
    assert j.pdv_ns == 20 - 10  # sorted [10, 20, 30, 50], median by nearest rank = 20
    for rtt in (40, 40, 40, 40):
        j.update(rtt)
    assert j.pdv_ns == 0  # the old samples left the window


def test_spike_leaves_the_window() -> None:
    j = JitterTracker(window=8, quantile=0.99)
    j.update(10_000_000)
    for _ in range(8):
        j.update(1_000)
    assert j.pdv_ns == 0


def test_reset() -> None:
    j = JitterTracker()
    j.update(1)
    j.update(5)
    j.reset()
    assert (j.last_rtt_ns, j.consecutive_ns, j.rfc3550_ns, j.pdv_ns) == (None, None, None, None)
    with pytest.raises(ValueError):
        JitterTracker(quantile=0.0)


@given(st.lists(st.integers(0, 10**11), min_size=1, max_size=200))
def test_jitter_is_never_negative(rtts: list[int]) -> None:
    j = JitterTracker(window=16)
    for rtt in rtts:
        j.update(rtt)
        for value in (j.consecutive_ns, j.rfc3550_ns, j.pdv_ns):
            assert value is None or value >= 0
    if len(rtts) >= 2:
        assert j.pdv_ns is not None and j.pdv_ns <= max(rtts[-16:]) - min(rtts[-16:])


@given(st.lists(st.integers(0, 10**9), max_size=120), st.integers(1, 20), st.integers(0, 30))
def test_a_shared_longer_ring_gives_the_same_jitter(
    rtts: list[int], window: int, extra: int
) -> None:
    ring = IntRing(window + extra)
    own, shared = JitterTracker(window, 0.9), JitterTracker(window, 0.9, ring=ring)
    for rtt in rtts:
        own.update(rtt)
        shared.update(rtt)
        assert (shared.consecutive_ns, shared.rfc3550_ns, shared.pdv_ns) == (
            own.consecutive_ns,
            own.rfc3550_ns,
            own.pdv_ns,
        )
    assert sorted(ring.values()) == sorted(rtts[-(window + extra) :] if rtts else [])


def test_a_shared_ring_must_hold_the_window() -> None:
    with pytest.raises(ValueError):
        JitterTracker(window=8, ring=IntRing(4))
    with pytest.raises(ValueError):
        JitterTracker(window=0)
