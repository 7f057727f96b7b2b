"""ProbeSession in NOTIFICATION mode: FIFO matching, ghosts, the anti-cascade
rule, Karn's rule."""

from __future__ import annotations

from otel_genesys.core.outcome import Outcome, ProbeMode
from otel_genesys.core.probe import PongKind
from tests.core.probe_helpers import MS, WALL0, balanced, session

FIFO = ProbeMode.NOTIFICATION


def test_payload_is_empty_and_pongs_settle_in_order() -> None:
    s = session(FIFO)
    a = s.send(0, WALL0)
    b = s.send(10 * MS, WALL0)
    assert a.payload == b"" and b.payload == b""
    ra = s.pong(None, 15 * MS)
    rb = s.pong(None, 16 * MS)
    assert (ra.kind, ra.sequence) == (PongKind.MATCHED, 1)
    assert ra.outcome is not None and ra.outcome.rtt_ns == 15 * MS
    assert rb.outcome is not None and rb.outcome.rtt_ns == 6 * MS
    assert s.counters.ambiguous == 0


def test_pong_with_nothing_outstanding_is_unsolicited() -> None:
    s = session(FIFO)
    assert s.pong(None, 0).kind is PongKind.UNSOLICITED
    s.send(0, WALL0)
    s.pong(None, MS)
    r = s.pong(None, 2 * MS)  # a duplicate cannot be told from a stray without ids
    assert (r.kind, r.sequence) == (PongKind.UNSOLICITED, None)
    assert s.counters.unsolicited == 2


def test_ghost_past_its_horizon_is_not_waited_for() -> None:
    s = session(FIFO, fixed_timeout_ns=200 * MS)
    s.send(0, WALL0)
    [o] = s.expire(200 * MS)
    assert o.outcome is Outcome.TIMEOUT and s.ghosts == 1 and s.outstanding == 0
    s.send(1_000 * MS, WALL0)
    # The ghost's horizon was 200 + 2 * 200 = 600 ms: by 1 s it is taken as lost.
    r = s.pong(None, 1_001 * MS)
    assert (r.kind, r.sequence) == (PongKind.MATCHED, 2)


def test_ghost_within_horizon_takes_the_late_pong() -> None:
    s = session(FIFO, fixed_timeout_ns=300 * MS)
    s.send(0, WALL0)
    s.expire(300 * MS)  # ghost until 300 + 600 = 900 ms
    s.send(500 * MS, WALL0)
    late = s.pong(None, 520 * MS)
    assert (late.kind, late.sequence, late.outcome) == (PongKind.LATE, 1, None)
    ok = s.pong(None, 530 * MS)
    assert ok.kind is PongKind.MATCHED and ok.outcome is not None
    assert (ok.sequence, ok.outcome.rtt_ns) == (2, 30 * MS)
    c = s.counters
    assert (c.late, c.ok, c.timeout, c.ambiguous) == (1, 1, 1, 1)
    assert balanced(s) and s.ghosts == 0


def test_ghost_expires_at_its_horizon() -> None:
    s = session(FIFO, fixed_timeout_ns=100 * MS)
    s.send(0, WALL0)
    s.expire(100 * MS)
    assert s.ghosts == 1
    s.expire(299 * MS)
    assert s.ghosts == 1
    s.expire(300 * MS)
    assert s.ghosts == 0
    assert s.pong(None, 301 * MS).kind is PongKind.UNSOLICITED


def test_samples_are_ambiguous_until_the_queue_drains() -> None:
    s = session(FIFO, timeout_min_ns=1 * MS, timeout_initial_ns=100 * MS)
    s.send(0, WALL0)
    s.expire(100 * MS)  # ghost, RTO doubled to 200 ms
    assert s.rto_ns == 200 * MS
    s.send(150 * MS, WALL0)
    s.send(160 * MS, WALL0)
    assert s.pong(None, 170 * MS).kind is PongKind.LATE
    r2 = s.pong(None, 175 * MS)
    r3 = s.pong(None, 180 * MS)
    assert r2.kind is PongKind.MATCHED and r3.kind is PongKind.MATCHED
    assert s.counters.ambiguous == 2
    assert s.rto_ns == 200 * MS  # Karn: ambiguous samples did not restore the RTO
    s.send(1_000 * MS, WALL0)
    clean = s.pong(None, 1_010 * MS)
    assert clean.kind is PongKind.MATCHED and s.counters.ambiguous == 2
    assert s.rto_ns == 30 * MS  # first fed sample: SRTT 10 ms + 4 * RTTVAR 5 ms


def test_a_dropped_ping_does_not_shift_every_later_match() -> None:
    # The server silently drops ping 1. Timeout 1 s, interval 1 s: each later pong
    # arrives while the previous ping's ghost is still within its horizon.
    s = session(FIFO, fixed_timeout_ns=1_000 * MS)
    kinds = []
    s.send(0, WALL0)  # dropped by the server
    for i in range(1, 8):
        now = i * 1_000 * MS
        s.expire(now)
        s.send(now, WALL0)
        kinds.append(s.pong(None, now + 5 * MS).kind)
    # Ping 1's ghost takes ping 2's pong (LATE); ping 2 then times out leaving no
    # ghost, and from ping 3 on every pong matches again: two timeouts, not seven.
    assert kinds == [PongKind.LATE] + [PongKind.MATCHED] * 6
    assert s.counters.timeout == 2 and balanced(s)


def test_newer_ping_expiring_first_keeps_fifo_order() -> None:
    s = session(FIFO, timeout_min_ns=1 * MS, timeout_initial_ns=1_000 * MS)
    s.send(-100 * MS, WALL0)
    s.send(-50 * MS, WALL0)  # ping 2: timeout 1 s, deadline 950 ms
    s.pong(None, -40 * MS)  # ping 1 answered in 60 ms: RTO falls to 180 ms
    s.send(10 * MS, WALL0)  # ping 3: deadline 190 ms, before ping 2's
    [o] = s.expire(200 * MS)
    assert o.sequence == 3 and s.ghosts == 1 and s.outstanding == 1
    r = s.pong(None, 250 * MS)
    assert (r.kind, r.sequence) == (PongKind.MATCHED, 2)
    r = s.pong(None, 260 * MS)
    assert (r.kind, r.sequence) == (PongKind.LATE, 3)


def test_abort_clears_ghosts() -> None:
    s = session(FIFO, fixed_timeout_ns=100 * MS)
    s.send(0, WALL0)
    s.expire(100 * MS)
    s.send(150 * MS, WALL0)
    [o] = s.abort(160 * MS)
    assert (o.sequence, o.outcome) == (2, Outcome.ABORTED)
    assert (s.ghosts, s.outstanding) == (0, 0)
    assert s.pong(None, 170 * MS).kind is PongKind.UNSOLICITED


def test_eviction_in_fifo_mode() -> None:
    s = session(FIFO, max_outstanding=2, fixed_timeout_ns=10_000 * MS)
    for i in range(5):
        s.send(i * MS, WALL0)
    assert s.outstanding == 2 and balanced(s)
    out = s.expire(5 * MS)
    assert [o.sequence for o in out] == [1, 2, 3]
    assert s.ghosts <= 2


def test_drop_ghosts_on_link_switch() -> None:
    s = session(FIFO, fixed_timeout_ns=100 * MS)
    s.send(0, WALL0)
    s.expire(100 * MS)
    assert s.drop_ghosts() == 1 and s.ghosts == 0
    assert s.drop_ghosts() == 0
    s.send(150 * MS, WALL0)
    r = s.pong(None, 151 * MS)
    assert (r.kind, r.sequence) == (PongKind.MATCHED, 2)
    assert s.counters.ambiguous == 0  # the queue was empty again after the drop
