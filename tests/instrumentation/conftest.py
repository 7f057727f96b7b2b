"""Fixtures for the instrumentation tests: in-memory providers, a loopback WebSocket server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from instr_helpers import EchoServer, Instrumented, start_echo_server
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genesys.instrumentation import GenesysWebSocketInstrumentor, shutdown_all
from tests.support.fixtures import otlp_receiver

__all__ = ["otlp_receiver"]


@pytest.fixture
def instrumented() -> Iterator[Instrumented]:
    """Fresh providers; instrument with them via ``.instrument(**kw)``; undone afterwards."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    inst = Instrumented(
        GenesysWebSocketInstrumentor(), tracer_provider, meter_provider, spans, reader
    )
    try:
        yield inst
    finally:
        if inst.instrumentor.is_instrumented_by_opentelemetry:
            inst.instrumentor.uninstrument()
        shutdown_all(5.0)
        tracer_provider.shutdown()
        meter_provider.shutdown()


@pytest.fixture
async def echo_server() -> AsyncIterator[EchoServer]:
    """A Genesys-like WebSocket server on 127.0.0.1 (see `start_echo_server`)."""
    server = await start_echo_server()
    try:
        yield server
    finally:
        await server.runner.cleanup()
