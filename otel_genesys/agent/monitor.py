"""One target's life: connect, probe, survive, reconnect.

A `ConnectionMonitor` owns one target. It obtains a token, opens a
notification channel (or dials a generic URL), connects, and then runs two
things side by side on each live link: a reader task that timestamps every
frame the moment it is handed over and routes pongs to the measurement core,
and, in the monitor's own task, a probe loop driven by the core's
drift-compensating scheduler. Whatever ends the current link (the reader, a
failed send, a missed heartbeat) records the failure on the link and wakes
the probe loop, which returns it. It computes no statistics itself:
`ProbeSession` (core) does, and every outcome goes straight to the telemetry
sink.

Make-before-break: when the channel must be replaced (``socket_closing``,
channel expiry, token rollover), the replacement link is opened first; the
probe loop moves to it at the next tick where no FIFO ping is in flight, and
the old link is closed once its last pings have had time to settle.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import ssl as ssl_module
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from yarl import URL

from otel_genesys.agent.alarm import Alarm
from otel_genesys.agent.failures import Failure, classify, classify_close, with_frames
from otel_genesys.agent.handshake_trace import timing_phases
from otel_genesys.agent.pongtap import PongTap
from otel_genesys.agent.stall import StallWatch
from otel_genesys.agent.wakeclock import StampedSocket, StampingSelector, loop_stamps, rx_stamps
from otel_genesys.config import GenericTarget, MonitorConfig, NotificationTarget
from otel_genesys.core.backoff import Backoff
from otel_genesys.core.events import (
    AttrValue,
    AuditEvent,
    AuditKind,
    ConnectionState,
    LifecycleRecord,
    LifecycleStep,
)
from otel_genesys.core.outcome import ProbeMode, ProbeOutcome, TargetInfo, TargetKind
from otel_genesys.core.probe import PongKind, ProbeSession, ProbeSettings, SessionSnapshot
from otel_genesys.core.scheduler import DriftScheduler, DriftSettings, first_slot_ns
from otel_genesys.core.sink import TelemetrySink
from otel_genesys.core.stall import StallLog
from otel_genesys.errors import ConnectionLostError, HandshakeError
from otel_genesys.genesys.channels import Channel, ChannelsClient
from otel_genesys.genesys.oauth import Token, TokenProvider
from otel_genesys.genesys.protocol import PING_TEXT, InboundKind
from otel_genesys.genesys.protocol import classify as classify_text
from otel_genesys.genesys.regions import endpoints_for
from otel_genesys.telemetry import names as n

log = logging.getLogger("otel_genesys.agent")

Target = NotificationTarget | GenericTarget

CHANNEL_EXPIRY_MARGIN_S = 300.0
"""Replace a channel this long before Genesys says it expires (24 h lifetime)."""

_WS_CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)

_WS_TIMEOUT = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0)
"""Every handshake's timeouts: one immutable value that each open socket refers to."""


def target_info(target: Target) -> TargetInfo:
    """The low-cardinality identity of a target (no channel ids, no paths)."""
    if isinstance(target, GenericTarget):
        url = URL(target.url)
        return TargetInfo(
            name=target.name,
            kind=TargetKind.GENERIC,
            server_address=url.host or "",
            server_port=url.port or (443 if url.scheme == "wss" else 80),
            url_scheme=url.scheme,
        )
    endpoints = endpoints_for(target.region, target.base_url)
    api = URL(endpoints.api_url)
    if target.base_url:
        host, port = api.host or "", api.port or 80
        scheme = "wss" if api.scheme == "https" else "ws"
    else:
        host = (api.host or "").replace("api.", "streaming.", 1)
        port, scheme = 443, "wss"
    return TargetInfo(
        name=target.name,
        kind=TargetKind.NOTIFICATION,
        server_address=host,
        server_port=port,
        url_scheme=scheme,
        region=target.region,
    )


@functools.lru_cache(maxsize=256)
def probe_settings(monitor: MonitorConfig) -> ProbeSettings:
    """The core's view of a target's monitoring knobs.

    Both are frozen values, so targets with equal monitoring knobs share one
    `ProbeSettings` instead of each connection holding a copy.
    """
    return ProbeSettings(
        max_latency_ns=monitor.max_latency_ns,
        max_jitter_ns=monitor.max_jitter_ns,
        fixed_timeout_ns=monitor.timeout_ns,
        timeout_min_ns=monitor.timeout_min_ns,
        timeout_max_ns=monitor.timeout_max_ns,
        timeout_initial_ns=min(max(monitor.timeout_min_ns, 1_000_000_000), monitor.timeout_max_ns),
        stability_window=monitor.stability_window,
        lag_limit_ns=monitor.lag_limit_ns,
        degraded_policy=monitor.degraded_policy,
    )


@dataclass(slots=True)
class Link:
    """One live WebSocket with what it was opened with."""

    ws: aiohttp.ClientWebSocketResponse
    channel: Channel | None
    token: Token | None
    opened_ns: int
    last_heartbeat_ns: int
    failure: Failure | None = None
    """Why the link ended (the first cause wins); ``None`` while it is up."""
    reader: asyncio.Task[None] | None = None
    retiring: bool = False
    heartbeats: int = 0
    last_sent: str | None = None
    """The last text frame written: shown when the peer closes with 1002."""
    last_received: str | None = None
    """The last text frame read."""
    tap: PongTap | None = None
    """Handles pongs and text as they are parsed while the reader waits (agent/pongtap.py)."""


@dataclass(slots=True)
class TargetStatus:
    """What the live view, health endpoint and ``check`` read about a target."""

    name: str
    state: ConnectionState = ConnectionState.CONNECTING
    reconnects: int = 0
    rollovers: int = 0
    heartbeats: int = 0
    last_error: str | None = None
    token_expires_at_ns: int | None = None
    connected_since_ns: int | None = None
    failures_by_cause: dict[str, int] = field(default_factory=dict)


class ConnectionMonitor:
    """Monitors one target until cancelled; never raises out of `run`."""

    # One monitor per connection: no per-instance __dict__ (~100 bytes each).
    __slots__ = (
        "_alarm", "_backoff", "_channels", "_clock", "_control", "_fifo", "_finished",
        "_last_send_ns", "_link", "_next_rollover_try_ns", "_refreshed", "_rollover_cause",
        "_rollover_task", "_scheduler", "_session", "_sink", "_stalls", "_stamped_arrival",
        "_stamps", "_standby", "_stopped", "_tasks", "_token_generation", "_tokens", "_watch",
        "anchor_ns", "info", "monitor", "phase_ns", "sessions", "status", "target",
    )  # fmt: skip

    def __init__(
        self,
        target: Target,
        *,
        session: aiohttp.ClientSession,
        sink: TelemetrySink,
        tokens: TokenProvider | None = None,
        stalls: StallLog | None = None,
        watch: StallWatch | None = None,
        clock: Callable[[], int] = time.perf_counter_ns,
        rng_seed: int | None = None,
    ) -> None:
        self.target = target
        self.info = target_info(target)
        self.monitor = target.monitor
        self._session = session
        self._sink = sink
        self._tokens = tokens
        self._clock = clock
        self._stamps: StampingSelector | None = None
        """The event loop's note of when it last woke from its wait for I/O, if it keeps
        one (`wakeclock.StampingEventLoop`) and this monitor reads the same clock."""
        self._last_send_ns = 0
        """When this monitor's last ping left (`_arrival_ns` checks the wake-up against it)."""
        self._stamped_arrival = False
        """Whether the arrival last handed to the parser is the kernel's receive stamp."""
        self._stalls = stalls
        self._watch = watch
        """Told of every ping sent and every outcome, so it watches the loop finely
        only while pings are in flight (see `StallWatch`)."""
        self.status = TargetStatus(name=target.name)
        modes: frozenset[ProbeMode] = (
            target.modes
            if isinstance(target, NotificationTarget)
            else frozenset({ProbeMode.CONTROL})
        )
        settings = probe_settings(self.monitor)
        nonce = uuid.uuid4().bytes[:6]
        self.sessions: dict[ProbeMode, ProbeSession] = {
            mode: ProbeSession(self.info, mode, settings, nonce=nonce, stalls=stalls)
            for mode in sorted(modes, key=lambda m: m.value)
        }
        self._fifo = self.sessions.get(ProbeMode.NOTIFICATION)
        self._control = self.sessions.get(ProbeMode.CONTROL)
        self._alarm = Alarm()
        """The probe loop's sleep; a pong that settles a ping moves it to the next slot."""
        self._scheduler: DriftScheduler | None = None
        # Seeded (tests) or the one shared generator: not ~2.5 KiB of state per connection.
        rng = random.Random(rng_seed) if rng_seed is not None else None
        self._backoff = Backoff(
            self.monitor.reconnect_base_ns, self.monitor.reconnect_cap_ns, rng=rng
        )
        self._channels: ChannelsClient | None = None
        if isinstance(target, NotificationTarget):
            self._channels = ChannelsClient(
                session, endpoints_for(target.region, target.base_url).channels_url, ssl=self._ssl()
            )
        self._link: Link | None = None
        self._standby: Link | None = None
        self.phase_ns = 0
        """Where within each interval this target probes. The agent staggers its targets
        across one interval so thousands of sockets do not ping in the same instant
        (a burst delays every pong behind it and the agent reports its own queue), in
        slots on the ``stagger_grid`` (`stagger_offset_ns`)."""
        self.anchor_ns: int | None = None
        """Clock time the slots count from (the agent's start). The first probe of each
        link goes out ``phase_ns`` after the connect; from the second on, the target
        probes on its slot of the agent's grid (``anchor + phase + k * interval``), so
        targets that share an offset share every slot, reconnects included. ``None``:
        the grid counts from the first probe of each link."""
        self._rollover_task: asyncio.Task[None] | None = None
        self._rollover_cause: str | None = None
        self._next_rollover_try_ns = 0
        self._token_generation: int | None = None
        self._refreshed = False
        # Rarely needed, so made on first use: an empty set is 216 bytes, an Event with
        # its waiter deque ~0.8 KiB, and there is one monitor per connection.
        self._tasks: set[asyncio.Task[None]] | None = None
        self._stopped: asyncio.Event | None = None
        self._finished = False

    # ------------------------------------------------------------------ public

    @property
    def stopped(self) -> asyncio.Event:
        """Set once `run` has returned (made on first use, already set if it has)."""
        if self._stopped is None:
            self._stopped = asyncio.Event()
            if self._finished:
                self._stopped.set()
        return self._stopped

    def snapshots(self) -> dict[ProbeMode, SessionSnapshot]:
        """Statistics of each probe mode (sorts bounded windows: not per probe)."""
        return {mode: s.snapshot() for mode, s in self.sessions.items()}

    async def run(self) -> None:
        """Connect, probe and reconnect until cancelled."""
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must not take the other targets down
            log.exception("monitor crashed", extra={"target": self.target.name})
            self._set_state(ConnectionState.FAILED)
        finally:
            self._abort_all()
            await self._close_links()
            self._set_state(ConnectionState.STOPPED)
            self._finished = True
            if self._stopped is not None:
                self._stopped.set()

    # ----------------------------------------------------------------- internals

    def _ssl(self) -> bool | ssl_module.SSLContext:
        return bool(self.monitor.verify_tls)

    def _set_state(self, state: ConnectionState) -> None:
        if self.status.state is not state:
            self.status.state = state
            self._sink.state(self.info, state)

    def _event(
        self,
        kind: AuditKind,
        attributes: tuple[tuple[str, AttrValue], ...] = (),
        sequence: int | None = None,
    ) -> None:
        self._sink.event(AuditEvent(kind, self.info, time.time_ns(), attributes, sequence))

    def _emit(self, outcomes: list[ProbeOutcome]) -> None:
        sink = self._sink
        for outcome in outcomes:
            sink.outcome(outcome)
        if self._watch is not None:
            self._watch.end(len(outcomes))

    def _abort_all(self) -> None:
        now = self._clock()
        for s in self.sessions.values():
            self._emit(s.abort(now))

    async def _run(self) -> None:
        while True:
            self._set_state(
                ConnectionState.CONNECTING
                if self.status.reconnects == 0
                else ConnectionState.RECONNECTING
            )
            try:
                link = await self._open_link()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._after_failure(classify(exc))
                continue
            self._link = link
            self.status.connected_since_ns = link.opened_ns
            self.status.last_error = None
            self._set_state(ConnectionState.CONNECTED)
            failure = await self._probe_loop()
            connected_for = self._clock() - (self.status.connected_since_ns or 0)
            if connected_for >= self.monitor.interval_ns:
                # The token held for a probe interval: a later 401/1008 may refresh again.
                # (Re-arming at connect let a server that closes 1008 at once drive a
                # refresh + reconnect loop with no backoff.)
                self._refreshed = False
            self.status.connected_since_ns = None
            self._abort_all()
            await self._close_links()
            if connected_for >= self.monitor.stable_reset_ns:
                self._backoff.reset()
            self._event(
                AuditKind.CONNECTION_LOST,
                (("cause", failure.cause), ("message", failure.message)),
            )
            await self._after_failure(failure)

    async def _after_failure(self, failure: Failure) -> None:
        """Record a failure and sleep the backoff it calls for."""
        st = self.status
        st.reconnects += 1
        st.failures_by_cause[failure.cause] = st.failures_by_cause.get(failure.cause, 0) + 1
        st.last_error = failure.message
        if failure.refresh_token and self._tokens is not None and not self._refreshed:
            # A 401 on the handshake or channel (or a policy close): the token may be
            # stale. One forced refresh, then retry at once; after that, back off.
            self._refreshed = True
            with contextlib.suppress(Exception):
                stale = self._token_generation
                await self._tokens.refresh(reason=failure.cause, stale_generation=stale)
                self._event(AuditKind.RECONNECT, self._reconnect_attrs(failure, 0))
                return
        if failure.needs_operator:
            self._set_state(ConnectionState.FAILED)
            delay_ns = self.monitor.operator_retry_ns
            self._event(AuditKind.AUTH_FAILURE, (("cause", failure.cause),))
            log.error(
                "%s: %s — needs an operator; retrying in %.0fs",
                self.target.name,
                failure.message,
                delay_ns / 1e9,
                extra={"target": self.target.name},
            )
        else:
            self._set_state(ConnectionState.RECONNECTING)
            delay_ns = self._backoff.next_delay_ns()
            if failure.retry_after_s is not None:
                delay_ns = max(delay_ns, int(failure.retry_after_s * 1e9))
            log.warning(
                "%s: %s — reconnecting in %.2fs",
                self.target.name,
                failure.message,
                delay_ns / 1e9,
                extra={"target": self.target.name},
            )
        self._event(AuditKind.RECONNECT, self._reconnect_attrs(failure, delay_ns))
        await asyncio.sleep(delay_ns / 1e9)

    def _reconnect_attrs(
        self, failure: Failure, delay_ns: int
    ) -> tuple[tuple[str, AttrValue], ...]:
        return (
            ("cause", failure.cause),
            ("attempt", self._backoff.attempt),
            ("backoff_s", delay_ns / 1e9),
        )

    # ------------------------------------------------------------ opening links

    async def _token(self) -> Token | None:
        if self._tokens is None:
            return None
        before = self._tokens.current()
        start = time.time_ns()
        try:
            token = await self._tokens.get()
        except Exception as exc:
            self._lifecycle(LifecycleStep.TOKEN_FETCH, start, classify(exc).cause)
            raise
        if before is None or before.generation != token.generation:
            self._lifecycle(LifecycleStep.TOKEN_FETCH, start, None)
        if self._token_generation is not None and token.generation != self._token_generation:
            self._event(AuditKind.TOKEN_REFRESH, (("generation", token.generation),))
        self.status.token_expires_at_ns = token.expires_at_ns
        return token

    def _lifecycle(
        self,
        step: LifecycleStep,
        start_wall_ns: int,
        error_type: str | None,
        attributes: tuple[tuple[str, AttrValue], ...] = (),
        phases: tuple[tuple[str, int], ...] = (),
    ) -> None:
        self._sink.lifecycle(
            LifecycleRecord(
                step, self.info, start_wall_ns, time.time_ns(), error_type, attributes, phases
            )
        )

    async def _open_link(self) -> Link:
        """Token → channel → subscribe → handshake (→ first message)."""
        token = await self._token()
        channel: Channel | None = None
        target = self.target
        if isinstance(target, NotificationTarget):
            assert self._channels is not None and token is not None
            start = time.time_ns()
            try:
                channel = await self._channels.create(token)
            except Exception as exc:
                self._lifecycle(LifecycleStep.CHANNEL_CREATE, start, classify(exc).cause)
                raise
            self._lifecycle(LifecycleStep.CHANNEL_CREATE, start, None)
            if target.topics:
                start = time.time_ns()
                try:
                    results = await self._channels.subscribe(token, channel.id, target.topics)
                except Exception as exc:
                    self._lifecycle(LifecycleStep.SUBSCRIBE, start, classify(exc).cause)
                    raise
                rejected = [r for r in results if r.state != "Permitted"]
                self._lifecycle(
                    LifecycleStep.SUBSCRIBE,
                    start,
                    "rejected" if rejected else None,
                    (("topics", len(results)), ("rejected", len(rejected))),
                )
                for r in rejected:
                    log.error(
                        "%s: topic %s rejected: %s (missing %s)",
                        target.name,
                        r.topic,
                        r.rejection_reason,
                        ", ".join(r.missing_permissions) or "-",
                        extra={"target": target.name},
                    )
            url = channel.connect_uri
            headers: dict[str, str] = {}
        else:
            url = target.url
            headers = dict(target.headers)
        ws = await self._handshake(url, headers)
        now = self._clock()
        link = Link(ws, channel, token, now, now)
        if isinstance(target, GenericTarget) and target.first_message is not None:
            try:
                link.last_sent = target.first_message
                await ws.send_str(target.first_message)
            except Exception:
                await ws.close()
                raise
        if token is not None:
            self._token_generation = token.generation
        control = self._control
        if self._stamps is None and self._clock is time.perf_counter_ns:
            self._stamps = loop_stamps(asyncio.get_running_loop())
        stamps = self._stamps
        link.tap = PongTap.attach(
            ws,
            functools.partial(self._on_pong, control) if control is not None else None,
            functools.partial(self._on_text, link),
            self._clock if stamps is None
            else functools.partial(self._arrival_ns, stamps, rx_stamps(ws)),
        )
        link.reader = asyncio.create_task(self._read(link), name=f"otel-genesys-read-{target.name}")
        return link

    async def _handshake(
        self, url: str, headers: dict[str, str]
    ) -> aiohttp.ClientWebSocketResponse:
        start = time.time_ns()
        with timing_phases(self._clock) as timer:
            try:
                ws = await self._session.ws_connect(
                    url,
                    autoping=False,  # we own pings and pongs: aiohttp would swallow the pongs
                    autoclose=True,
                    heartbeat=None,
                    # aiohttp refuses a message of exactly max_msg_size; the setting is
                    # the largest message accepted.
                    max_msg_size=self.monitor.max_message_bytes + 1,
                    headers=headers,
                    ssl=self._ssl(),
                    timeout=_WS_TIMEOUT,
                )
            except aiohttp.WSServerHandshakeError as exc:
                self._lifecycle(
                    LifecycleStep.HANDSHAKE, start, f"http_{exc.status}", phases=timer.phases()
                )
                if exc.status in (401, 403):
                    raise HandshakeError(
                        f"WebSocket handshake refused with {exc.status}", status=exc.status
                    ) from None
                raise
            except Exception as exc:
                self._lifecycle(
                    LifecycleStep.HANDSHAKE, start, classify(exc).cause, phases=timer.phases()
                )
                raise
            timer.stop()
        self._lifecycle(LifecycleStep.HANDSHAKE, start, None, phases=timer.phases())
        return ws

    # ------------------------------------------------------------------ reading

    async def _read(self, link: Link) -> None:
        """Route every inbound frame; record ``link.failure`` when the socket ends."""
        ws = link.ws
        clock = self._clock
        control = self._control
        failure: Failure | None = None
        pong_type = aiohttp.WSMsgType.PONG
        text_type = aiohttp.WSMsgType.TEXT
        tap = link.tap
        try:
            while True:
                if tap is not None and tap.idle():
                    await tap.wait()  # pongs and text are handled meanwhile, as they arrive
                msg = await ws.receive()
                now = clock()  # first thing on arrival: this is the pong's timestamp
                self._stamped_arrival = False
                typ = msg.type
                if typ is pong_type:
                    if control is not None:
                        self._on_pong(control, msg.data, now)
                elif typ is text_type:
                    self._on_text(link, msg.data, now)
                elif typ is aiohttp.WSMsgType.PING:
                    await ws.pong(msg.data)
                elif typ is aiohttp.WSMsgType.BINARY:
                    self._event(AuditKind.PROTOCOL_ERROR, (("reason", "binary_frame"),))
                elif typ in _WS_CLOSED:
                    failure = classify_close(ws.close_code)
                    if failure.cause == "close_1002":
                        # What we sent and read last goes with the failure into the
                        # connection_lost audit event, the log and the live view.
                        failure = with_frames(failure, link.last_sent, link.last_received)
                    break
                elif typ is aiohttp.WSMsgType.ERROR:
                    exc = msg.data
                    code = getattr(exc, "code", None) or ws.close_code
                    failure = classify_close(code) if code else classify(exc)
                    break
        except asyncio.CancelledError:
            failure = Failure("stopped", "stopped")
            raise
        except Exception as exc:
            failure = classify(exc)
        finally:
            self._lose(link, failure or Failure("network", "connection ended"))

    def _lose(self, link: Link, failure: Failure) -> None:
        """``link`` has ended (the first cause wins); the probe loop, if it drives it, returns."""
        if link.failure is None:
            link.failure = failure
            if link is self._link:
                self._alarm.wake()

    def _arrival_ns(self, stamps: StampingSelector, rx: StampedSocket | None) -> int:
        """When the data being parsed reached the agent (see `wakeclock`).

        The kernel's receive stamp of the newest data its socket's last read returned,
        when the socket has one that lies between this monitor's last ping and now.
        Otherwise the event loop's wake-up that reported the socket readable (before any
        callback of that wake-up ran), unless a ping of this monitor left after it: its
        pong may have come later, so then the time of reading."""
        sent = self._last_send_ns
        if rx is not None:
            at = rx.rx_ns()
            if sent <= at <= self._clock():
                self._stamped_arrival = True
                return at
        self._stamped_arrival = False
        woke = stamps.woke_ns
        return woke if woke >= sent else self._clock()

    def _on_pong(self, session: ProbeSession, payload: bytes | None, now: int) -> None:
        result = session.pong(payload, now, self._stamped_arrival)
        if result.outcome is not None:
            self._sink.outcome(result.outcome)
            if self._watch is not None:
                self._watch.end()
            self._reschedule()
        elif result.kind is not PongKind.MATCHED:
            kind = {
                PongKind.LATE: AuditKind.LATE_PONG,
                PongKind.DUPLICATE: AuditKind.DUPLICATE_PONG,
                PongKind.UNSOLICITED: AuditKind.UNSOLICITED_PONG,
            }[result.kind]
            self._event(kind, ((n.PROBE_MODE, session.mode.value),), result.sequence)

    def _reschedule(self) -> None:
        """A ping was settled: the loop need not wake before the next slot or deadline."""
        scheduler = self._scheduler
        if scheduler is None or not self._alarm.waiting:
            return
        wake = scheduler.next_fire_ns()
        for s in self.sessions.values():
            deadline = s.next_deadline_ns()
            if deadline is not None and deadline < wake:
                wake = deadline
        self._alarm.postpone((wake - self._clock()) / 1e9)

    def _on_text(self, link: Link, text: str, now: int) -> None:
        link.last_received = text
        inbound = classify_text(text)
        kind = inbound.kind
        if kind is InboundKind.PONG:
            if self._fifo is not None:
                self._on_pong(self._fifo, None, now)
        elif kind is InboundKind.HEARTBEAT:
            link.last_heartbeat_ns = now
            link.heartbeats += 1
            self.status.heartbeats += 1
            self._sink.heartbeat(self.info)
        elif kind is InboundKind.SOCKET_CLOSING:
            if not link.retiring:
                self._event(AuditKind.SOCKET_CLOSING)
                self._request_rollover("socket_closing")
        elif kind is InboundKind.TOKEN_REVOKED:
            self._event(AuditKind.PROTOCOL_ERROR, (("reason", "token_revoked"),))
            if self._tokens is not None:
                self._request_rollover("token_revoked")
        elif kind is InboundKind.INVALID and isinstance(self.target, NotificationTarget):
            self._event(AuditKind.PROTOCOL_ERROR, (("reason", inbound.detail or "invalid"),))

    # ------------------------------------------------------------------ probing

    async def _probe_loop(self) -> Failure:
        """Probe the current link until it is lost and return why; follow rollovers.

        Runs in the monitor's task: a task per connection fewer (~1.3 KiB each) than
        a loop of its own. `_lose` wakes it when the link it drives ends.
        """
        clock = self._clock
        monitor = self.monitor
        drift = monitor.drift
        scheduler = DriftScheduler(
            monitor.interval_ns,
            clock() + self.phase_ns,
            DriftSettings(drift.enabled, drift.max_drift_ns, drift.adjust_factor),
        )
        # After the link's first probe, the target joins its slot on the agent's grid.
        anchor = self.anchor_ns
        self._scheduler = scheduler
        sessions = tuple(self.sessions.values())
        alarm = self._alarm
        heartbeat_limit = int(monitor.heartbeat_interval_ns * monitor.heartbeat_miss_factor)
        watch_heartbeat = isinstance(self.target, NotificationTarget)
        while True:
            link = self._link
            assert link is not None
            if link.failure is not None:
                # Before any expiry: pings in flight on a lost link end ABORTED.
                return link.failure
            wake = scheduler.next_fire_ns()
            for s in sessions:
                deadline = s.next_deadline_ns()
                if deadline is not None and deadline < wake:
                    wake = deadline
            delay = wake - clock()
            if delay > 0:
                await alarm.sleep(delay / 1e9)
                if link is not self._link or link.failure is not None:
                    continue
            now = clock()
            for s in sessions:
                expired = s.expire(now)
                if expired:
                    self._emit(expired)
            if now < scheduler.next_fire_ns():
                continue
            tick = scheduler.fire(now)
            if anchor is not None:
                scheduler.move_to(
                    first_slot_ns(
                        now + monitor.probe_frequency_limit_ns,
                        anchor,
                        self.phase_ns,
                        monitor.interval_ns,
                    )
                )
                anchor = None
            if tick.skipped:
                self._event(
                    AuditKind.DRIFT_CORRECTION,
                    (("skipped", tick.skipped), ("lateness_s", tick.lateness_ns / 1e9)),
                )
            if watch_heartbeat and now - link.last_heartbeat_ns > heartbeat_limit:
                self._event(
                    AuditKind.HEARTBEAT_MISSED,
                    (("silence_s", (now - link.last_heartbeat_ns) / 1e9),),
                )
                self._lose(link, Failure("heartbeat", "no server heartbeat"))
                continue
            self._check_rollover(now)
            link = self._maybe_switch(link)
            await self._send_pings(link, tick.lateness_ns)

    async def _send_pings(self, link: Link, lateness_ns: int) -> None:
        ws = link.ws
        clock = self._clock
        watch = self._watch
        for mode, session in self.sessions.items():
            sent = self._last_send_ns = clock()
            ticket = session.send(sent, time.time_ns(), lateness_ns)
            if watch is not None:
                watch.begin()
            try:
                if mode is ProbeMode.CONTROL:
                    await ws.ping(ticket.payload)
                else:
                    link.last_sent = PING_TEXT
                    await ws.send_str(PING_TEXT)
            except Exception as exc:  # the ping stays outstanding and is aborted with the link
                self._lose(link, classify(ConnectionLostError(str(exc) or "send failed")))
                return
            if watch is not None and self._stamps is not None:
                session.wrote(ticket, clock())  # a stamped pong's stall window ends here

    # ---------------------------------------------------------------- rollover

    def _check_rollover(self, now: int) -> None:
        link = self._link
        if link is None or self._rollover_task is not None or self._standby is not None:
            return
        if now < self._next_rollover_try_ns:
            return
        if link.channel is not None and link.channel.expires_at_wall is not None:
            remaining = (link.channel.expires_at_wall - datetime.now(UTC)).total_seconds()
            if remaining < CHANNEL_EXPIRY_MARGIN_S:
                self._request_rollover("channel_expiry")
                return
        if link.token is not None and now >= link.token.refresh_at_ns:
            self._request_rollover("token_refresh")

    def _request_rollover(self, cause: str) -> None:
        if self._rollover_task is not None or self._standby is not None:
            return
        self._rollover_cause = cause
        self._rollover_task = asyncio.create_task(self._prepare_standby(cause))

    async def _prepare_standby(self, cause: str) -> None:
        try:
            if cause == "token_revoked" and self._tokens is not None:
                await self._tokens.refresh(reason=cause, stale_generation=self._token_generation)
            standby = await self._open_link()
        except Exception as exc:
            failure = classify(exc)
            self._event(
                AuditKind.CHANNEL_ROLLOVER, (("cause", cause), ("error.type", failure.cause))
            )
            log.warning(
                "%s: could not open replacement channel (%s): %s",
                self.target.name,
                cause,
                failure.message,
                extra={"target": self.target.name},
            )
            self._next_rollover_try_ns = self._clock() + self._backoff.peek_ceiling_ns()
        else:
            if self._link is None or self._link.failure is not None:
                # The old link died meanwhile: the standby becomes the link right away.
                await self._retire(standby, 0.0)
            else:
                self._standby = standby
        finally:
            self._rollover_task = None

    def _maybe_switch(self, link: Link) -> Link:
        standby = self._standby
        if standby is None:
            return link
        if standby.failure is not None:
            self._standby = None
            self._background(self._retire(standby, 0.0))
            return link
        if self._fifo is not None and self._fifo.outstanding:
            return link  # FIFO pongs cannot be told apart across links: wait for quiet
        self._standby = None
        self._link = standby
        link.retiring = True
        if self._fifo is not None:
            # A ghost of a timed-out ping would swallow the new link's first pong.
            self._fifo.drop_ghosts()
        self.status.rollovers += 1
        cause = self._rollover_cause or "rollover"
        self._event(AuditKind.CHANNEL_ROLLOVER, (("cause", cause),))
        grace = max((s.snapshot().rto_ns for s in self.sessions.values()), default=0) / 1e9
        self._background(self._retire(link, grace + 0.5))
        self._lose(link, Failure("rollover", cause))
        return standby

    def _background(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retire(self, link: Link, after_s: float) -> None:
        if after_s > 0:
            await asyncio.sleep(after_s)
        await self._close_link(link)

    async def _close_link(self, link: Link) -> None:
        if link.tap is not None:
            link.tap.detach()  # close() reads the queue itself from here on
        with contextlib.suppress(Exception):
            await asyncio.wait_for(link.ws.close(), 2.0)
        if link.reader is not None and not link.reader.done():
            link.reader.cancel()
            with contextlib.suppress(BaseException):
                await link.reader

    async def _close_links(self) -> None:
        task = self._rollover_task
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            self._rollover_task = None
        for link in (self._link, self._standby):
            if link is not None:
                await self._close_link(link)
        for task in list(self._tasks or ()):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        self._link = None
        self._standby = None

    def describe(self) -> dict[str, Any]:
        """Plain data for the status endpoint and ``--json`` summaries."""
        st = self.status
        return {
            "target": st.name,
            "state": st.state.value,
            "reconnects": st.reconnects,
            "rollovers": st.rollovers,
            "heartbeats": st.heartbeats,
            "last_error": st.last_error,
            "failures": dict(st.failures_by_cause),
        }
