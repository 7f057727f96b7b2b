"""One probe session: pings out, pongs in, one `ProbeOutcome` per ping.

A `ProbeSession` is the measurement core's face to the agent: one per
(connection, probe mode). It is a plain object fed with timestamps; it does
no I/O, never sleeps and never logs.

Life of a ping::

    send() ──▶ outstanding ──pong()──▶ OK outcome
                    │
                    ├──expire() past deadline──▶ TIMEOUT outcome
                    └──abort() on disconnect───▶ ABORTED outcome

Every ping sent ends in exactly one outcome, so at all times
``sent == ok + timeout + aborted + outstanding``. Late, duplicate and
unsolicited pongs are classified (`PongKind`) and counted, never turned into
samples.

**Matching, CONTROL mode.** Each RFC 6455 ping carries a unique payload
(8-byte big-endian sequence + a per-session nonce, 16 bytes by default, well
under the 125-byte control-frame limit). A pong is looked up by payload:
pending → MATCHED; a recently timed-out or aborted payload → LATE (once;
further copies are DUPLICATE); a recently answered one → DUPLICATE; anything
else (a foreign nonce, a sequence never sent or older than the last
`RECENT_PINGS` pings) → UNSOLICITED. The memory is one bit per recent
sequence number, 128 bytes per session: a recent ping that is no longer
pending either still waits for its late pong (bit set) or has had its answer
(bit clear); a pending one is found by its payload before the bit is read.

**Matching, NOTIFICATION mode.** The Genesys JSON ping carries no id and the
server answers in order, so a pong settles the oldest unanswered ping. Pings
that time out stay in the queue as *ghosts* until ``deadline + 2 * timeout``
(their horizon): a pong that finds a ghost at the head of the queue is that
ghost's late answer (LATE), not a fast answer to a newer ping. Ghosts past
their horizon are taken as lost and dropped. If the server dropped a ping
outright, its ghost would swallow the next ping's pong and shift every later
match by one; to stop that chain, a ping that times out after a ghost has
consumed a pong (with no clean match since) leaves no ghost. With nothing
outstanding and no ghost, a pong is UNSOLICITED (a duplicate cannot be told
from a stray without ids).

**Karn's rule.** In NOTIFICATION mode, every sample settled between a
timeout and the moment the queue is empty again could belong to another ping;
such samples are *ambiguous*: reported normally but not fed to the adaptive
timeout. CONTROL samples are never ambiguous.

**Timeouts.** A ping is timed out by `ProbeSession.expire`, not by the clock:
a pong that arrives before the caller ran ``expire`` settles its ping OK even
past the deadline (its RTT then exceeds its timeout). When more than
``max_outstanding`` pings would be outstanding, the oldest is timed out at
once (its outcome is held and returned by the next ``expire`` or ``abort``,
and `next_deadline_ns` reports a time in the past until then).

**Confidence.** With a `StallLog`, each settled ping asks for the loop lag and
GC pause overlapping ``[sent, settled]`` (``[sent, written]`` for a pong the
kernel stamped: see `ProbeSession.wrote`); above ``lag_limit_ns`` the sample is
degraded. ``degraded_policy``: ``count`` (judge it normally, label TRUSTED),
``flag`` (judge it normally, label DEGRADED), ``exclude`` (label DEGRADED, keep
it out of stability, breach streaks, the jitter estimators, the RTT
percentiles and RTO samples; its outcome carries no breaches). A timeout backs
the RTO off whatever its confidence: that is the safe direction.
"""

from __future__ import annotations

import enum
import os
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

from otel_genesys.core.jitter import JitterTracker
from otel_genesys.core.outcome import (
    Breach,
    Confidence,
    Outcome,
    ProbeMode,
    ProbeOutcome,
    TargetInfo,
)
from otel_genesys.core.rto import RtoEstimator
from otel_genesys.core.stability import StabilityTracker
from otel_genesys.core.stall import StallLog
from otel_genesys.core.thresholds import NO_BREACHES, ThresholdMatrix
from otel_genesys.core.window import IntRing, bits, get_bit, nearest_rank, set_bit

DEGRADED_POLICIES = ("count", "flag", "exclude")
JITTER_METRICS = ("consecutive", "rfc3550", "pdv")
CONTROL_PAYLOAD_LIMIT = 125
"""RFC 6455 §5.5: control frame payloads are at most 125 bytes."""
_SEQ_BYTES = 8
RECENT_PINGS = 1024
"""CONTROL mode remembers how the last this-many pings ended (one bit each)."""
RTT_PERCENTILE_CAP = 4096
"""The RTT percentile window is ``min(stability_window, RTT_PERCENTILE_CAP)`` samples."""
GHOST_HORIZON_TIMEOUTS = 2
"""A ghost is kept until ``deadline + GHOST_HORIZON_TIMEOUTS * timeout``."""


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """What a session needs to judge probes; durations in nanoseconds."""

    max_latency_ns: int = 300_000_000
    max_jitter_ns: int = 50_000_000
    fixed_timeout_ns: int | None = None
    """A constant timeout; ``None`` means adaptive (RFC 6298)."""
    timeout_min_ns: int = 200_000_000
    timeout_max_ns: int = 10_000_000_000
    timeout_initial_ns: int = 1_000_000_000
    stability_window: int = 100
    """Count window for stability and the RTT percentiles, in probes."""
    stability_window_ns: int = 300_000_000_000
    pdv_window: int = 64
    pdv_quantile: float = 0.99
    max_outstanding: int = 32
    """More pings than this in flight: the oldest is timed out early."""
    lag_limit_ns: int = 1_000_000
    """Loop lag or GC pause above this inside a sample's window degrades it."""
    degraded_policy: str = "flag"
    """``count`` | ``flag`` | ``exclude``; see the module docstring."""
    jitter_metric: str = "consecutive"
    """Which jitter the jitter threshold judges: ``consecutive`` | ``rfc3550`` | ``pdv``."""

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.max_latency_ns <= 0:
            problems.append("max_latency_ns must be positive")
        if self.max_jitter_ns <= 0:
            problems.append("max_jitter_ns must be positive")
        if self.fixed_timeout_ns is not None and self.fixed_timeout_ns <= 0:
            problems.append("fixed_timeout_ns must be positive when set")
        if not 0 < self.timeout_min_ns <= self.timeout_max_ns:
            problems.append("timeouts must satisfy 0 < timeout_min_ns <= timeout_max_ns")
        if self.stability_window <= 0 or self.pdv_window <= 0:
            problems.append("stability_window and pdv_window must be positive")
        if not 0 < self.max_outstanding <= RECENT_PINGS // 2:
            problems.append(f"max_outstanding must be within [1, {RECENT_PINGS // 2}]")
        if self.stability_window_ns < 1_000_000:
            problems.append("stability_window_ns must be at least 1 ms")
        if not 0.0 < self.pdv_quantile <= 1.0:
            problems.append("pdv_quantile must be within (0, 1]")
        if self.lag_limit_ns < 0:
            problems.append("lag_limit_ns must be >= 0")
        if self.degraded_policy not in DEGRADED_POLICIES:
            problems.append(f"degraded_policy must be one of {DEGRADED_POLICIES}")
        if self.jitter_metric not in JITTER_METRICS:
            problems.append(f"jitter_metric must be one of {JITTER_METRICS}")
        if problems:
            raise ValueError("invalid probe settings: " + "; ".join(problems))


class PingTicket(NamedTuple):
    """What the caller puts on the wire, and when the ping will time out.

    Named tuples, this and `PongResult`, are made once per ping or pong: built in
    C, where a frozen dataclass sets each field through ``object.__setattr__``."""

    sequence: int
    payload: bytes
    """CONTROL: the ping frame payload. NOTIFICATION: ``b""`` (unused)."""
    deadline_ns: int
    timeout_ns: int


class PongKind(enum.Enum):
    """How an arriving pong was classified."""

    MATCHED = "matched"
    """Settled an outstanding ping: the result carries its outcome."""
    LATE = "late"
    """Answered a ping that had already timed out (or been aborted)."""
    DUPLICATE = "duplicate"
    """A second answer to a ping already answered."""
    UNSOLICITED = "unsolicited"
    """Answers no ping we know of."""


class PongResult(NamedTuple):
    """The classification of one pong; ``outcome`` is set only when MATCHED."""

    kind: PongKind
    outcome: ProbeOutcome | None
    sequence: int | None
    """The ping this pong belongs to, when known."""


@dataclass(frozen=True, slots=True)
class ProbeCounters:
    """Lifetime counts; ``sent == ok + timeout + aborted + outstanding``."""

    sent: int
    ok: int
    timeout: int
    aborted: int
    late: int
    duplicate: int
    unsolicited: int
    degraded: int
    """Settled pings whose window held a stall above the limit (any policy)."""
    ambiguous: int = 0
    """OK samples kept from the RTO by Karn's rule."""


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """A read-only view for health endpoints and summaries (not per probe)."""

    counters: ProbeCounters
    outstanding: int
    last_rtt_ns: int | None
    p50_rtt_ns: int | None
    p99_rtt_ns: int | None
    """Nearest-rank percentiles over the last ``stability_window`` OK samples
    (at most `RTT_PERCENTILE_CAP`)."""
    jitter_ns: int | None
    jitter_rfc3550_ns: int | None
    stability: float
    stability_lifetime: float
    rto_ns: int
    stability_time: float = 1.0
    """Stability over the time window (``stability_window_ns``)."""
    pdv_ns: int | None = None
    srtt_ns: int | None = None
    ghosts: int = 0


class _Ping:
    """One ping in flight (or, in NOTIFICATION mode, a ghost of one)."""

    __slots__ = (
        "deadline_ns",
        "ghost",
        "horizon_ns",
        "lateness_ns",
        "payload",
        "sent_ns",
        "sequence",
        "timeout_ns",
        "wall_ns",
        "written_ns",
    )

    def __init__(
        self,
        sequence: int,
        payload: bytes,
        sent_ns: int,
        wall_ns: int,
        lateness_ns: int,
        timeout_ns: int,
    ) -> None:
        self.sequence = sequence
        self.payload = payload
        self.sent_ns = sent_ns
        self.wall_ns = wall_ns
        self.lateness_ns = lateness_ns
        self.timeout_ns = timeout_ns
        self.deadline_ns = sent_ns + timeout_ns
        self.ghost = False
        self.horizon_ns = 0
        self.written_ns = 0
        """When its write returned (`ProbeSession.wrote`); 0 until then."""


_NO_QUEUE: deque[_Ping] = deque(maxlen=0)
"""A CONTROL session's FIFO: never used, and with ``maxlen=0`` always empty even if
appended to, so all CONTROL sessions can share it (a deque costs ~0.7 KiB)."""


class ProbeSession:
    """Tracks the pings of one connection in one mode; see the module docstring.

    >>> from otel_genesys.core.outcome import TargetKind
    >>> t = TargetInfo("demo", TargetKind.GENERIC, "localhost", 443, "wss")
    >>> s = ProbeSession(t, ProbeMode.CONTROL, ProbeSettings(), nonce=b"n")
    >>> ticket = s.send(now_ns=0, wall_ns=0)
    >>> result = s.pong(ticket.payload, now_ns=2_000_000)
    >>> result.kind.value, result.outcome.rtt_ns
    ('matched', 2000000)
    """

    # One session per connection and mode: no per-instance __dict__.
    __slots__ = (
        "_aborted", "_ambiguous", "_ambiguous_samples", "_control", "_degraded", "_duplicates",
        "_exclude", "_flag", "_ghost_consumed", "_ghosts", "_held", "_held_at_ns",
        "_jitter", "_last_rtt_ns", "_late", "_ok", "_outstanding", "_payload_len", "_pending",
        "_queue", "_rto", "_rtt_window", "_rtts", "_sent", "_seq", "_stability", "_thresholds",
        "_timeouts", "_unanswered_bits", "_unsolicited", "mode", "nonce", "settings", "stalls",
        "target",
    )  # fmt: skip

    def __init__(
        self,
        target: TargetInfo,
        mode: ProbeMode,
        settings: ProbeSettings,
        *,
        nonce: bytes | None = None,
        stalls: StallLog | None = None,
    ) -> None:
        self.target = target
        self.mode = mode
        self.settings = settings
        self.nonce = os.urandom(8) if nonce is None else bytes(nonce)
        if len(self.nonce) > CONTROL_PAYLOAD_LIMIT - _SEQ_BYTES:
            raise ValueError(f"nonce too long: at most {CONTROL_PAYLOAD_LIMIT - _SEQ_BYTES} bytes")
        self.stalls = stalls
        self._control = mode is ProbeMode.CONTROL
        self._rto = RtoEstimator(
            initial_ns=settings.timeout_initial_ns,
            min_ns=settings.timeout_min_ns,
            max_ns=settings.timeout_max_ns,
            fixed_ns=settings.fixed_timeout_ns,
        )
        # The RTT percentiles and the windowed PDV read the same samples (the OK ones
        # not excluded, pushed by `JitterTracker.update`), each over its own tail of
        # one ring: ~0.6 KiB per session less than a second ring of the same values.
        self._rtt_window = min(settings.stability_window, RTT_PERCENTILE_CAP)
        self._rtts = IntRing(max(self._rtt_window, settings.pdv_window))
        self._jitter = JitterTracker(settings.pdv_window, settings.pdv_quantile, ring=self._rtts)
        self._stability = StabilityTracker(settings.stability_window, settings.stability_window_ns)
        self._thresholds = ThresholdMatrix(settings.max_latency_ns, settings.max_jitter_ns)
        self._exclude = settings.degraded_policy == "exclude"
        self._flag = settings.degraded_policy != "count"
        self._seq = 0
        self._last_rtt_ns: int | None = None
        # CONTROL: payload -> ping, in send order; how recent pings ended, a bit each.
        self._pending: dict[bytes, _Ping] = {}
        # A bit per recent sequence number, set while that ping waits for a late pong.
        self._unanswered_bits = bits(RECENT_PINGS if self._control else 0)
        self._payload_len = _SEQ_BYTES + len(self.nonce)
        # NOTIFICATION: unanswered pings and ghosts in send order.
        self._queue: deque[_Ping] = _NO_QUEUE if self._control else deque()
        self._ghosts = 0
        self._ambiguous = False
        self._ghost_consumed = False
        self._outstanding = 0
        self._held: list[ProbeOutcome] = []
        self._held_at_ns = 0
        self._sent = 0
        self._ok = 0
        self._timeouts = 0
        self._aborted = 0
        self._late = 0
        self._duplicates = 0
        self._unsolicited = 0
        self._degraded = 0
        self._ambiguous_samples = 0

    # ----------------------------------------------------------------- sending

    def send(self, now_ns: int, wall_ns: int, lateness_ns: int = 0) -> PingTicket:
        """Register a ping sent at ``now_ns`` (monotonic) / ``wall_ns`` (wall clock)."""
        if self._outstanding >= self.settings.max_outstanding:
            self._evict_oldest(now_ns)
        self._seq += 1
        seq = self._seq
        timeout = self._rto.rto_ns
        if self._control:
            payload = seq.to_bytes(_SEQ_BYTES, "big") + self.nonce
            ping = _Ping(seq, payload, now_ns, wall_ns, lateness_ns, timeout)
            # Its bit still tells how ping seq - RECENT_PINGS ended: while this one is
            # pending it is found by payload, and its own end overwrites the bit.
            self._pending[payload] = ping
        else:
            payload = b""
            ping = _Ping(seq, payload, now_ns, wall_ns, lateness_ns, timeout)
            self._queue.append(ping)
        self._outstanding += 1
        self._sent += 1
        return PingTicket(seq, payload, ping.deadline_ns, timeout)

    def wrote(self, ticket: PingTicket, now_ns: int) -> None:
        """The ping of ``ticket`` is on the wire: its write returned at ``now_ns``.

        For a pong whose arrival the kernel stamped (``pong(..., stamped=True)``), the
        agent's own stalls can have moved the RTT only until then, so its window for
        loop lag and GC pauses ends here instead of at the pong."""
        if self._control:
            ping = self._pending.get(ticket.payload)
        else:  # the newest in the queue, unless its pong already took it out
            queue = self._queue
            ping = queue[-1] if queue and queue[-1].sequence == ticket.sequence else None
        if ping is not None:
            ping.written_ns = now_ns

    def _evict_oldest(self, now_ns: int) -> None:
        if self._control:
            ping = next(iter(self._pending.values()))
            del self._pending[ping.payload]
            set_bit(self._unanswered_bits, ping.sequence % RECENT_PINGS, True)
            self._outstanding -= 1
            self._held.append(self._settle_timeout(ping, now_ns))
        else:
            ping = next(p for p in self._queue if not p.ghost)
            self._outstanding -= 1
            self._held.append(self._settle_timeout(ping, now_ns))
            if not self._fifo_keep_ghost(ping, now_ns):
                self._queue.remove(ping)
            self._fifo_trim_ghosts()
        if len(self._held) == 1:
            self._held_at_ns = now_ns

    # ----------------------------------------------------------------- pongs

    def pong(self, payload: bytes | None, now_ns: int, stamped: bool = False) -> PongResult:
        """Classify a pong received at ``now_ns`` and settle its ping if it has one.

        ``stamped``: ``now_ns`` is the kernel's receive stamp, taken before the agent
        saw the pong, so stalls after the ping's write (`wrote`) did not move it."""
        if self._control:
            return self._control_pong(b"" if payload is None else payload, now_ns, stamped)
        return self._fifo_pong(now_ns, stamped)

    def _control_pong(self, payload: bytes, now_ns: int, stamped: bool) -> PongResult:
        ping = self._pending.pop(payload, None)
        if ping is not None:
            self._outstanding -= 1
            set_bit(self._unanswered_bits, ping.sequence % RECENT_PINGS, False)
            outcome = self._settle_ok(ping, now_ns, ambiguous=False, stamped=stamped)
            return PongResult(PongKind.MATCHED, outcome, ping.sequence)
        seq = self._recent_sequence(payload)
        if seq is None:
            self._unsolicited += 1
            return PongResult(PongKind.UNSOLICITED, None, None)
        # A recent sequence that is not pending has ended, and every way out of
        # `_pending` sets its bit: it had its pong already, or is still without one.
        if not get_bit(self._unanswered_bits, seq % RECENT_PINGS):
            self._duplicates += 1
            return PongResult(PongKind.DUPLICATE, None, seq)
        set_bit(self._unanswered_bits, seq % RECENT_PINGS, False)
        self._late += 1
        return PongResult(PongKind.LATE, None, seq)

    def _recent_sequence(self, payload: bytes) -> int | None:
        """The sequence in one of our payloads, if it is recent enough to be known."""
        if len(payload) != self._payload_len or not payload.endswith(self.nonce):
            return None
        seq = int.from_bytes(payload[:_SEQ_BYTES], "big")
        if seq > self._seq or seq <= self._seq - RECENT_PINGS or seq <= 0:
            return None
        return seq

    def _fifo_pong(self, now_ns: int, stamped: bool) -> PongResult:
        if self._ghosts:
            self._fifo_drop_stale_ghosts(now_ns)
        queue = self._queue
        if not queue:
            self._unsolicited += 1
            return PongResult(PongKind.UNSOLICITED, None, None)
        head = queue.popleft()
        if head.ghost:
            self._ghosts -= 1
            self._late += 1
            self._ghost_consumed = True
            result = PongResult(PongKind.LATE, None, head.sequence)
        else:
            self._outstanding -= 1
            self._ghost_consumed = False
            outcome = self._settle_ok(head, now_ns, ambiguous=self._ambiguous,
                                      stamped=stamped)  # fmt: skip
            result = PongResult(PongKind.MATCHED, outcome, head.sequence)
        if not queue:
            self._ambiguous = False
        return result

    # ----------------------------------------------------------------- expiry

    def expire(self, now_ns: int) -> list[ProbeOutcome]:
        """Time out every outstanding ping whose deadline is ``<= now_ns``."""
        out = self._take_held()
        if self._outstanding == 0 and self._ghosts == 0:
            return out
        if self._control:
            expired = [p for p in self._pending.values() if p.deadline_ns <= now_ns]
            for ping in expired:
                del self._pending[ping.payload]
                self._outstanding -= 1
                set_bit(self._unanswered_bits, ping.sequence % RECENT_PINGS, True)
                out.append(self._settle_timeout(ping, now_ns))
            return out
        changed = False
        keep: deque[_Ping] = deque()
        for ping in self._queue:
            if ping.ghost:
                if ping.horizon_ns <= now_ns:
                    self._ghosts -= 1
                    changed = True
                    continue
            elif ping.deadline_ns <= now_ns:
                changed = True
                self._outstanding -= 1
                out.append(self._settle_timeout(ping, now_ns))
                if not self._fifo_keep_ghost(ping, now_ns):
                    continue
            keep.append(ping)
        if changed:
            self._queue = keep
            self._fifo_trim_ghosts()
            if not keep:
                self._ambiguous = False
        return out

    def _fifo_keep_ghost(self, ping: _Ping, now_ns: int) -> bool:
        """After ``ping`` timed out: turn it into a ghost (True) or forget it."""
        self._ambiguous = True
        if self._ghost_consumed:
            # The last late pong may really have been this ping's: no ghost, or
            # one server-side drop would shift every later match by one.
            self._ghost_consumed = False
            return False
        horizon = ping.deadline_ns + GHOST_HORIZON_TIMEOUTS * ping.timeout_ns
        if horizon <= now_ns:
            return False
        ping.ghost = True
        ping.horizon_ns = horizon
        self._ghosts += 1
        return True

    def _fifo_trim_ghosts(self) -> None:
        """Keep at most ``max_outstanding`` ghosts (oldest go first)."""
        excess = self._ghosts - self.settings.max_outstanding
        if excess <= 0:
            return
        keep: deque[_Ping] = deque()
        for ping in self._queue:
            if ping.ghost and excess > 0:
                excess -= 1
                self._ghosts -= 1
                continue
            keep.append(ping)
        self._queue = keep

    def _fifo_drop_stale_ghosts(self, now_ns: int) -> None:
        queue = self._queue
        if not any(p.ghost and p.horizon_ns <= now_ns for p in queue):
            return
        keep: deque[_Ping] = deque()
        for ping in queue:
            if ping.ghost and ping.horizon_ns <= now_ns:
                self._ghosts -= 1
            else:
                keep.append(ping)
        self._queue = keep

    def abort(self, now_ns: int) -> list[ProbeOutcome]:
        """The connection is gone: every outstanding ping ends ABORTED."""
        out = self._take_held()
        if self._control:
            for ping in self._pending.values():
                set_bit(self._unanswered_bits, ping.sequence % RECENT_PINGS, True)
                out.append(self._settle_abort(ping, now_ns))
            self._pending.clear()
        else:
            for ping in self._queue:
                if not ping.ghost:
                    out.append(self._settle_abort(ping, now_ns))
            # Pongs of a closed connection never arrive: ghosts and doubts go too.
            self._queue.clear()
            self._ghosts = 0
            self._ambiguous = False
            self._ghost_consumed = False
        self._outstanding = 0
        return out

    def drop_ghosts(self) -> int:
        """Forget NOTIFICATION ghosts; return how many.

        Call when pings will from now on travel over a different connection
        (e.g. after switching to a standby channel): late pongs of the old
        connection can no longer arrive, and a ghost left behind would swallow
        the new connection's first pong.
        """
        dropped = self._ghosts
        if dropped:
            self._queue = deque(p for p in self._queue if not p.ghost)
            self._ghosts = 0
            self._ghost_consumed = False
            if not self._queue:
                self._ambiguous = False
        return dropped

    def _take_held(self) -> list[ProbeOutcome]:
        held = self._held
        if held:
            self._held = []
            return held
        return []

    def next_deadline_ns(self) -> int | None:
        """The earliest moment `expire` has work; ``None`` when nothing is outstanding."""
        if self._held:
            return self._held_at_ns
        if self._outstanding == 0:
            return None
        if self._control:
            return min(p.deadline_ns for p in self._pending.values())
        return min(p.deadline_ns for p in self._queue if not p.ghost)

    # ----------------------------------------------------------------- settling

    def _assess(self, start_ns: int, end_ns: int) -> tuple[int, int, bool]:
        stalls = self.stalls
        if stalls is None:
            return (0, 0, False)
        lag, gc = stalls.window(start_ns, end_ns)
        limit = self.settings.lag_limit_ns
        degraded = lag > limit or gc > limit
        if degraded:
            self._degraded += 1
        return (lag, gc, degraded)

    def _settle_ok(
        self, ping: _Ping, now_ns: int, *, ambiguous: bool, stamped: bool = False
    ) -> ProbeOutcome:
        rtt = now_ns - ping.sent_ns
        if rtt < 0:
            rtt = 0
        end = now_ns
        if stamped and 0 < ping.written_ns < end:
            end = ping.written_ns  # later stalls cannot have moved a kernel-stamped arrival
        lag, gc, degraded = self._assess(ping.sent_ns, end)
        excluded = degraded and self._exclude
        jitter = self._jitter
        self._last_rtt_ns = rtt
        if excluded:
            consecutive = jitter.peek_consecutive(rtt)
            breaches = NO_BREACHES
        else:
            jitter.update(rtt)  # also the sample of the RTT percentiles (`_rtts`)
            consecutive = jitter.consecutive_ns
            if ambiguous:
                self._ambiguous_samples += 1
            else:
                self._rto.on_sample(rtt)
            metric = self.settings.jitter_metric
            judged = (
                consecutive
                if metric == "consecutive"
                else jitter.rfc3550_ns
                if metric == "rfc3550"
                else jitter.pdv_ns
            )
            breaches = self._thresholds.judge_sample(rtt, judged)
            self._stability.record(rtt <= self.settings.max_latency_ns, now_ns)
        if ambiguous and excluded:
            self._ambiguous_samples += 1
        self._ok += 1
        stability = self._stability
        return ProbeOutcome(
            target=self.target,
            mode=self.mode,
            sequence=ping.sequence,
            outcome=Outcome.OK,
            sent_ns=ping.sent_ns,
            sent_wall_ns=ping.wall_ns,
            rtt_ns=rtt,
            timeout_ns=ping.timeout_ns,
            jitter_ns=consecutive,
            jitter_rfc3550_ns=jitter.rfc3550_ns,
            pdv_ns=jitter.pdv_ns,
            stability=stability.window_ratio,
            stability_lifetime=stability.lifetime_ratio,
            breaches=breaches,
            lateness_ns=ping.lateness_ns,
            error_type=None,
            loop_lag_ns=lag,
            gc_pause_ns=gc,
            confidence=Confidence.DEGRADED if degraded and self._flag else Confidence.TRUSTED,
        )

    def _settle_timeout(self, ping: _Ping, now_ns: int) -> ProbeOutcome:
        waited = max(0, now_ns - ping.sent_ns)
        lag, gc, degraded = self._assess(ping.sent_ns, max(now_ns, ping.sent_ns))
        self._rto.on_timeout()
        if degraded and self._exclude:
            breaches = NO_BREACHES
        else:
            breaches = self._thresholds.judge_timeout(waited, ping.timeout_ns)
            self._stability.record(False, now_ns)
        self._timeouts += 1
        return self._unanswered(ping, Outcome.TIMEOUT, "timeout", breaches, lag, gc, degraded)

    def _settle_abort(self, ping: _Ping, now_ns: int) -> ProbeOutcome:
        lag, gc, degraded = self._assess(ping.sent_ns, max(now_ns, ping.sent_ns))
        self._aborted += 1
        return self._unanswered(ping, Outcome.ABORTED, "aborted", NO_BREACHES, lag, gc, degraded)

    def _unanswered(
        self,
        ping: _Ping,
        outcome: Outcome,
        error_type: str,
        breaches: tuple[Breach, ...],
        lag: int,
        gc: int,
        degraded: bool,
    ) -> ProbeOutcome:
        stability = self._stability
        return ProbeOutcome(
            target=self.target,
            mode=self.mode,
            sequence=ping.sequence,
            outcome=outcome,
            sent_ns=ping.sent_ns,
            sent_wall_ns=ping.wall_ns,
            rtt_ns=None,
            timeout_ns=ping.timeout_ns,
            jitter_ns=None,
            jitter_rfc3550_ns=None,
            pdv_ns=None,
            stability=stability.window_ratio,
            stability_lifetime=stability.lifetime_ratio,
            breaches=breaches,
            lateness_ns=ping.lateness_ns,
            error_type=error_type,
            loop_lag_ns=lag,
            gc_pause_ns=gc,
            confidence=Confidence.DEGRADED if degraded and self._flag else Confidence.TRUSTED,
        )

    # ----------------------------------------------------------------- reading

    @property
    def outstanding(self) -> int:
        """Pings sent and not yet settled (ghosts excluded)."""
        return self._outstanding

    @property
    def held(self) -> int:
        """Outcomes settled early (``max_outstanding``) awaiting `expire` or `abort`."""
        return len(self._held)

    @property
    def ghosts(self) -> int:
        """NOTIFICATION mode: timed-out pings still awaiting a possible late pong."""
        return self._ghosts

    @property
    def rto_ns(self) -> int:
        """The timeout the next ping will get."""
        return self._rto.rto_ns

    @property
    def counters(self) -> ProbeCounters:
        """Lifetime counts (a new value each call)."""
        return ProbeCounters(
            sent=self._sent,
            ok=self._ok,
            timeout=self._timeouts,
            aborted=self._aborted,
            late=self._late,
            duplicate=self._duplicates,
            unsolicited=self._unsolicited,
            degraded=self._degraded,
            ambiguous=self._ambiguous_samples,
        )

    def snapshot(self) -> SessionSnapshot:
        """A consistent read of the session; sorts the RTT window, so not per probe."""
        rtts = sorted(self._rtts.tail(self._rtt_window))
        jitter = self._jitter
        stability = self._stability
        return SessionSnapshot(
            counters=self.counters,
            outstanding=self._outstanding,
            last_rtt_ns=self._last_rtt_ns,
            p50_rtt_ns=nearest_rank(rtts, 0.5) if rtts else None,
            p99_rtt_ns=nearest_rank(rtts, 0.99) if rtts else None,
            jitter_ns=jitter.consecutive_ns,
            jitter_rfc3550_ns=jitter.rfc3550_ns,
            stability=stability.window_ratio,
            stability_lifetime=stability.lifetime_ratio,
            rto_ns=self._rto.rto_ns,
            stability_time=stability.time_ratio(),
            pdv_ns=jitter.pdv_ns,
            srtt_ns=self._rto.srtt_ns,
            ghosts=self._ghosts,
        )
