"""Many targets in one process: the `Agent`.

The agent owns the shared HTTP session, one token provider per OAuth client,
one `ConnectionMonitor` per target (each in its own task, so a failing target
never disturbs the others), the stall watch, and an orderly shutdown: stop
probing, settle every outstanding ping as aborted, flush telemetry, exit
within a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp

from otel_genesys.agent.handshake_trace import handshake_trace_config
from otel_genesys.agent.monitor import ConnectionMonitor, Target
from otel_genesys.agent.stall import StallWatch
from otel_genesys.config import MonitorConfig, NotificationTarget
from otel_genesys.core.events import AuditEvent, ConnectionState, LifecycleRecord
from otel_genesys.core.outcome import ProbeOutcome, TargetInfo
from otel_genesys.core.scheduler import stagger_offset_ns
from otel_genesys.core.sink import FanoutSink, NullSink, TelemetrySink
from otel_genesys.genesys.oauth import TokenCache
from otel_genesys.genesys.regions import endpoints_for

log = logging.getLogger("otel_genesys.agent")

OutcomeCallback = Callable[[ProbeOutcome], Any]


class _CallbackSink(NullSink):
    """Calls library users' callbacks inline; their errors are isolated and counted."""

    def __init__(self) -> None:
        self.callbacks: list[OutcomeCallback] = []
        self.errors = 0

    def outcome(self, outcome: ProbeOutcome) -> None:
        for cb in self.callbacks:
            try:
                cb(outcome)
            except Exception:
                self.errors += 1
                if self.errors == 1 or self.errors % 1000 == 0:
                    log.exception("outcome callback failed (%d failures so far)", self.errors)


class Agent:
    """Monitors a set of targets until stopped.

    >>> # agent = Agent(load_config().targets, sink=telemetry.recorder)
    >>> # agent.on_outcome(lambda o: print(o.target.name, o.rtt_s))
    >>> # await agent.run()
    """

    def __init__(
        self,
        targets: Iterable[Target],
        *,
        sink: TelemetrySink | None = None,
        on_lag: Callable[[float], None] | None = None,
        on_gc: Callable[[float], None] | None = None,
        on_oauth_request: Callable[[Any], None] | None = None,
    ) -> None:
        self.targets = tuple(targets)
        self._callbacks = _CallbackSink()
        self.sink: TelemetrySink = FanoutSink([s for s in (sink, self._callbacks) if s is not None])
        self.stall = StallWatch(on_lag=on_lag, on_gc=on_gc)
        self._on_oauth_request = on_oauth_request
        self.monitors: list[ConnectionMonitor] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._stopped = asyncio.Event()
        self.started_ns = 0

    def on_outcome(self, callback: OutcomeCallback) -> None:
        """Register a callback called with every `ProbeOutcome` (the APM hook)."""
        self._callbacks.callbacks.append(callback)

    @property
    def callback_errors(self) -> int:
        return self._callbacks.errors

    async def start(self) -> None:
        """Open the shared session and start one monitor task per target."""
        if self._session is not None:
            return
        self.started_ns = time.perf_counter_ns()
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector, trace_configs=[handshake_trace_config()]
        )
        self.stall.start()
        caches: dict[tuple[bool, float, int], TokenCache] = {}
        for target in self.targets:
            if not target.monitor.verify_tls:
                log.warning(
                    "%s: TLS certificate verification is OFF (verify_tls = false); "
                    "the connection can be intercepted",
                    target.name,
                    extra={"target": target.name},
                )
            provider = None
            if isinstance(target, NotificationTarget):
                endpoints = endpoints_for(target.region, target.base_url)
                m = target.monitor
                # One cache per token setting, never the first target's for all: a target
                # with verify_tls = false must not send another target's secret unverified.
                key = (m.verify_tls, m.token_refresh_ratio, m.token_max_age_ns)
                if key not in caches:
                    caches[key] = self._token_cache(self._session, m)
                provider = caches[key].provider(
                    endpoints.token_url, target.oauth.client_id, target.oauth.client_secret
                )
            m_interval = target.monitor.interval_ns
            monitor = ConnectionMonitor(
                target,
                session=self._session,
                sink=self.sink,
                tokens=provider,
                stalls=self.stall.log,
                watch=self.stall,
            )
            # Evenly staggered probes: target i of N probes i/N of an interval after the
            # agent's start, rounded down to the stagger grid (targets on one step share
            # a slot, and the loop one wake-up for their pings).
            monitor.phase_ns = stagger_offset_ns(
                len(self.monitors), len(self.targets), m_interval, target.monitor.stagger_grid_ns
            )
            monitor.anchor_ns = self.started_ns
            self.monitors.append(monitor)
            self._tasks.append(
                asyncio.create_task(monitor.run(), name=f"otel-genesys-monitor-{target.name}")
            )

    def _token_cache(self, session: aiohttp.ClientSession, monitor: MonitorConfig) -> TokenCache:
        kwargs: dict[str, Any] = {
            "refresh_ratio": monitor.token_refresh_ratio,
            "max_age_s": monitor.token_max_age_ns / 1e9,
            "ssl": monitor.verify_tls,
        }
        if self._on_oauth_request is not None:
            kwargs["on_request"] = self._on_oauth_request
        return TokenCache(session, **kwargs)

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Stop probing; outstanding pings are settled as aborted."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout_s)
        self._tasks.clear()
        self.stall.stop()
        if self._session is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._session.close(), timeout_s)
            self._session = None
        self._stopped.set()

    async def run(self, *, install_signal_handlers: bool = True) -> None:
        """Start, then run until SIGINT/SIGTERM (or `request_stop`), then stop."""
        await self.start()
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        if install_signal_handlers:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self.request_stop)
                    installed.append(sig)
        try:
            await self._stop_requested()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self.stop()

    _stop_request: asyncio.Event | None = None

    def request_stop(self) -> None:
        """Ask `run` to return (safe from a signal handler)."""
        if self._stop_request is None:
            self._stop_request = asyncio.Event()
        self._stop_request.set()

    async def _stop_requested(self) -> None:
        if self._stop_request is None:
            self._stop_request = asyncio.Event()
        await self._stop_request.wait()

    def status(self) -> list[dict[str, Any]]:
        """Per-target state and statistics (plain data)."""
        out = []
        for m in self.monitors:
            d = m.describe()
            d["modes"] = {mode.value: _snapshot_dict(snap) for mode, snap in m.snapshots().items()}
            out.append(d)
        return out

    def connected(self) -> list[ConnectionMonitor]:
        return [m for m in self.monitors if m.status.state is ConnectionState.CONNECTED]


def _snapshot_dict(snap: Any) -> dict[str, Any]:
    c = snap.counters

    def ms(ns: int | None) -> float | None:
        return None if ns is None else round(ns / 1e6, 3)

    return {
        "sent": c.sent,
        "ok": c.ok,
        "timeout": c.timeout,
        "aborted": c.aborted,
        "late": c.late,
        "duplicate": c.duplicate,
        "unsolicited": c.unsolicited,
        "degraded": c.degraded,
        "outstanding": snap.outstanding,
        "last_rtt_ms": ms(snap.last_rtt_ns),
        "p50_rtt_ms": ms(snap.p50_rtt_ns),
        "p99_rtt_ms": ms(snap.p99_rtt_ns),
        "jitter_ms": ms(snap.jitter_ns),
        "jitter_rfc3550_ms": ms(snap.jitter_rfc3550_ns),
        "stability": snap.stability,
        "stability_lifetime": snap.stability_lifetime,
        "rto_ms": ms(snap.rto_ns),
    }


__all__ = ["Agent", "AuditEvent", "LifecycleRecord", "OutcomeCallback", "TargetInfo"]
