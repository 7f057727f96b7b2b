"""The RTT percentiles and the windowed PDV share one ring of samples.

Each must still read exactly what a ring of its own would hold: the last
``min(stability_window, RTT_PERCENTILE_CAP)`` and the last ``pdv_window`` OK
samples that were not excluded, whichever of the two windows is the larger.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from otel_genesys.core.outcome import Confidence, Outcome, ProbeMode, ProbeOutcome
from otel_genesys.core.probe import RTT_PERCENTILE_CAP
from otel_genesys.core.stall import StallLog
from otel_genesys.core.window import nearest_rank
from tests.core.probe_helpers import MS, WALL0, session

STEPS = st.lists(st.tuples(st.one_of(st.none(), st.integers(1, 900)), st.booleans()), max_size=120)
"""Per 1 s cycle: the RTT in ms (``None``: no pong) and whether a stall overlaps it."""


@settings(max_examples=150, deadline=None)
@given(
    STEPS,
    st.integers(1, 90),
    st.integers(1, 90),
    st.sampled_from(("count", "flag", "exclude")),
    st.sampled_from(list(ProbeMode)),
)
def test_percentiles_and_pdv_read_their_own_windows(
    steps: list[tuple[int | None, bool]],
    stability_window: int,
    pdv_window: int,
    policy: str,
    mode: ProbeMode,
) -> None:
    log = StallLog()
    s = session(
        mode,
        stalls=log,
        degraded_policy=policy,
        stability_window=stability_window,
        pdv_window=pdv_window,
        pdv_quantile=0.9,
    )
    admitted: list[int] = []  # every sample the windows take, oldest first
    pdv: int | None = None

    def take(o: ProbeOutcome) -> None:
        nonlocal pdv
        assert o.outcome is Outcome.OK and o.rtt_ns is not None
        if not (policy == "exclude" and o.confidence is Confidence.DEGRADED):
            admitted.append(o.rtt_ns)
            window = sorted(admitted[-pdv_window:])
            if len(window) >= 2:
                pdv = nearest_rank(window, 0.9) - window[0]
        assert o.pdv_ns == pdv

    for i, (rtt_ms, stalled) in enumerate(steps):
        now = i * 1_000 * MS
        s.expire(now)
        ticket = s.send(now, WALL0)
        if stalled:
            log.record_lag(observed_at_ns=now + MS // 2, lag_ns=2 * MS)
        if rtt_ms is not None:
            payload = ticket.payload if mode is ProbeMode.CONTROL else None
            result = s.pong(payload, now + rtt_ms * MS)
            if result.outcome is not None:
                take(result.outcome)
        snap = s.snapshot()
        recent = sorted(admitted[-min(stability_window, RTT_PERCENTILE_CAP) :])
        assert snap.p50_rtt_ns == (nearest_rank(recent, 0.5) if recent else None)
        assert snap.p99_rtt_ns == (nearest_rank(recent, 0.99) if recent else None)
        assert snap.pdv_ns == pdv


def test_one_ring_serves_both_windows() -> None:
    s = session(stability_window=100, pdv_window=64)
    assert s._jitter._ring is s._rtts
    assert s._rtts.capacity == 100
    wide_pdv = session(stability_window=10, pdv_window=64)
    assert wide_pdv._rtts.capacity == 64


def test_a_percentile_window_shorter_than_the_pdv_window() -> None:
    s = session(stability_window=2, pdv_window=4, pdv_quantile=1.0)
    for i, rtt_ms in enumerate((50, 10, 20, 30)):
        t = s.send(i * 1_000 * MS, WALL0)
        s.pong(t.payload, i * 1_000 * MS + rtt_ms * MS)
    snap = s.snapshot()
    assert (snap.p50_rtt_ns, snap.p99_rtt_ns) == (20 * MS, 30 * MS)  # the last two only
    assert snap.pdv_ns == 40 * MS  # all four: 50 - 10
