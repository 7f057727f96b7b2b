"""Pytest fixtures around the OTLP receiver and in-memory telemetry.

Import them into a conftest::

    from tests.support.fixtures import memory_telemetry, otlp_receiver  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genesys.telemetry import Recorder, Telemetry, TelemetrySettings, setup_telemetry

from .otlp_receiver import OtlpReceiver


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """A started gRPC + HTTP OTLP receiver on 127.0.0.1 (ephemeral ports)."""
    receiver = OtlpReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@dataclass
class MemoryTelemetry:
    """A :class:`Telemetry` whose spans and metrics stay in memory."""

    telemetry: Telemetry
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    @property
    def recorder(self) -> Recorder:
        return self.telemetry.recorder

    def flush(self) -> None:
        """Process everything the recorder queued and push spans to the exporter."""
        assert self.telemetry.force_flush(5.0)


def make_memory_telemetry(settings: TelemetrySettings | None = None) -> MemoryTelemetry:
    """Build a :class:`MemoryTelemetry` (the fixture uses the default settings)."""
    spans = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    telemetry = setup_telemetry(
        settings or TelemetrySettings(exporter="none", drain_interval_s=0.01),
        span_exporter=spans,
        metric_reader=reader,
    )
    return MemoryTelemetry(telemetry, spans, reader)


@pytest.fixture
def memory_telemetry() -> Iterator[MemoryTelemetry]:
    """Telemetry with InMemorySpanExporter + InMemoryMetricReader; shut down afterwards."""
    mt = make_memory_telemetry()
    try:
        yield mt
    finally:
        mt.telemetry.shutdown(5.0)
