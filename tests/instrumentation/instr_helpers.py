"""Helpers of the instrumentation tests."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genesys.genesys.protocol import PONG_TEXT
from otel_genesys.instrumentation import GenesysWebSocketInstrumentor, flush_all
from otel_genesys.telemetry import names as n
from tests.support.loopback import serve


@dataclass
class Instrumented:
    """An instrumentor plus the in-memory providers it reports to."""

    instrumentor: GenesysWebSocketInstrumentor
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def instrument(self, **kwargs: Any) -> None:
        kwargs.setdefault("hosts", ["127.0.0.1"])
        self.instrumentor.instrument(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **kwargs
        )

    def probe_spans(self) -> list[ReadableSpan]:
        """Every probe span exported so far (after draining the recorder)."""
        assert flush_all(5.0)
        return [s for s in self.spans.get_finished_spans() if s.name == n.SPAN_PROBE]

    def by_mode(self, mode: str) -> list[ReadableSpan]:
        return [s for s in self.probe_spans() if s.attributes[n.PROBE_MODE] == mode]

    def metric_points(self, name: str) -> list[Any]:
        """Data points of one metric (all attribute sets)."""
        flush_all(5.0)
        data = self.reader.get_metrics_data()
        points: list[Any] = []
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points


@dataclass
class EchoServer:
    """A loopback WebSocket server that plays the Genesys streaming host.

    Text ``{"message":"ping"}`` → the ``channel.metadata`` pong; ``close:<code>`` →
    close with that code; any other text is echoed. RFC 6455 pings are answered
    (unless ``answer_pings`` is False). Pings received are recorded.
    """

    runner: web.AppRunner
    port: int
    answer_pings: bool = True
    pings: list[bytes] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def url(self, host: str = "127.0.0.1", path: str = "/channels/abc") -> str:
        return f"ws://{host}:{self.port}{path}"


async def start_echo_server() -> EchoServer:
    holder: list[EchoServer] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        server = holder[0]
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.PING:
                server.pings.append(bytes(msg.data))
                if server.answer_pings:
                    await ws.pong(msg.data)
            elif msg.type is WSMsgType.TEXT:
                server.texts.append(msg.data)
                if msg.data.replace(" ", "") == '{"message":"ping"}':
                    await ws.send_str(PONG_TEXT)
                elif msg.data.startswith("close:"):
                    await ws.close(code=int(msg.data[6:]))
                else:
                    await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner, port = await serve(app)
    server = EchoServer(runner, port)
    holder.append(server)
    return server


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds (a generous bound)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def outcome_of(call: Awaitable[object]) -> str:
    """``"ok"`` or the exception's class and message: what the app would meet."""
    try:
        await call
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"
