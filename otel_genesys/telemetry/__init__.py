"""OpenTelemetry side of otel-genesys: providers, exporters, names and the recorder.

Typical use (the CLI does this)::

    from otel_genesys.telemetry import TelemetrySettings, setup_telemetry

    telemetry = setup_telemetry(TelemetrySettings(exporter="otlp", endpoint="http://collector:4317"))
    monitor = ConnectionMonitor(..., sink=telemetry.recorder)
    ...
    telemetry.shutdown(timeout_s=5.0)

Everything OTel-specific stays inside this package; the agent only sees the
:class:`~otel_genesys.core.sink.TelemetrySink` methods of :class:`Recorder`.
"""

from __future__ import annotations

from otel_genesys.telemetry.callbacks import ApmTuple, CallbackSink, apm_tuple
from otel_genesys.telemetry.export_health import ExportHealth
from otel_genesys.telemetry.gctune import gc_tune
from otel_genesys.telemetry.logs import (
    RedactingFilter,
    configure_logging,
    register_secret,
    scrub,
    unregister_secret,
)
from otel_genesys.telemetry.recorder import Recorder
from otel_genesys.telemetry.sampling import SpanSampler, is_anomalous
from otel_genesys.telemetry.settings import TelemetrySettings
from otel_genesys.telemetry.setup import Telemetry, resolve_route, setup_telemetry

__all__ = [
    "ApmTuple",
    "CallbackSink",
    "ExportHealth",
    "Recorder",
    "RedactingFilter",
    "SpanSampler",
    "Telemetry",
    "TelemetrySettings",
    "apm_tuple",
    "configure_logging",
    "gc_tune",
    "is_anomalous",
    "register_secret",
    "resolve_route",
    "scrub",
    "setup_telemetry",
    "unregister_secret",
]
