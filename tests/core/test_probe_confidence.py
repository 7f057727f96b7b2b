"""Confidence: stalls overlapping a sample's window, and the three policies."""

from __future__ import annotations

from otel_genesys.core.outcome import Confidence, Outcome, ProbeMode, ProbeOutcome
from otel_genesys.core.probe import ProbeSession
from otel_genesys.core.stall import StallLog
from tests.core.probe_helpers import MS, WALL0, session


def stalled_log() -> StallLog:
    log = StallLog()
    log.record_lag(observed_at_ns=1_005 * MS, lag_ns=5 * MS)  # loop blocked 1000..1005 ms
    log.record_gc(2_000 * MS, 2_000 * MS + 500_000)  # a 0.5 ms GC pause at 2 s
    log.record_gc(3_000 * MS, 3_002 * MS)  # a 2 ms GC pause at 3 s
    return log


def run(
    policy: str, mode: ProbeMode = ProbeMode.CONTROL
) -> tuple[list[ProbeOutcome], ProbeSession]:
    """Probes at 0 s (clean, 1 ms), 1 s (lagged, 300 ms), 2 s (small GC, 1 ms), 3 s (GC, 5 ms)."""
    s = session(mode, stalls=stalled_log(), degraded_policy=policy, max_latency_ns=100 * MS)
    out: list[ProbeOutcome] = []
    for i, rtt in enumerate((1, 300, 1, 5)):
        t = s.send(i * 1_000 * MS, WALL0)
        r = s.pong(t.payload if mode is ProbeMode.CONTROL else None, i * 1_000 * MS + rtt * MS)
        assert r.outcome is not None
        out.append(r.outcome)
    return out, s


def test_flag_policy_labels_and_still_counts() -> None:
    (clean, lagged, small_gc, gc), s = run("flag")
    assert (clean.loop_lag_ns, clean.gc_pause_ns, clean.confidence) == (0, 0, Confidence.TRUSTED)
    assert (lagged.loop_lag_ns, lagged.confidence) == (5 * MS, Confidence.DEGRADED)
    assert (small_gc.gc_pause_ns, small_gc.confidence) == (500_000, Confidence.TRUSTED)
    assert (gc.gc_pause_ns, gc.confidence) == (2 * MS, Confidence.DEGRADED)
    assert [b.threshold for b in lagged.breaches] == ["latency", "jitter"]
    assert gc.stability == 0.75
    assert s.counters.degraded == 2


def test_count_policy_measures_but_labels_trusted() -> None:
    outcomes, s = run("count")
    assert all(o.confidence is Confidence.TRUSTED for o in outcomes)
    assert outcomes[1].loop_lag_ns == 5 * MS and outcomes[1].breaches
    assert s.counters.degraded == 2


def test_exclude_policy_keeps_degraded_samples_out_of_judgement() -> None:
    (_, lagged, small_gc, gc), s = run("exclude")
    assert lagged.confidence is Confidence.DEGRADED
    assert lagged.rtt_ns == 300 * MS  # still reported, rtt included
    assert lagged.breaches == ()
    assert lagged.jitter_ns == 299 * MS  # what it would be, not recorded
    assert small_gc.jitter_ns == 0  # compared with the clean 1 ms sample, not the lagged one
    assert small_gc.breaches == ()
    assert gc.stability == 1.0 and gc.stability_lifetime == 1.0
    snap = s.snapshot()
    assert snap.p99_rtt_ns == 1 * MS
    assert s.counters.degraded == 2 and s.counters.ok == 4


def test_fifo_mode_uses_the_same_assessment() -> None:
    (_, lagged, *_), _ = run("flag", ProbeMode.NOTIFICATION)
    assert lagged.confidence is Confidence.DEGRADED


def test_timeouts_are_assessed_over_send_to_settle() -> None:
    log = StallLog()
    log.record_gc(150 * MS, 160 * MS)
    s = session(stalls=log, fixed_timeout_ns=100 * MS, degraded_policy="exclude")
    s.send(0, WALL0)
    [o] = s.expire(200 * MS)  # expired late, after a GC pause past the deadline
    assert (o.outcome, o.gc_pause_ns, o.confidence) == (
        Outcome.TIMEOUT,
        10 * MS,
        Confidence.DEGRADED,
    )
    assert o.breaches == ()
    assert s.snapshot().stability == 1.0


def test_without_a_stall_log_everything_is_trusted() -> None:
    s = session()
    t = s.send(0, WALL0)
    o = s.pong(t.payload, 10 * MS).outcome
    assert o is not None and o.confidence is Confidence.TRUSTED and s.counters.degraded == 0
