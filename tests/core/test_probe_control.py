"""ProbeSession in CONTROL mode: payload matching, late/duplicate/unsolicited,
timeouts, aborts, eviction, and every ProbeOutcome field."""

from __future__ import annotations

import pytest

from otel_genesys.core.outcome import Breach, Confidence, Outcome, ProbeMode
from otel_genesys.core.probe import (
    CONTROL_PAYLOAD_LIMIT,
    RECENT_PINGS,
    PongKind,
    ProbeSession,
    ProbeSettings,
)
from tests.core.probe_helpers import MS, TARGET, WALL0, balanced, session


def test_payloads_are_unique_small_and_carry_the_nonce() -> None:
    s = session(nonce=b"abc")
    tickets = [s.send(i * MS, WALL0) for i in range(100)]
    payloads = {t.payload for t in tickets}
    assert len(payloads) == 100
    assert all(len(p) <= CONTROL_PAYLOAD_LIMIT and p.endswith(b"abc") for p in payloads)
    assert [t.sequence for t in tickets] == list(range(1, 101))


def test_random_nonce_differs_between_sessions() -> None:
    a = ProbeSession(TARGET, ProbeMode.CONTROL, ProbeSettings())
    b = ProbeSession(TARGET, ProbeMode.CONTROL, ProbeSettings())
    assert a.send(0, 0).payload != b.send(0, 0).payload
    with pytest.raises(ValueError, match="nonce too long"):
        ProbeSession(TARGET, ProbeMode.CONTROL, ProbeSettings(), nonce=b"x" * 200)


def test_matched_pong_fills_every_field() -> None:
    s = session()
    t = s.send(10 * MS, WALL0 + 5, lateness_ns=3 * MS)
    assert (t.timeout_ns, t.deadline_ns) == (1_000 * MS, 1_010 * MS)
    r = s.pong(t.payload, 12 * MS)
    assert r.kind is PongKind.MATCHED and r.sequence == t.sequence
    o = r.outcome
    assert o is not None
    assert o.target is TARGET and o.mode is ProbeMode.CONTROL
    assert (o.sequence, o.outcome, o.ok) == (1, Outcome.OK, True)
    assert (o.sent_ns, o.sent_wall_ns, o.rtt_ns, o.timeout_ns) == (
        10 * MS,
        WALL0 + 5,
        2 * MS,
        1_000 * MS,
    )
    assert (o.jitter_ns, o.jitter_rfc3550_ns, o.pdv_ns) == (None, None, None)
    assert (o.stability, o.stability_lifetime, o.breaches) == (1.0, 1.0, ())
    assert (o.lateness_ns, o.error_type, o.loop_lag_ns, o.gc_pause_ns) == (3 * MS, None, 0, 0)
    assert o.confidence is Confidence.TRUSTED
    assert s.outstanding == 0 and balanced(s)


def test_out_of_order_pongs_match_their_own_pings() -> None:
    s = session()
    a = s.send(0, WALL0)
    b = s.send(100 * MS, WALL0)
    rb = s.pong(b.payload, 105 * MS)
    ra = s.pong(a.payload, 110 * MS)
    assert rb.outcome is not None and rb.outcome.rtt_ns == 5 * MS
    assert ra.outcome is not None and ra.outcome.rtt_ns == 110 * MS


def test_jitter_and_breaches_over_samples() -> None:
    s = session(max_latency_ns=50 * MS, max_jitter_ns=20 * MS)
    outcomes = []
    for i, rtt in enumerate((10, 40, 90, 95)):
        t = s.send(i * 1_000 * MS, WALL0)
        r = s.pong(t.payload, i * 1_000 * MS + rtt * MS)
        assert r.outcome is not None
        outcomes.append(r.outcome)
    assert [o.jitter_ns for o in outcomes] == [None, 30 * MS, 50 * MS, 5 * MS]
    assert outcomes[1].breaches == (Breach("jitter", 30 * MS, 20 * MS, 1),)
    assert outcomes[2].breaches == (
        Breach("latency", 90 * MS, 50 * MS, 1),
        Breach("jitter", 50 * MS, 20 * MS, 2),
    )
    assert outcomes[3].breaches == (Breach("latency", 95 * MS, 50 * MS, 2),)
    assert outcomes[3].stability == 0.5
    assert outcomes[3].pdv_ns == 95 * MS - 10 * MS


def test_timeout_then_late_then_duplicate() -> None:
    s = session(fixed_timeout_ns=500 * MS)
    t = s.send(0, WALL0, lateness_ns=7)
    assert s.next_deadline_ns() == 500 * MS
    assert s.expire(499 * MS) == []
    [o] = s.expire(600 * MS)
    assert (o.outcome, o.error_type, o.rtt_ns, o.jitter_ns) == (
        Outcome.TIMEOUT,
        "timeout",
        None,
        None,
    )
    assert o.breaches == (Breach("timeout", 600 * MS, 500 * MS, 1),)
    assert (o.timeout_ns, o.lateness_ns, o.stability) == (500 * MS, 7, 0.0)
    assert s.next_deadline_ns() is None
    late = s.pong(t.payload, 700 * MS)
    assert (late.kind, late.outcome, late.sequence) == (PongKind.LATE, None, 1)
    dup = s.pong(t.payload, 701 * MS)
    assert (dup.kind, dup.sequence) == (PongKind.DUPLICATE, 1)
    c = s.counters
    assert (c.sent, c.ok, c.timeout, c.late, c.duplicate) == (1, 0, 1, 1, 1)
    assert balanced(s)


def test_duplicate_of_answered_and_unsolicited() -> None:
    s = session()
    t = s.send(0, WALL0)
    s.pong(t.payload, MS)
    assert s.pong(t.payload, 2 * MS).kind is PongKind.DUPLICATE
    assert s.pong(b"who knows", 3 * MS).kind is PongKind.UNSOLICITED
    assert s.pong(None, 3 * MS).kind is PongKind.UNSOLICITED
    c = s.counters
    assert (c.ok, c.duplicate, c.unsolicited) == (1, 1, 2)


def test_recent_memory_is_bounded() -> None:
    s = session(max_outstanding=4)
    first = s.send(0, WALL0)
    s.expire(2_000 * MS)
    for i in range(1, RECENT_PINGS):
        t = s.send(i * MS, WALL0)
        s.pong(t.payload, i * MS + 1)
    # The last RECENT_PINGS pings are remembered: the first one still is.
    assert s.pong(first.payload, 10**12).kind is PongKind.LATE
    s.pong(s.send(10**12, WALL0).payload, 10**12 + 1)
    # One more ping and the first is forgotten: an unknown payload now.
    assert s.pong(first.payload, 10**12).kind is PongKind.UNSOLICITED
    assert len(s._unanswered_bits) == RECENT_PINGS // 8  # one bit per remembered ping


def test_foreign_or_future_payloads_are_unsolicited() -> None:
    s = session(nonce=b"mine")
    t = s.send(0, WALL0)
    future = (t.sequence + 1).to_bytes(8, "big") + b"mine"
    foreign = t.payload[:8] + b"your"
    for payload in (future, foreign, t.payload + b"x", b"", (0).to_bytes(8, "big") + b"mine"):
        assert s.pong(payload, MS).kind is PongKind.UNSOLICITED
    assert s.outstanding == 1


def test_abort_settles_all_outstanding_and_later_pongs_are_late() -> None:
    s = session()
    tickets = [s.send(i * MS, WALL0) for i in range(3)]
    s.pong(tickets[1].payload, 5 * MS)
    aborted = s.abort(10 * MS)
    assert [(o.sequence, o.outcome, o.error_type) for o in aborted] == [
        (1, Outcome.ABORTED, "aborted"),
        (3, Outcome.ABORTED, "aborted"),
    ]
    assert all(o.breaches == () and o.rtt_ns is None for o in aborted)
    assert s.outstanding == 0 and s.abort(11 * MS) == [] and balanced(s)
    assert s.pong(tickets[0].payload, 12 * MS).kind is PongKind.LATE
    # Aborted probes do not count toward stability.
    assert s.snapshot().stability_lifetime == 1.0


def test_max_outstanding_times_out_the_oldest_early() -> None:
    s = session(max_outstanding=2)
    a = s.send(0, WALL0)
    s.send(1 * MS, WALL0)
    assert s.next_deadline_ns() == 1_000 * MS
    s.send(2 * MS, WALL0)  # third in flight: the oldest gives way
    assert s.outstanding == 2 and balanced(s)
    assert s.counters.timeout == 1
    assert s.next_deadline_ns() == 2 * MS  # held outcome: expire() has work now
    [o] = s.expire(3 * MS)
    assert (o.sequence, o.outcome, o.error_type) == (1, Outcome.TIMEOUT, "timeout")
    assert o.breaches[0].value_ns == 2 * MS
    assert s.pong(a.payload, 4 * MS).kind is PongKind.LATE
    assert s.next_deadline_ns() == 1_001 * MS


def test_held_eviction_outcome_is_returned_by_abort_too() -> None:
    s = session(max_outstanding=1)
    s.send(0, WALL0)
    s.send(1, WALL0)
    out = s.abort(2)
    assert [(o.sequence, o.outcome) for o in out] == [(1, Outcome.TIMEOUT), (2, Outcome.ABORTED)]
    assert s.expire(10**12) == []


def test_adaptive_timeout_learns_backs_off_and_restores() -> None:
    s = session(timeout_min_ns=1 * MS, timeout_max_ns=60_000 * MS)
    first = s.send(0, WALL0)
    assert first.timeout_ns == 1_000 * MS
    s.pong(first.payload, 100 * MS)
    assert s.rto_ns == 300 * MS  # SRTT 100 ms + 4 * 50 ms
    t = s.send(1_000 * MS, WALL0)
    assert t.timeout_ns == 300 * MS
    s.expire(1_300 * MS)
    assert s.rto_ns == 600 * MS
    t = s.send(2_000 * MS, WALL0)
    assert t.timeout_ns == 600 * MS
    s.pong(t.payload, 2_100 * MS)
    assert s.rto_ns == 100 * MS + 4 * 37_500_000  # RTTVAR = 3/4 * 50 ms, SRTT unchanged


def test_invalid_settings_are_reported_together() -> None:
    with pytest.raises(ValueError) as info:
        ProbeSettings(
            max_latency_ns=0, degraded_policy="ignore", pdv_quantile=2.0, max_outstanding=10**6
        )
    text = str(info.value)
    for name in ("max_latency_ns", "degraded_policy", "pdv_quantile", "max_outstanding"):
        assert name in text


def test_snapshot() -> None:
    s = session()
    snap = s.snapshot()
    assert (snap.p50_rtt_ns, snap.p99_rtt_ns, snap.last_rtt_ns, snap.stability) == (
        None,
        None,
        None,
        1.0,
    )
    for i in range(1, 101):
        t = s.send(i * 1_000 * MS, WALL0)
        s.pong(t.payload, i * 1_000 * MS + i * MS)
    snap = s.snapshot()
    assert (snap.p50_rtt_ns, snap.p99_rtt_ns, snap.last_rtt_ns) == (50 * MS, 99 * MS, 100 * MS)
    assert snap.counters.ok == 100 and snap.outstanding == 0
    assert snap.jitter_ns == MS and snap.rto_ns == s.rto_ns
    assert snap.srtt_ns is not None and snap.stability_time == 1.0
