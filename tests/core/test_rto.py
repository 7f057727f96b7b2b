"""RFC 6298 arithmetic, clamping, backoff, fixed timeouts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from otel_genesys.core.rto import RtoEstimator

MS = 1_000_000


def make(**kw: int) -> RtoEstimator:
    args = {"initial_ns": 1_000 * MS, "min_ns": 1 * MS, "max_ns": 60_000 * MS}
    args.update(kw)
    return RtoEstimator(**args)


def test_initial_value_is_clamped() -> None:
    assert make().rto_ns == 1_000 * MS
    assert make(initial_ns=10 * 60_000 * MS).rto_ns == 60_000 * MS
    assert make(initial_ns=0, min_ns=200 * MS).rto_ns == 200 * MS


def test_first_and_second_sample_follow_rfc6298() -> None:
    r = make()
    r.on_sample(100 * MS)
    assert (r.srtt_ns, r.rttvar_ns, r.rto_ns) == (100 * MS, 50 * MS, 300 * MS)
    r.on_sample(180 * MS)
    # RTTVAR = 3/4*50 + 1/4*|100-180| = 57.5 ms; SRTT = 7/8*100 + 1/8*180 = 110 ms
    assert r.rttvar_ns == 57_500_000
    assert r.srtt_ns == 110 * MS
    assert r.rto_ns == 110 * MS + 4 * 57_500_000


def test_granularity_floor_when_variance_vanishes() -> None:
    r = make()
    for _ in range(200):
        r.on_sample(10 * MS)
    assert r.rttvar_ns == 0
    assert r.rto_ns == 10 * MS + 1 * MS


def test_min_clamp() -> None:
    r = make(min_ns=200 * MS)
    r.on_sample(1 * MS)
    assert r.rto_ns == 200 * MS


def test_timeout_doubles_clamped_and_a_sample_restores() -> None:
    r = make(max_ns=1_000 * MS)
    r.on_sample(100 * MS)
    assert r.rto_ns == 300 * MS
    r.on_timeout()
    assert r.rto_ns == 600 * MS
    r.on_timeout()
    assert r.rto_ns == 1_000 * MS and r.backoffs == 2
    r.on_sample(100 * MS)
    assert r.backoffs == 0
    assert r.rto_ns == r.srtt_ns + 4 * r.rttvar_ns  # type: ignore[operator]


def test_fixed_timeout_ignores_samples_and_timeouts() -> None:
    r = make(fixed_ns=750 * MS)
    r.on_sample(5_000 * MS)
    r.on_timeout()
    assert r.rto_ns == 750 * MS


@given(
    lo=st.integers(1, 10**9),
    span=st.integers(0, 10**10),
    initial=st.integers(0, 10**11),
    events=st.lists(st.one_of(st.none(), st.integers(0, 10**11)), max_size=80),
)
def test_rto_always_within_bounds(
    lo: int, span: int, initial: int, events: list[int | None]
) -> None:
    r = RtoEstimator(initial_ns=initial, min_ns=lo, max_ns=lo + span)
    assert lo <= r.rto_ns <= lo + span
    for e in events:
        if e is None:
            r.on_timeout()
        else:
            r.on_sample(e)
        assert lo <= r.rto_ns <= lo + span
