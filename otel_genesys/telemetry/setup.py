"""Providers, exporters and resource: :func:`setup_telemetry` builds a :class:`Telemetry`.

Exporter choice, per signal (traces, metrics, logs):

1. ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` / ``OTEL_LOGS_EXPORTER``
   ``=none`` always disables that signal.
2. ``settings.exporter`` other than ``auto`` wins otherwise.
3. ``auto``: the env var's ``otlp``/``console`` if set; else OTLP when an endpoint
   is configured (settings or ``OTEL_EXPORTER_OTLP[_<SIGNAL>]_ENDPOINT``); else console.
4. ``otlp`` means gRPC unless ``OTEL_EXPORTER_OTLP[_<SIGNAL>]_PROTOCOL`` is
   ``http/protobuf``.

Logs are exported only when ``settings.logs_export`` is on (and never to the
console: stderr already carries them).

Global providers are left alone unless ``set_global=True``: tests build many
``Telemetry`` objects and the OTel API allows setting globals once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

import otel_genesys
from otel_genesys.telemetry import names as n
from otel_genesys.telemetry.console import (
    ConsoleSummaryMetricExporter,
    ConsoleSummarySpanExporter,
)
from otel_genesys.telemetry.export_health import (
    CountingLogExporter,
    CountingMetricExporter,
    ExportHealth,
    GuardedSpanProcessor,
)
from otel_genesys.telemetry.logs import OtelLogHandler
from otel_genesys.telemetry.probe_spans import ProbeSpanEncoder
from otel_genesys.telemetry.recorder import Recorder
from otel_genesys.telemetry.settings import (
    DEFAULT_CARDINALITY_LIMIT,
    TelemetrySettings,
    cardinality_limit,
)
from otel_genesys.telemetry.span_batcher import EncodedSpanBatcher

_log = logging.getLogger(__name__)

Signal = Literal["traces", "metrics", "logs"]
Route = Literal["grpc", "http", "console", "none"]

DEFAULT_EXPORT_TIMEOUT_S = 5.0
"""Export deadline when neither settings nor ``OTEL_EXPORTER_OTLP_TIMEOUT`` say: short, so
a black-holed Collector holds an export thread for seconds, not the SDK's 10 s + retries."""


def resolve_route(
    settings: TelemetrySettings, signal: Signal, env: Mapping[str, str] | None = None
) -> Route:
    """Where ``signal`` goes, following the precedence in the module docstring."""
    env = os.environ if env is None else env
    upper = signal.upper()
    env_choice = env.get(f"OTEL_{upper}_EXPORTER", "").strip().lower()
    if env_choice == "none":
        return "none"
    if signal == "logs" and not settings.logs_export:
        return "none"
    choice: str = settings.exporter
    if choice == "auto":
        if env_choice in ("otlp", "console"):
            choice = env_choice
        elif (
            settings.endpoint
            or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or env.get(f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT")
        ):
            choice = "otlp"
        else:
            choice = "console"
    route: Route
    if choice == "otlp":
        protocol = (
            (
                env.get(f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL")
                or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "grpc"
            )
            .strip()
            .lower()
        )
        route = "http" if protocol.startswith("http") else "grpc"
    elif choice == "otlp_grpc":
        route = "grpc"
    elif choice == "otlp_http":
        route = "http"
    elif choice == "console":
        route = "none" if signal == "logs" else "console"
    else:
        route = "none"
    return route


def _timeout(settings: TelemetrySettings, signal: Signal) -> float | None:
    if settings.export_timeout_s is not None:
        return settings.export_timeout_s
    env_keys = ("OTEL_EXPORTER_OTLP_TIMEOUT", f"OTEL_EXPORTER_OTLP_{signal.upper()}_TIMEOUT")
    if any(os.environ.get(k) for k in env_keys):
        return None  # let the exporter read it
    return DEFAULT_EXPORT_TIMEOUT_S


def _http_url(endpoint: str | None, signal: Signal) -> str | None:
    if endpoint is None:
        return None
    return f"{endpoint.rstrip('/')}/v1/{signal}"


def _otlp_exporter(route: Route, signal: Signal, settings: TelemetrySettings) -> Any:
    """The OTLP exporter for ``signal`` over ``route`` (``grpc`` or ``http``).

    Traces and metrics use subclasses of the SDK's OTLP exporters
    (:mod:`~otel_genesys.telemetry.raw_export`) that also send requests this
    package encoded itself: probe spans (:mod:`~otel_genesys.telemetry.probe_spans`)
    and metric batches (:mod:`~otel_genesys.telemetry.metrics_wire`, ~6x faster
    than the SDK's encoder, byte for byte the same). Endpoint, headers, TLS,
    compression, timeouts and retries stay the SDK's, with its ``OTEL_*`` variables.
    Every one of them lets go of a failed export's error, and with it the batch
    (:func:`~otel_genesys.telemetry.raw_export.release_export_errors`).
    """
    from otel_genesys.telemetry import raw_export

    headers = dict(settings.headers) or None
    timeout = _timeout(settings, signal)
    endpoint = settings.endpoint if route == "grpc" else _http_url(settings.endpoint, signal)
    kinds: dict[tuple[str, str], Any] = {
        ("grpc", "traces"): raw_export.EncodedGrpcSpanExporter,
        ("grpc", "metrics"): raw_export.EncodedGrpcMetricExporter,
        ("http", "traces"): raw_export.EncodedHttpSpanExporter,
        ("http", "metrics"): raw_export.EncodedHttpMetricExporter,
    }
    exporter_class = kinds.get((route, signal))
    if exporter_class is None and route == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        exporter_class = OTLPLogExporter
    elif exporter_class is None:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import (
            OTLPLogExporter as HttpLogExporter,
        )

        exporter_class = HttpLogExporter
    exporter = exporter_class(endpoint=endpoint, headers=headers, timeout=timeout)
    return raw_export.release_export_errors(exporter)


def build_resource(
    settings: TelemetrySettings, resource_attributes: Mapping[str, str] | None = None
) -> Resource:
    """The resource: ``OTEL_RESOURCE_ATTRIBUTES``/``OTEL_SERVICE_NAME`` honoured.

    ``service.name`` precedence: ``settings.service_name`` > ``OTEL_SERVICE_NAME`` >
    ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES`` or ``resource_attributes`` >
    ``otel-genesys``.
    """
    attrs: dict[str, str] = {
        SERVICE_VERSION: otel_genesys.__version__,
        SERVICE_INSTANCE_ID: str(uuid.uuid4()),
    }
    attrs.update(resource_attributes or {})
    resource = Resource.create(attrs)
    if os.environ.get("OTEL_SERVICE_NAME") and not settings.service_name:
        # Explicit resource_attributes would otherwise override the env var.
        resource = resource.merge(Resource({SERVICE_NAME: os.environ["OTEL_SERVICE_NAME"]}))
    name = str(resource.attributes.get(SERVICE_NAME, ""))
    if settings.service_name:
        resource = resource.merge(Resource({SERVICE_NAME: settings.service_name}))
    elif not name or name.startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: n.DEFAULT_SERVICE_NAME}))
    return resource


@dataclass(eq=False)
class Telemetry:
    """Everything :func:`setup_telemetry` built; shut it down once at exit."""

    recorder: Recorder
    """The :class:`~otel_genesys.core.sink.TelemetrySink` to give to the agent."""
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    resource: Resource
    health: ExportHealth
    logger_provider: LoggerProvider | None = None
    routes: dict[str, str] = field(default_factory=dict)
    """Where each signal goes (``grpc``, ``http``, ``console``, ``none``)."""
    _log_handler: logging.Handler | None = None
    _closed: bool = False

    def force_flush(self, timeout_s: float = 5.0) -> bool:
        """Process queued records, then push spans, metrics and logs out. Bounded by timeout."""
        deadline = time.monotonic() + timeout_s
        ok = self.recorder.flush(timeout_s)
        millis = int(max(0.0, deadline - time.monotonic()) * 1000)

        def push() -> None:
            self.tracer_provider.force_flush(millis)
            self.meter_provider.force_flush(millis)
            if self.logger_provider is not None:
                self.logger_provider.force_flush(millis)

        return _bounded(push, deadline) and ok

    def shutdown(self, timeout_s: float = 5.0) -> bool:
        """Drain the recorder, flush and shut every provider down, within ``timeout_s``.

        Returns False when the deadline passed first (an export still in flight
        is abandoned on its daemon thread; it ends at its own export timeout).
        """
        if self._closed:
            return True
        self._closed = True
        deadline = time.monotonic() + timeout_s
        ok = self.recorder.close(timeout_s * 0.5)
        if self._log_handler is not None:
            logging.getLogger("otel_genesys").removeHandler(self._log_handler)

        def stop() -> None:
            millis = max(0.0, deadline - time.monotonic()) * 1000
            self.tracer_provider.shutdown()
            self.meter_provider.shutdown(timeout_millis=max(1.0, millis))
            if self.logger_provider is not None:
                self.logger_provider.shutdown()

        return _bounded(stop, deadline) and ok


def _bounded(work: Any, deadline: float) -> bool:
    """Run ``work`` on a daemon thread; wait for it until ``deadline`` (monotonic)."""
    failed: list[bool] = []  # not the exception: its traceback would reach this list

    def run() -> None:
        try:
            work()
        except Exception:
            failed.append(True)
            _log.debug("telemetry flush/shutdown step failed", exc_info=True)

    thread = threading.Thread(target=run, name="otel-genesys-telemetry-stop", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    return not thread.is_alive() and not failed


def setup_telemetry(
    settings: TelemetrySettings,
    *,
    resource_attributes: Mapping[str, str] | None = None,
    set_global: bool = False,
    span_exporter: SpanExporter | None = None,
    metric_exporter: MetricExporter | None = None,
    metric_reader: MetricReader | None = None,
    extra_metric_readers: Sequence[MetricReader] = (),
    log_exporter: LogRecordExporter | None = None,
    console_stream: IO[str] | None = None,
    recorder_thread: bool = True,
) -> Telemetry:
    """Create providers, exporters and the :class:`Recorder`.

    The ``span_exporter``/``metric_exporter``/``metric_reader``/``log_exporter``
    arguments replace the configured choice for that signal (tests pass
    in-memory ones). ``extra_metric_readers`` are added alongside whatever
    reader the settings chose (e.g. a Prometheus pull reader next to OTLP).
    ``console_stream`` defaults to stderr. ``recorder_thread=False`` builds the
    recorder without its worker thread: the caller drives it with
    :meth:`Recorder.pump` (the export process does, on its main thread).

    >>> t = setup_telemetry(TelemetrySettings(exporter="none"))
    >>> type(t.recorder).__name__
    'Recorder'
    >>> t.shutdown(2.0)
    True
    """
    resource = build_resource(settings, resource_attributes)
    health = ExportHealth()
    routes: dict[str, str] = {}

    # ---- traces
    tracer_provider = TracerProvider(resource=resource, sampler=ALWAYS_ON, shutdown_on_exit=False)
    span_route: str = "custom" if span_exporter is not None else resolve_route(settings, "traces")
    routes["traces"] = span_route
    exporter: SpanExporter | None = span_exporter
    probe_spans: EncodedSpanBatcher | None = None
    span_delay_s = settings.span_delay_s()  # once: a bad OTEL_BSP_SCHEDULE_DELAY warns once
    if exporter is None and span_route in ("grpc", "http"):
        exporter = _otlp_exporter(span_route, "traces", settings)  # type: ignore[arg-type]
        if not getattr(tracer_provider, "_disabled", False):  # OTEL_SDK_DISABLED: no spans
            # Probe spans skip the SDK's span objects: encoded to OTLP bytes by the recorder.
            probe_spans = EncodedSpanBatcher(
                ProbeSpanEncoder(resource, n.INSTRUMENTATION_SCOPE, otel_genesys.__version__),
                _otlp_exporter(span_route, "traces", settings),  # type: ignore[arg-type]
                health,
                max_queue_size=settings.span_queue_size,
                schedule_delay_s=span_delay_s,
            )
    elif exporter is None and span_route == "console":
        exporter = ConsoleSummarySpanExporter(console_stream)
    if exporter is not None:
        tracer_provider.add_span_processor(
            GuardedSpanProcessor(
                exporter,
                health,
                max_queue_size=settings.span_queue_size,
                # The console should feel live; OTLP batches for efficiency.
                schedule_delay_millis=200 if span_route == "console" else span_delay_s * 1000.0,
            )
        )

    # ---- metrics
    readers: list[MetricReader] = []
    interval_ms = settings.export_interval_ns / 1e6
    timeout_s = settings.export_timeout_s or DEFAULT_EXPORT_TIMEOUT_S
    if metric_reader is not None:
        readers.append(metric_reader)
        routes["metrics"] = "custom"
    else:
        m_exporter: MetricExporter | None = metric_exporter
        metric_route: str = (
            "custom" if m_exporter is not None else resolve_route(settings, "metrics")
        )
        routes["metrics"] = metric_route
        if m_exporter is None and metric_route in ("grpc", "http"):
            m_exporter = _otlp_exporter(metric_route, "metrics", settings)  # type: ignore[arg-type]
        elif m_exporter is None and metric_route == "console":
            m_exporter = ConsoleSummaryMetricExporter(console_stream)
        if m_exporter is not None:
            readers.append(
                PeriodicExportingMetricReader(
                    CountingMetricExporter(m_exporter, health),
                    export_interval_millis=interval_ms,
                    export_timeout_millis=min(interval_ms, timeout_s * 1000),
                )
            )
    readers.extend(extra_metric_readers)
    limit = cardinality_limit(settings.targets_hint)
    views = (
        [View(instrument_name="genesys.*", aggregation_cardinality_limit=limit)]
        if limit > DEFAULT_CARDINALITY_LIMIT
        else []
    )
    meter_provider = MeterProvider(
        resource=resource, metric_readers=readers, views=views, shutdown_on_exit=False
    )

    # ---- logs
    logger_provider: LoggerProvider | None = None
    handler: logging.Handler | None = None
    l_exporter: LogRecordExporter | None = log_exporter
    log_route: str = "custom" if l_exporter is not None else resolve_route(settings, "logs")
    routes["logs"] = log_route
    if l_exporter is None and log_route in ("grpc", "http"):
        l_exporter = _otlp_exporter(log_route, "logs", settings)  # type: ignore[arg-type]
    if l_exporter is not None:
        logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(CountingLogExporter(l_exporter, health), max_queue_size=8_192)
        )
        handler = OtelLogHandler(logger_provider)
        logging.getLogger("otel_genesys").addHandler(handler)

    recorder = Recorder(
        tracer_provider,
        meter_provider,
        span_ratio=settings.span_ratio,
        queue_size=settings.queue_size,
        drain_interval_s=settings.drain_interval_s,
        health=health,
        version=otel_genesys.__version__,
        log_audit=settings.audit_log,
        probe_spans=probe_spans,
        start=recorder_thread,
    )

    if set_global:
        from opentelemetry import _logs, metrics, trace

        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
        if logger_provider is not None:
            _logs.set_logger_provider(logger_provider)

    return Telemetry(
        recorder=recorder,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        resource=resource,
        health=health,
        logger_provider=logger_provider,
        routes=routes,
        _log_handler=handler,
    )
