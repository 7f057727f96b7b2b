"""The local HTTP endpoint for probes and dashboards: health, readiness, status, metrics.

`HealthServer` is an aiohttp server on the agent's own event loop:

- ``GET /healthz`` — 200 while the process is alive and its event loop
  responsive (the stall-watch ticker ran within the last two seconds); 503
  otherwise. A blocked loop cannot answer at all, which a probe with a timeout
  reads as a failure too. For a Kubernetes ``livenessProbe``.
- ``GET /readyz`` — 200 when at least one target is connected and, for
  Genesys notification targets, holds an unexpired token; else 503 with the
  reasons. For a ``readinessProbe``.
- ``GET /status`` — JSON per target: state, counters, RTT statistics, token
  expiry, last error (secrets scrubbed).
- ``GET /metrics`` — the Prometheus text exposition of the agent's metrics,
  when a `PrometheusExposition` is given (``[health] prometheus = true``).

It binds to loopback by default; binding another address logs a warning,
since ``/status`` tells whoever can reach it which targets exist and how they
fail.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from otel_genesys.config import NotificationTarget
from otel_genesys.core.events import ConnectionState

if TYPE_CHECKING:
    from otel_genesys.agent.monitor import ConnectionMonitor
    from otel_genesys.agent.supervisor import Agent

log = logging.getLogger("otel_genesys.agent.health")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
LOOP_RESPONSIVE_S = 2.0
"""``/healthz`` fails when the stall-watch ticker has not run for this long."""


def parse_listen(text: str, default_host: str = DEFAULT_HOST) -> tuple[str, int]:
    """``[HOST:]PORT`` (``8787``, ``0.0.0.0:8787``, ``[::1]:8787``) as ``(host, port)``.

    >>> parse_listen("8787"), parse_listen("0.0.0.0:9000"), parse_listen("[::1]:0")
    (('127.0.0.1', 8787), ('0.0.0.0', 9000), ('::1', 0))
    """
    raw = text.strip()
    host = default_host
    port_text = raw
    if raw.startswith("["):
        end = raw.find("]:")
        if end < 0:
            raise ValueError(f"{text!r}: expected [IPv6]:PORT")
        host, port_text = raw[1:end], raw[end + 2 :]
    elif ":" in raw:
        host, _, port_text = raw.rpartition(":")
        host = host or default_host
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65_535:
        raise ValueError(f"{text!r}: the port must be a number from 0 to 65535")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PrometheusExposition:
    """An OTel Prometheus pull reader with a registry of its own.

    Give ``reader`` to the meter provider (``start_telemetry(...,
    extra_metric_readers=[exposition.reader])``) and the server calls
    `render` for ``/metrics``. A private registry (not prometheus_client's
    global one) lets several agents — and tests — live in one process.
    """

    def __init__(self) -> None:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

        self.registry = CollectorRegistry(auto_describe=False)
        self.reader = PrometheusMetricReader(registry=self.registry)
        self.content_type: str = CONTENT_TYPE_LATEST

    def render(self) -> bytes:
        """The current metrics in the Prometheus text format (collects from the SDK)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


@dataclass(frozen=True, slots=True)
class TargetReadiness:
    """Whether one target counts towards readiness, and why not."""

    target: str
    ready: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Readiness:
    """The agent is ready when at least one target is."""

    ready: bool
    targets: tuple[TargetReadiness, ...] = ()
    reasons: tuple[str, ...] = field(default=())


def target_readiness(monitor: ConnectionMonitor, now_ns: int) -> TargetReadiness:
    """Connected and, for a notification target, holding an unexpired token."""
    st = monitor.status
    name = st.name
    if st.state is not ConnectionState.CONNECTED:
        why = f"{name}: {st.state.value}"
        if st.last_error:
            why += f" ({_scrub(st.last_error)})"
        return TargetReadiness(name, False, why)
    if isinstance(monitor.target, NotificationTarget):
        expires = st.token_expires_at_ns
        if expires is None:
            return TargetReadiness(name, False, f"{name}: no access token")
        if expires <= now_ns:
            return TargetReadiness(name, False, f"{name}: access token expired")
    return TargetReadiness(name, True)


def readiness(agent: Agent, now_ns: int) -> Readiness:
    """`Readiness` of the agent at ``now_ns`` (``time.perf_counter_ns``, the token clock)."""
    per_target = tuple(target_readiness(m, now_ns) for m in agent.monitors)
    ready = any(t.ready for t in per_target)
    reasons = tuple(t.reason for t in per_target if t.reason is not None)
    if not per_target:
        reasons = ("no target is being monitored yet",)
    return Readiness(ready, per_target, reasons if not ready else ())


def _scrub(text: str) -> str:
    from otel_genesys.telemetry.logs import scrub

    return scrub(text)


def status_document(agent: Agent, now_ns: int) -> dict[str, Any]:
    """The ``/status`` body: `Agent.status` per target plus connection details."""
    ready = readiness(agent, now_ns)
    by_name = {t.target: t for t in ready.targets}
    targets = []
    for monitor, entry in zip(agent.monitors, agent.status(), strict=True):
        st = monitor.status
        info = monitor.info
        entry = dict(entry)
        if entry.get("last_error"):
            entry["last_error"] = _scrub(str(entry["last_error"]))
        entry["kind"] = info.kind.value
        entry["server_address"] = info.server_address
        entry["server_port"] = info.server_port
        entry["region"] = info.region
        entry["connected_for_s"] = (
            None
            if st.connected_since_ns is None
            else round((now_ns - st.connected_since_ns) / 1e9, 3)
        )
        entry["token_expires_in_s"] = (
            None
            if st.token_expires_at_ns is None
            else round((st.token_expires_at_ns - now_ns) / 1e9, 3)
        )
        tr = by_name.get(st.name)
        entry["ready"] = bool(tr and tr.ready)
        targets.append(entry)
    stall = agent.stall
    return {
        "ready": ready.ready,
        "uptime_s": round((now_ns - agent.started_ns) / 1e9, 3) if agent.started_ns else 0.0,
        "loop": {
            "responsive": stall.loop_responsive(now_ns, LOOP_RESPONSIVE_S),
            "worst_lag_ms": round(stall.worst_lag_ns / 1e6, 3),
            "gc_pauses": stall.gc_pauses,
        },
        "callback_errors": agent.callback_errors,
        "targets": targets,
    }


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body, separators=(",", ":"), default=str),
        status=status,
        content_type="application/json",
    )


class HealthServer:
    """Serves ``/healthz``, ``/readyz``, ``/status`` (and ``/metrics``) for an `Agent`.

    >>> # server = HealthServer(agent, port=0); await server.start(); server.url
    """

    def __init__(
        self,
        agent: Agent,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        prometheus: PrometheusExposition | None = None,
        clock: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self.agent = agent
        self.host = host
        self.requested_port = port
        self.prometheus = prometheus
        self._clock = clock
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        if self._port is None:
            raise RuntimeError("HealthServer is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def app(self) -> web.Application:
        """The aiohttp application (routes only; no server)."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/status", self._status)
        if self.prometheus is not None:
            app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> None:
        """Listen; raises OSError when the address cannot be bound."""
        if self._runner is not None:
            return
        if not is_loopback(self.host):
            log.warning(
                "health endpoint listening on %s:%d, reachable from other machines: "
                "/status names every target and its errors",
                self.host,
                self.requested_port,
            )
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.requested_port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        addresses = runner.addresses
        self._port = int(addresses[0][1]) if addresses else self.requested_port
        log.info(
            "health endpoint at %s (/healthz /readyz /status%s)",
            self.url,
            " /metrics" if self.prometheus is not None else "",
        )

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> HealthServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------- handlers

    async def _healthz(self, request: web.Request) -> web.Response:
        now = self._clock()
        stall = self.agent.stall
        alive = stall.loop_responsive(now, LOOP_RESPONSIVE_S)
        body = {
            "status": "ok" if alive else "unhealthy",
            "loop_responsive": alive,
            "worst_lag_ms": round(stall.worst_lag_ns / 1e6, 3),
        }
        if not alive:
            body["reason"] = (
                "agent not started" if not stall.last_tick_ns else "event loop not responsive"
            )
        return _json(body, 200 if alive else 503)

    async def _readyz(self, request: web.Request) -> web.Response:
        r = readiness(self.agent, self._clock())
        body: dict[str, Any] = {
            "status": "ready" if r.ready else "not ready",
            "ready_targets": [t.target for t in r.targets if t.ready],
        }
        if not r.ready:
            body["reasons"] = list(r.reasons)
        return _json(body, 200 if r.ready else 503)

    async def _status(self, request: web.Request) -> web.Response:
        return _json(status_document(self.agent, self._clock()))

    async def _metrics(self, request: web.Request) -> web.Response:
        assert self.prometheus is not None
        # Collection walks every metric stream: keep it off the probe loop.
        body = await asyncio.to_thread(self.prometheus.render)
        return web.Response(body=body, headers={"Content-Type": self.prometheus.content_type})
