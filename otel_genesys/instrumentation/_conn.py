"""One measured connection: the bridge between a library's socket and the core's `ProbeSession`.

Library-neutral: the aiohttp and websockets hooks tell a `ConnectionProbe`
what they saw (a ping sent, a pong or a JSON pong received, the socket gone),
with ``perf_counter_ns`` timestamps taken as early as the hook allows; the
probe feeds the core sessions and hands every outcome to the telemetry sink.

One CONTROL session serves the application's RFC 6455 pings *and* the
instrumentation's own active pings (both travel the same path; one session
keeps sequence numbers unique per connection). The application chooses its
ping payloads (often empty, possibly repeated), so each application ping is
given a core ticket and application payloads map to tickets first-in-first-out.
Active pings carry the ticket payload itself, so their pongs are recognised
and kept from the application. A NOTIFICATION session is created on the first
Genesys JSON ping.

Nothing here may raise into the application: every entry point is guarded
by the hooks, and failures are counted in `ErrorCounts`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from otel_genesys.core.events import AuditEvent, AuditKind
from otel_genesys.core.outcome import Outcome, ProbeMode, ProbeOutcome, TargetInfo
from otel_genesys.core.probe import PongKind, PongResult, ProbeSession, ProbeSettings
from otel_genesys.core.scheduler import DriftScheduler, DriftSettings
from otel_genesys.core.sink import TelemetrySink
from otel_genesys.instrumentation._telemetry import ErrorCounts
from otel_genesys.telemetry import names as n

_log = logging.getLogger(__name__)

_ANOMALY = {
    PongKind.LATE: AuditKind.LATE_PONG,
    PongKind.DUPLICATE: AuditKind.DUPLICATE_PONG,
    PongKind.UNSOLICITED: AuditKind.UNSOLICITED_PONG,
}
RECENT_APP_PAYLOADS = 64
"""Application payloads whose ping ended recently, kept to classify late/duplicate pongs."""

Clock = Callable[[], int]


class ConnectionProbe:
    """The measurement state of one instrumented WebSocket connection."""

    def __init__(
        self,
        target: TargetInfo,
        settings: ProbeSettings,
        sink: TelemetrySink,
        errors: ErrorCounts,
        library: str,
        *,
        loop: asyncio.AbstractEventLoop,
        clock: Clock = time.perf_counter_ns,
        wall_clock: Clock = time.time_ns,
    ) -> None:
        self.target = target
        self.settings = settings
        self.sink = sink
        self.errors = errors
        self.library = library
        self.loop = loop
        self.clock = clock
        self.wall_clock = wall_clock
        self.closed = False
        self._control: ProbeSession | None = None
        self._notification: ProbeSession | None = None
        self._app_tickets: dict[bytes, collections.deque[bytes]] = {}
        self._ticket_app: dict[bytes, bytes] = {}
        self._recent: collections.OrderedDict[bytes, bytes] = collections.OrderedDict()
        self._active_keys: set[bytes] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at_ns = 0
        self._active_task: asyncio.Task[None] | None = None
        self._on_close: list[Callable[[], None]] = []

        self.json_pending = False
        """Whether an incoming text may be a JSON ping's pong. A plain attribute, kept
        current by every change, because the hooks read it once per incoming message."""
        self.watching = False
        """Whether incoming frames must be inspected at all (a ping was sent, not closed)."""

    # ------------------------------------------------------------------ reading

    def _refresh(self) -> None:
        s = self._notification
        self.json_pending = (
            not self.closed and s is not None and (s.outstanding > 0 or s.ghosts > 0)
        )
        self.watching = not self.closed and (self._control is not None or s is not None)

    @property
    def control_session(self) -> ProbeSession | None:
        """The CONTROL session, once a control ping was sent."""
        return self._control

    @property
    def notification_session(self) -> ProbeSession | None:
        """The NOTIFICATION session, once a JSON ping was sent."""
        return self._notification

    def is_active_key(self, payload: object) -> bool:
        """Whether ``payload`` is one of the instrumentation's own outstanding pings."""
        return bool(self._active_keys) and payload in self._active_keys

    def add_close_callback(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once when the probe closes (e.g. to undo per-connection patches)."""
        self._on_close.append(callback)

    def fail(self) -> None:
        """Count one failure of a hook on this connection."""
        self.errors.add(self.library)
        _log.debug("instrumentation hook failed", exc_info=True)

    # ------------------------------------------------------------------ control pings

    def _control_session(self) -> ProbeSession:
        s = self._control
        if s is None:
            s = self._control = ProbeSession(self.target, ProbeMode.CONTROL, self.settings)
            self._refresh()
        return s

    def send_control(self, sent_ns: int, lateness_ns: int = 0) -> bytes:
        """Register a control ping sent at ``sent_ns``; returns its core payload (the key)."""
        ticket = self._control_session().send(sent_ns, self._wall(sent_ns), lateness_ns)
        self._arm(ticket.deadline_ns)
        return ticket.payload

    def settle_control(self, key: bytes, now_ns: int) -> None:
        """A pong for the ping registered under ``key`` arrived at ``now_ns``."""
        s = self._control
        if s is None or self.closed:
            return
        self._active_keys.discard(key)
        app = self._ticket_app.pop(key, None)
        if app is not None:
            self._forget_app(app, key)
        self._result(s.pong(key, now_ns), ProbeMode.CONTROL)

    def app_ping_sent(self, payload: bytes, sent_ns: int) -> None:
        """The application sent an RFC 6455 ping with ``payload`` at ``sent_ns``."""
        if self.closed:
            return
        key = self.send_control(sent_ns)
        self._app_tickets.setdefault(payload, collections.deque()).append(key)
        self._ticket_app[key] = payload

    def app_pong(self, payload: bytes, now_ns: int) -> bool:
        """A pong arrived; returns True when it answers an active ping (keep it from the app)."""
        if self._control is None or self.closed:
            return False
        if self._active_keys and payload in self._active_keys:
            self.settle_control(payload, now_ns)
            return True
        queue = self._app_tickets.get(payload)
        if queue:
            self.settle_control(queue[0], now_ns)
            return False
        # Not pending: a late or duplicate answer to a recent ping, or a stray.
        key = self._recent.get(payload, payload)
        self._result(self._control.pong(key, now_ns), ProbeMode.CONTROL)
        return False

    def active_ping(self, now_ns: int, lateness_ns: int = 0) -> bytes:
        """Register one of the instrumentation's own pings; returns the payload to send."""
        key = self.send_control(now_ns, lateness_ns)
        self._active_keys.add(key)
        return key

    def _forget_app(self, app: bytes, key: bytes) -> None:
        queue = self._app_tickets.get(app)
        if queue is not None:
            with contextlib.suppress(ValueError):
                queue.remove(key)
            if not queue:
                del self._app_tickets[app]
        recent = self._recent
        recent[app] = key
        recent.move_to_end(app)
        if len(recent) > RECENT_APP_PAYLOADS:
            recent.popitem(last=False)

    # ------------------------------------------------------------------ JSON pings

    def json_ping_sent(self, sent_ns: int) -> None:
        """The application sent a Genesys ``{"message":"ping"}`` at ``sent_ns``."""
        if self.closed:
            return
        s = self._notification
        if s is None:
            s = self._notification = ProbeSession(
                self.target, ProbeMode.NOTIFICATION, self.settings
            )
        ticket = s.send(sent_ns, self._wall(sent_ns))
        self.json_pending = self.watching = True
        self._arm(ticket.deadline_ns)

    def json_pong(self, now_ns: int) -> None:
        """A ``channel.metadata`` pong arrived at ``now_ns`` (matched FIFO)."""
        s = self._notification
        if s is None or self.closed:
            return
        try:
            self._result(s.pong(None, now_ns), ProbeMode.NOTIFICATION)
        finally:
            self._refresh()

    # ------------------------------------------------------------------ outcomes

    def _wall(self, mono_ns: int) -> int:
        # Wall time of an earlier monotonic instant: spans start when the ping left.
        return self.wall_clock() - max(0, self.clock() - mono_ns)

    def _result(self, result: PongResult, mode: ProbeMode) -> None:
        if result.outcome is not None:
            self.sink.outcome(result.outcome)
            return
        kind = _ANOMALY.get(result.kind)
        if kind is not None:
            # No sequence: several connections share a target name, so a sequence
            # could attach the event to another connection's span.
            self.sink.event(
                AuditEvent(kind, self.target, self.wall_clock(), ((n.PROBE_MODE, mode.value),))
            )

    def _emit(self, outcomes: list[ProbeOutcome]) -> None:
        for outcome in outcomes:
            if outcome.mode is ProbeMode.CONTROL and outcome.outcome is not Outcome.OK:
                self._ended_control(outcome.sequence)
            self.sink.outcome(outcome)

    def _ended_control(self, sequence: int) -> None:
        s = self._control
        if s is None:
            return
        key = sequence.to_bytes(8, "big") + s.nonce
        self._active_keys.discard(key)
        app = self._ticket_app.pop(key, None)
        if app is not None:
            self._forget_app(app, key)

    # ------------------------------------------------------------------ timeouts

    def _arm(self, deadline_ns: int) -> None:
        if self._timer is not None and self._timer_at_ns <= deadline_ns:
            return
        if self._timer is not None:
            self._timer.cancel()
        delay_s = max(0.0, (deadline_ns - self.clock()) / 1e9)
        self._timer_at_ns = deadline_ns
        self._timer = self.loop.call_later(delay_s, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.expire(self.clock())
        except Exception:
            self.fail()

    def expire(self, now_ns: int) -> None:
        """Time out pings past their deadline and re-arm the timer for the next one."""
        if self.closed:
            return
        deadlines = []
        for s in (self._control, self._notification):
            if s is None:
                continue
            self._emit(s.expire(now_ns))
            d = s.next_deadline_ns()
            if d is not None:
                deadlines.append(d)
        self._refresh()
        if deadlines:
            self._arm(min(deadlines))

    # ------------------------------------------------------------------ active probing

    def start_active(self, interval_ns: int, send: Callable[[bytes], Awaitable[Any]]) -> None:
        """Send an own ping every ``interval_ns`` with ``send(payload)`` until closed."""
        self._active_task = self.loop.create_task(self._active_loop(interval_ns, send))

    async def _active_loop(self, interval_ns: int, send: Callable[[bytes], Awaitable[Any]]) -> None:
        # The agent's cadence: a fixed-rate grid, wake-up delay compensated, lateness
        # exported on each span, slots missed during a stall skipped (never sent late).
        clock = self.clock
        scheduler = DriftScheduler(interval_ns, clock() + interval_ns, DriftSettings())
        while not self.closed:
            await asyncio.sleep(max(0, scheduler.next_fire_ns() - clock()) / 1e9)
            if self.closed:
                return
            now = clock()
            tick = scheduler.fire(now)
            try:
                key = self.active_ping(now, max(0, tick.lateness_ns))
                await send(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The socket is going away; its own reader or close will say so.
                self.close()
                return

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """The connection is gone (or uninstrumented): abort what is outstanding, stop timers."""
        if self.closed:
            return
        now = self.clock()
        try:
            for s in (self._control, self._notification):
                if s is not None:
                    self._emit(s.abort(now))
        except Exception:
            self.fail()
        self.closed = True
        self._refresh()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task = self._active_task
        if task is not None and not task.done() and task is not _current_task():
            task.cancel()
        self._active_task = None
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                self.fail()


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None
