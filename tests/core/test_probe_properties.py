"""Properties of ProbeSession under arbitrary interleavings of sends, pongs
(matching, duplicate, stray), clock ticks, stalls, expiries and aborts."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from otel_genesys.core.outcome import Outcome, ProbeMode, ProbeOutcome
from otel_genesys.core.probe import RECENT_PINGS, PingTicket, PongKind, ProbeSession
from otel_genesys.core.stall import StallLog
from tests.core.probe_helpers import MS, WALL0, balanced, session

# Weighted so that runs with timeouts, ghosts, late pongs and stalls are common and
# aborts (which wipe a FIFO session's ghosts) are rare. ``arg`` scales per kind.
_KINDS = (
    ("send",) * 5
    + ("tick",) * 5
    + ("pong",) * 5
    + ("expire",) * 3
    + (
        "stray",
        "stall",
        "abort",
    )
)
OPS = st.lists(st.tuples(st.sampled_from(_KINDS), st.integers(0, 10_000)), max_size=150)
POLICIES = st.sampled_from(("count", "flag", "exclude"))
BOUNDS = (1 * MS, 50 * MS)


@dataclass
class Run:
    s: ProbeSession
    log: StallLog
    now: int = 0
    tickets: list[PingTicket] = field(default_factory=list)
    settled: dict[int, Outcome] = field(default_factory=dict)
    answered: set[int] = field(default_factory=set)
    pongs: int = 0

    def take(self, outcomes: list[ProbeOutcome]) -> None:
        for o in outcomes:
            assert o.sequence not in self.settled, f"ping {o.sequence} settled twice"
            self.settled[o.sequence] = o.outcome
            self.check_outcome(o)

    def check_outcome(self, o: ProbeOutcome) -> None:
        assert 0.0 <= o.stability <= 1.0 and 0.0 <= o.stability_lifetime <= 1.0
        for j in (o.jitter_ns, o.jitter_rfc3550_ns, o.pdv_ns):
            assert j is None or j >= 0
        assert BOUNDS[0] <= o.timeout_ns <= BOUNDS[1]
        assert (o.rtt_ns is not None) == (o.outcome is Outcome.OK)
        assert o.error_type == {Outcome.OK: None, Outcome.TIMEOUT: "timeout"}.get(
            o.outcome, "aborted"
        )
        assert o.loop_lag_ns >= 0 and o.gc_pause_ns >= 0

    def check(self) -> None:
        s = self.s
        assert balanced(s)
        assert s.outstanding <= s.settings.max_outstanding
        assert s.ghosts <= s.settings.max_outstanding
        assert BOUNDS[0] <= s.rto_ns <= BOUNDS[1]
        assert len(self.settled) + s.held + s.outstanding == len(self.tickets)
        snap = s.snapshot()
        for ratio in (snap.stability, snap.stability_lifetime, snap.stability_time):
            assert 0.0 <= ratio <= 1.0


def play(mode: ProbeMode, ops: list[tuple[str, int]], policy: str, cap: int) -> Run:
    log = StallLog(capacity=16)
    run = Run(
        session(
            mode,
            stalls=log,
            degraded_policy=policy,
            max_outstanding=cap,
            timeout_min_ns=BOUNDS[0],
            timeout_max_ns=BOUNDS[1],
            timeout_initial_ns=5 * MS,
            max_latency_ns=3 * MS,
            max_jitter_ns=1 * MS,
        ),
        log,
    )
    s = run.s
    control = mode is ProbeMode.CONTROL
    for op, arg in ops:
        if op == "send":
            run.tickets.append(s.send(run.now, WALL0 + run.now))
        elif op == "tick":
            run.now += arg * 2_000  # up to 20 ms
        elif op == "stall":
            lag = 1 + arg * 500  # up to 5 ms
            run.now += lag
            log.record_lag(run.now, lag)
        elif op == "expire":
            run.take(s.expire(run.now))
        elif op == "abort":
            run.take(s.abort(run.now))
        elif op == "stray":
            run.pongs += 1
            r = s.pong(b"\xff" * 3 if control else None, run.now)
            if control:
                assert r.kind is PongKind.UNSOLICITED
            if r.outcome is not None:
                run.take([r.outcome])
        elif op == "pong" and run.tickets:
            ticket = run.tickets[arg % len(run.tickets)]
            run.pongs += 1
            r = s.pong(ticket.payload if control else None, run.now)
            if r.kind is PongKind.MATCHED:
                assert r.outcome is not None and r.outcome.sequence == r.sequence
                run.take([r.outcome])
            else:
                assert r.outcome is None
            if control:
                check_control_pong(run, ticket, r.kind)
        run.check()
    run.take(s.abort(run.now))
    run.check()
    assert sorted(run.settled) == [t.sequence for t in run.tickets]
    return run


def check_control_pong(run: Run, ticket: PingTicket, kind: PongKind) -> None:
    """With unique payloads, the classification follows from the ping's history."""
    seq = ticket.sequence
    if kind is PongKind.MATCHED:
        assert run.settled[seq] is Outcome.OK and seq not in run.answered
    elif kind is PongKind.LATE:
        # Timed out or aborted; or evicted (max_outstanding) with its outcome still held.
        assert run.settled.get(seq) in (Outcome.TIMEOUT, Outcome.ABORTED, None)
        assert seq in run.settled or run.s.held > 0
        assert seq not in run.answered
    else:
        assert kind is PongKind.DUPLICATE and seq in run.answered
    run.answered.add(seq)


@settings(max_examples=150, deadline=None)
@given(ops=OPS, policy=POLICIES, cap=st.integers(1, 4))
def test_control_every_ping_settles_exactly_once(
    ops: list[tuple[str, int]], policy: str, cap: int
) -> None:
    run = play(ProbeMode.CONTROL, ops, policy, cap)
    c = run.s.counters
    assert c.ambiguous == 0  # unique payloads: never ambiguous
    assert c.ok + c.late + c.duplicate + c.unsolicited == run.pongs


@settings(max_examples=150, deadline=None)
@given(ops=OPS, policy=POLICIES, cap=st.integers(1, 4))
def test_notification_every_ping_settles_exactly_once(
    ops: list[tuple[str, int]], policy: str, cap: int
) -> None:
    run = play(ProbeMode.NOTIFICATION, ops, policy, cap)
    c = run.s.counters
    assert c.duplicate == 0  # without ids a duplicate cannot be recognised
    assert c.ok + c.late + c.unsolicited == run.pongs


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(("send", "pong")), max_size=80))
def test_notification_without_timeouts_matches_strictly_in_order(ops: list[str]) -> None:
    s = session(ProbeMode.NOTIFICATION, fixed_timeout_ns=10**15, max_outstanding=RECENT_PINGS // 2)
    now = 0
    expected_next = 1
    sent = 0
    for op in ops:
        now += MS
        if op == "send":
            s.send(now, WALL0)
            sent += 1
        else:
            r = s.pong(None, now)
            if expected_next <= sent:
                assert (r.kind, r.sequence) == (PongKind.MATCHED, expected_next)
                expected_next += 1
            else:
                assert r.kind is PongKind.UNSOLICITED
    assert s.counters.ambiguous == 0 and s.outstanding == sent - (expected_next - 1)
