"""Watching the agent's own stalls: event-loop lag and garbage-collection pauses.

A ticker scheduled with ``loop.call_at`` notes how late each tick ran; that
lateness, less the selector's timer granularity, is time the loop was busy
with something else. ``gc.callbacks`` give the exact span of every
collection. Both feed a `StallLog` (core), which the probe sessions consult
when a sample settles to decide whether it can be trusted.

Lag only matters to a sample while its ping is in flight, so the fine ticker
(every ``period_s``, on a fixed grid) runs only then: the monitors call
:meth:`StallWatch.begin` for every ping sent and :meth:`StallWatch.end` for
every outcome, and the fine ticker stops when nothing is in flight. Its ticks
fall on the same grid points as an always-running ticker's, so every ping
window sees exactly the ticks it would have seen. A coarse ticker (every
``idle_period_s``) always runs: it keeps the health endpoint's liveness and
the loop-lag metric going while the agent is idle. At one connection the
fine ticker was ~93 % of the agent's own CPU; now an idle agent wakes once a
second.

The coarse ticker follows the pings: its next tick is due one period after the
last ping that started the fine ticker, when that was within the last period.
A target probing once a period then wakes the loop for its ping just before the
tick is due, and the tick runs in that wake-up or a millisecond after it, with
the caches still warm, instead of in a wake-up of its own (at one connection
such a wake-up, after a second asleep, cost about as much as the ping's).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

from otel_genesys.core.stall import StallLog

TIMER_SLACK_NS = 1_000_000
"""asyncio rounds selector timeouts up to whole milliseconds, so an idle loop
wakes up to ~1 ms late; only lateness beyond this counts as lag."""


class StallWatch:
    """Feeds loop lag and GC pauses into a `StallLog`; cheap enough to always run.

    >>> async def demo():
    ...     watch = StallWatch(period_s=0.005, idle_period_s=10.0)
    ...     watch.start()
    ...     watch.begin()                  # a ping leaves: the fine ticker runs
    ...     await asyncio.sleep(0.02)
    ...     fine = watch.fine_ticks
    ...     watch.end()                    # its outcome: nothing in flight, it stops
    ...     await asyncio.sleep(0.02)
    ...     watch.stop()
    ...     return fine >= 2, watch.fine_ticks == fine, watch.in_flight
    >>> asyncio.run(demo())
    (True, True, 0)
    """

    def __init__(
        self,
        log: StallLog | None = None,
        *,
        period_s: float = 0.02,
        idle_period_s: float = 1.0,
        on_lag: Callable[[float], None] | None = None,
        on_gc: Callable[[float], None] | None = None,
        clock: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        if period_s <= 0 or idle_period_s <= 0:
            raise ValueError("stall-watch periods must be positive")
        self.log = log if log is not None else StallLog()
        self.period_s = period_s
        self.idle_period_s = idle_period_s
        self._period_ns = int(period_s * 1e9)
        self._on_lag = on_lag
        self._on_gc = on_gc
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fine: asyncio.TimerHandle | None = None
        self._fine_due_ns = 0
        self._idle: asyncio.TimerHandle | None = None
        self._idle_due_ns = 0
        self._active_ns = 0
        """When a ping last started the fine ticker (the coarse ticker follows it)."""
        self.follow_pings = True
        """False: the coarse ticker keeps its own period from its last tick (as before
        it followed the pings; a bench lever, ``wakeups``)."""
        self._origin_ns = 0
        self._gc_start_ns = 0
        self.in_flight = 0
        """Pings sent and not yet settled (`begin` minus `end`), never below 0."""
        self.fine_ticks = 0
        self.worst_lag_ns = 0
        self.last_tick_ns = 0
        self.gc_pauses = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        now = self._clock()
        self._origin_ns = now
        self.last_tick_ns = now  # start() runs on the loop: it is responsive now
        self._schedule_idle(now)
        if self.in_flight > 0:
            self._schedule_fine(now)
        if self._gc_callback not in gc.callbacks:
            gc.callbacks.append(self._gc_callback)

    def stop(self) -> None:
        for handle in (self._fine, self._idle):
            if handle is not None:
                handle.cancel()
        self._fine = self._idle = None
        self._loop = None
        if self._gc_callback in gc.callbacks:
            gc.callbacks.remove(self._gc_callback)

    # ------------------------------------------------------------ ping demand

    def begin(self) -> None:
        """A ping left: watch the loop finely until it settles."""
        self.in_flight += 1
        if self._fine is None and self._loop is not None:
            now = self._clock()
            self._active_ns = now
            self._schedule_fine(now)

    def end(self, settled: int = 1) -> None:
        """``settled`` pings got their outcome; the fine ticker stops at zero in flight."""
        left = self.in_flight - settled
        if left > 0:
            self.in_flight = left
            return
        self.in_flight = 0
        fine = self._fine
        if fine is not None:
            fine.cancel()
            self._fine = None

    # ------------------------------------------------------------ ticks

    def _schedule_fine(self, now_ns: int) -> None:
        assert self._loop is not None
        period = self._period_ns
        due = self._origin_ns + ((now_ns - self._origin_ns) // period + 1) * period
        self._fine_due_ns = due
        self._fine = self._loop.call_at(self._loop.time() + (due - now_ns) / 1e9, self._fine_tick)

    def _schedule_idle(self, now_ns: int) -> None:
        assert self._loop is not None
        period = int(self.idle_period_s * 1e9)
        active = self._active_ns
        # One period after the last ping that woke the loop, if that was within the
        # last period (so the tick lands just after the next ping of a target on the
        # same period); otherwise one period from now. Never more than a period apart.
        follow = self.follow_pings and now_ns - period < active <= now_ns
        due = (active if follow else now_ns) + period
        self._idle_due_ns = due
        self._idle = self._loop.call_at(self._loop.time() + (due - now_ns) / 1e9,
                                        self._idle_tick)  # fmt: skip

    def _fine_tick(self) -> None:
        now = self._clock()
        self.fine_ticks += 1
        self._observe(now, self._fine_due_ns)
        if self.in_flight > 0 and self._loop is not None:
            self._schedule_fine(now)
        else:
            self._fine = None

    def _idle_tick(self) -> None:
        now = self._clock()
        self._observe(now, self._idle_due_ns)
        if self._loop is not None:
            self._schedule_idle(now)

    def _observe(self, now: int, due_ns: int) -> None:
        self.last_tick_ns = now
        lag = now - due_ns - TIMER_SLACK_NS
        if lag > 0:
            self.log.record_lag(now, lag)
            if lag > self.worst_lag_ns:
                self.worst_lag_ns = lag
            if self._on_lag is not None:
                self._on_lag(lag / 1e9)

    def _gc_callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start_ns = self._clock()
        elif phase == "stop" and self._gc_start_ns:
            end = self._clock()
            self.log.record_gc(self._gc_start_ns, end)
            self.gc_pauses += 1
            if self._on_gc is not None:
                self._on_gc((end - self._gc_start_ns) / 1e9)
            self._gc_start_ns = 0

    def loop_responsive(self, now_ns: int, within_s: float = 2.0) -> bool:
        """True when a tick ran recently (the health endpoint's liveness)."""
        return now_ns - self.last_tick_ns < within_s * 1e9
