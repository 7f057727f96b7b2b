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


def stamped_run(mode: ProbeMode, *, stamped: bool, written_after_ms: float | None) -> ProbeOutcome:
    """One probe at 1 s with a 300 ms RTT over the loop blocked 1000..1005 ms; its write
    returned ``written_after_ms`` after the ping's timestamp (``None``: never told)."""
    s = session(mode, stalls=stalled_log(), degraded_policy="flag", max_latency_ns=1_000 * MS)
    sent = 1_000 * MS - 2 * MS  # the ping's timestamp: 2 ms before the loop blocks
    t = s.send(sent, WALL0)
    if written_after_ms is not None:
        s.wrote(t, sent + int(written_after_ms * MS))
    r = s.pong(t.payload if mode is ProbeMode.CONTROL else None, sent + 300 * MS, stamped)
    assert r.outcome is not None
    return r.outcome


def test_a_kernel_stamped_pong_is_not_degraded_by_a_stall_after_its_ping_was_written() -> None:
    """The kernel stamped the pong before the agent saw it: the loop blocked while the
    ping was in flight did not move the RTT, so the window ends at the ping's write."""
    for mode in (ProbeMode.CONTROL, ProbeMode.NOTIFICATION):
        clean = stamped_run(mode, stamped=True, written_after_ms=0.1)
        assert (clean.loop_lag_ns, clean.confidence) == (0, Confidence.TRUSTED), mode
        assert clean.rtt_ns == 300 * MS
        # the same pong read by the agent itself: the stall may have delayed it
        read = stamped_run(mode, stamped=False, written_after_ms=0.1)
        assert (read.loop_lag_ns, read.confidence) == (5 * MS, Confidence.DEGRADED), mode


def test_a_stall_before_the_write_still_degrades_a_kernel_stamped_pong() -> None:
    """A stall between the ping's timestamp and its write is in the RTT whoever stamps
    the pong; and a ping whose write was never reported keeps the whole window."""
    for mode in (ProbeMode.CONTROL, ProbeMode.NOTIFICATION):
        slow_write = stamped_run(mode, stamped=True, written_after_ms=6.0)  # at 1004 ms
        # the stall clipped to the window that ends at the write: 1000..1004 ms
        assert (slow_write.loop_lag_ns, slow_write.confidence) == (4 * MS, Confidence.DEGRADED)
        untold = stamped_run(mode, stamped=True, written_after_ms=None)
        assert untold.confidence is Confidence.DEGRADED, mode
