"""Watching the agent's own stalls: event-loop lag and garbage-collection pauses.

A ticker scheduled with ``loop.call_at`` on a fixed period notes how late each
tick ran; that lateness, less the selector's timer granularity, is time the
loop was busy with something else. ``gc.callbacks`` give the exact span of
every collection. Both feed a `StallLog` (core), which the probe sessions
consult when a sample settles to decide whether it can be trusted.
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
    """Feeds loop lag and GC pauses into a `StallLog`; cheap enough to always run."""

    def __init__(
        self,
        log: StallLog | None = None,
        *,
        period_s: float = 0.02,
        on_lag: Callable[[float], None] | None = None,
        on_gc: Callable[[float], None] | None = None,
        clock: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self.log = log if log is not None else StallLog()
        self.period_s = period_s
        self._on_lag = on_lag
        self._on_gc = on_gc
        self._clock = clock
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._expected_ns = 0
        self._gc_start_ns = 0
        self.worst_lag_ns = 0
        self.last_tick_ns = 0
        self.gc_pauses = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._schedule(self._clock())
        if self._gc_callback not in gc.callbacks:
            gc.callbacks.append(self._gc_callback)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._gc_callback in gc.callbacks:
            gc.callbacks.remove(self._gc_callback)

    def _schedule(self, now_ns: int) -> None:
        assert self._loop is not None
        period_ns = int(self.period_s * 1e9)
        self._expected_ns = now_ns + period_ns
        self._handle = self._loop.call_at(self._loop.time() + self.period_s, self._tick)

    def _tick(self) -> None:
        now = self._clock()
        self.last_tick_ns = now
        lag = now - self._expected_ns - TIMER_SLACK_NS
        if lag > 0:
            self.log.record_lag(now, lag)
            if lag > self.worst_lag_ns:
                self.worst_lag_ns = lag
            if self._on_lag is not None:
                self._on_lag(lag / 1e9)
        self._schedule(now)

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
        """True when the ticker ran recently (the health endpoint's liveness)."""
        return now_ns - self.last_tick_ns < within_s * 1e9
