"""The agent's own export health: drops and failures the SDK does not report by default.

- :class:`GuardedSpanProcessor` puts a counting gate in front of the SDK's
  ``BatchSpanProcessor``: at most ``max_queue_size`` spans may wait for export;
  beyond that a span is dropped *and counted* (the SDK would drop silently).
- :class:`CountingSpanExporter`, :class:`CountingMetricExporter` and
  :class:`CountingLogExporter` wrap real exporters and count failed export calls.

All counters live in one :class:`ExportHealth`; the recorder publishes them as
observable counters (``genesys.agent.telemetry.*``), so a Collector outage shows
up as a jump once it is reachable again.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

_log = logging.getLogger(__name__)


@dataclass(slots=True)
class ExportHealth:
    """Counters of telemetry that did not make it out. Each field has one writer thread."""

    spans_dropped: int = 0
    """Spans refused because ``span_queue_size`` spans were already waiting."""
    span_export_failures: int = 0
    metric_export_failures: int = 0
    log_export_failures: int = 0
    spans_exported: int = 0
    """Spans handed to the exporter that it reported as delivered."""


_SPAN_COUNT_LOCK = threading.Lock()


def count_span_export(
    health: ExportHealth, *, exported: int = 0, failures: int = 0, dropped: int = 0
) -> None:
    """Add to the span counters of ``health``.

    Two export threads write them (the SDK's batch processor for set-up and audit
    spans, the encoded-span batcher for probe spans), hence the lock.
    """
    with _SPAN_COUNT_LOCK:
        health.spans_exported += exported
        health.span_export_failures += failures
        health.spans_dropped += dropped


def collect_after_failed_export() -> None:
    """After a failed export: a collection of the two young generations.

    The HTTP client libraries under the OTLP/HTTP exporters leave reference
    cycles behind on every refused attempt: their errors kept in locals of the
    frames their tracebacks hold, frames whose callers hold the request.
    Reference counting cannot free them, and under ``gc_tune``'s thresholds
    the next collection can be far off, while a Collector that stays down makes
    a failed attempt every few seconds. Those cycles are young when the export
    returns, so a young collection frees them: about a millisecond (at most the
    50,000 objects ``gc_tune`` lets the youngest generation hold), on the
    exporting thread, and only while exports fail.
    """
    gc.collect(1)


class CountingSpanExporter(SpanExporter):
    """Delegates to ``inner``; counts failures and tells the gate how many spans left."""

    def __init__(self, inner: SpanExporter, health: ExportHealth) -> None:
        self.inner = inner
        self._health = health
        self._on_taken: list[Any] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export and count; a raising exporter counts as a failure, never propagates."""
        for callback in self._on_taken:
            callback(len(spans))
        try:
            result = self.inner.export(spans)
        except Exception:
            _log.debug("span exporter raised", exc_info=True)
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            count_span_export(self._health, exported=len(spans))
        else:
            count_span_export(self._health, failures=1)
            collect_after_failed_export()
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class GuardedSpanProcessor(SpanProcessor):
    """A ``BatchSpanProcessor`` whose queue overflow is counted in ``ExportHealth``.

    The gate counts spans submitted minus spans taken by the exporter; it may
    over-estimate the SDK queue for the instant between the SDK popping a batch
    and calling export, so it errs on dropping (counted), never on growing.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        health: ExportHealth,
        *,
        max_queue_size: int = 8_192,
        schedule_delay_millis: float = 1_000,
        max_export_batch_size: int = 512,
    ) -> None:
        self._health = health
        self._max = max_queue_size
        self._pending = 0
        self._lock = threading.Lock()
        self.exporter = CountingSpanExporter(exporter, health)
        self.exporter._on_taken.append(self._taken)
        self._batch = BatchSpanProcessor(
            self.exporter,
            max_queue_size=max_queue_size,
            schedule_delay_millis=schedule_delay_millis,
            max_export_batch_size=min(max_export_batch_size, max_queue_size),
        )

    def _taken(self, count: int) -> None:
        with self._lock:
            self._pending = max(0, self._pending - count)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do at start: spans are built whole on the telemetry worker."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue for export, or drop and count when ``max_queue_size`` spans wait."""
        with self._lock:
            if self._pending >= self._max:
                count_span_export(self._health, dropped=1)
                return
            self._pending += 1
        self._batch.on_end(span)

    def shutdown(self) -> None:
        self._batch.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._batch.force_flush(timeout_millis)


class CountingMetricExporter(MetricExporter):
    """Delegates to ``inner`` (keeping its temporality/aggregation preferences); counts failures.

    The preferences are copied from ``inner`` so that the
    ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`` and
    ``..._DEFAULT_HISTOGRAM_AGGREGATION`` the OTLP exporters read still apply.
    """

    def __init__(self, inner: MetricExporter, health: ExportHealth) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self.inner = inner
        self._health = health

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        try:
            result = self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception:
            _log.debug("metric exporter raised", exc_info=True)
            result = MetricExportResult.FAILURE
        if result is not MetricExportResult.SUCCESS:
            self._health.metric_export_failures += 1
            collect_after_failed_export()
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)


class CountingLogExporter(LogRecordExporter):
    """Delegates to ``inner``; counts failed exports of log records."""

    def __init__(self, inner: LogRecordExporter, health: ExportHealth) -> None:
        self.inner = inner
        self._health = health

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        try:
            result = self.inner.export(batch)
        except Exception:
            _log.debug("log exporter raised", exc_info=True)
            result = LogRecordExportResult.FAILURE
        if result is not LogRecordExportResult.SUCCESS:
            self._health.log_export_failures += 1
            collect_after_failed_export()
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)
