"""Human-readable console export: what a newcomer sees when running the demo.

Instead of JSON span blobs, :class:`ConsoleSummarySpanExporter` prints one line
per span to stderr::

    12:00:01.234 ping demo/control #42 ok rtt=0.412ms jitter=0.031ms stability=100.0%
    12:00:02.240 ping demo/control #43 TIMEOUT after 1000.0ms breached=timeout

and :class:`ConsoleSummaryMetricExporter` prints a short per-target summary at
every metric export (delta temporality, so each summary covers one period).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any

from opentelemetry.sdk.metrics import Counter, Histogram, UpDownCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_genesys.telemetry import names as n


def _ms(seconds: Any) -> str:
    return f"{float(seconds) * 1000:.3f}ms"


def _clock(ns: int | None) -> str:
    if ns is None:
        return "--:--:--.---"
    seconds = ns / 1e9
    return time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{int(ns / 1e6) % 1000:03d}"


def format_span_line(span: ReadableSpan) -> str:
    """One line for one span (probe, lifecycle or audit span)."""
    attrs: dict[str, Any] = dict(span.attributes or {})
    target = attrs.get(n.TARGET, "?")
    when = _clock(span.start_time)
    if span.name == n.SPAN_PROBE:
        head = f"{when} ping {target}/{attrs.get(n.PROBE_MODE, '?')} #{attrs.get(n.PROBE_SEQUENCE)}"
        outcome = str(attrs.get(n.PROBE_OUTCOME, "?"))
        parts = [head]
        if outcome == "ok":
            parts.append("ok")
            if n.RTT in attrs:
                parts.append(f"rtt={_ms(attrs[n.RTT])}")
            if n.JITTER_CONSECUTIVE in attrs:
                parts.append(f"jitter={_ms(attrs[n.JITTER_CONSECUTIVE])}")
        else:
            parts.append(outcome.upper())
            if outcome == "timeout":
                parts.append(f"after {_ms(attrs.get(n.PROBE_TIMEOUT, 0))}")
        if n.STABILITY_WINDOW in attrs:
            parts.append(f"stability={float(attrs[n.STABILITY_WINDOW]) * 100:.1f}%")
        breached = attrs.get(n.THRESHOLD_BREACHED)
        if breached:
            parts.append("breached=" + ",".join(str(b) for b in breached))
        if attrs.get(n.CONFIDENCE) == "degraded":
            parts.append("(degraded)")
        events = [e.name for e in span.events]
        if events:
            parts.append("events=" + ",".join(events))
        return " ".join(parts)
    duration = ""
    if span.start_time is not None and span.end_time is not None:
        duration = _ms((span.end_time - span.start_time) / 1e9)
    parts = [when, span.name, str(target)]
    if duration and span.end_time != span.start_time:
        parts.append(duration)
    error = attrs.get(n.ERROR_TYPE)
    parts.append(f"error={error}" if error else "ok")
    for key, value in attrs.items():
        if key.startswith("genesys.phase."):
            parts.append(
                f"{key.removeprefix('genesys.phase.').removesuffix('.duration')}={_ms(value)}"
            )
    for event in span.events:
        extra = " ".join(f"{k}={v!s}" for k, v in (event.attributes or {}).items())
        parts.append(f"[{event.name}{' ' + extra if extra else ''}]")
    return " ".join(parts)


class ConsoleSummarySpanExporter(SpanExporter):
    """Prints :func:`format_span_line` for each span to ``stream`` (default stderr)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        out = self._stream or sys.stderr
        lines = "".join(format_span_line(s) + "\n" for s in spans)
        with self._lock:
            out.write(lines)
            out.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class ConsoleSummaryMetricExporter(MetricExporter):
    """Prints one summary line per target+mode at every metric export."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(
            preferred_temporality={
                Counter: AggregationTemporality.DELTA,
                Histogram: AggregationTemporality.DELTA,
                UpDownCounter: AggregationTemporality.CUMULATIVE,
            }
        )
        self._stream = stream

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        out = self._stream or sys.stderr
        for line in summarize(metrics_data):
            out.write(line + "\n")
        out.flush()
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Nothing to release."""


def summarize(metrics_data: MetricsData) -> list[str]:
    """Summary lines (one per target+mode, one for agent health) from exported metrics."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    health: dict[str, float] = {}

    def group(attrs: Any) -> dict[str, Any]:
        key = (str(attrs.get(n.TARGET, "?")), str(attrs.get(n.PROBE_MODE, "?")))
        return groups.setdefault(key, {"outcomes": {}, "rtt": None, "stability": None})

    for rm in metrics_data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    attrs = point.attributes or {}
                    if metric.name == n.METRIC_PROBES and isinstance(point, NumberDataPoint):
                        outcomes = group(attrs)["outcomes"]
                        outcome = str(attrs.get(n.PROBE_OUTCOME))
                        outcomes[outcome] = outcomes.get(outcome, 0) + point.value
                    elif metric.name == n.METRIC_RTT and isinstance(point, HistogramDataPoint):
                        g = group(attrs)
                        prev = g["rtt"]
                        if prev is None:
                            g["rtt"] = [point.count, point.sum, point.min, point.max]
                        else:
                            prev[0] += point.count
                            prev[1] += point.sum
                            prev[2] = min(prev[2], point.min)
                            prev[3] = max(prev[3], point.max)
                    elif metric.name == n.METRIC_STABILITY and isinstance(point, NumberDataPoint):
                        if attrs.get(n.STABILITY_SCOPE) == "window":
                            group(attrs)["stability"] = point.value
                    elif (
                        metric.name in (n.METRIC_TELEMETRY_DROPPED, n.METRIC_EXPORT_FAILURES)
                        and isinstance(point, NumberDataPoint)
                        and point.value
                    ):
                        label = metric.name.removeprefix("genesys.agent.telemetry.")
                        health[label] = health.get(label, 0) + point.value
    lines = []
    for (target, mode), g in sorted(groups.items()):
        outcomes = g["outcomes"]
        parts = [f"-- metrics {target}/{mode}:"]
        parts.append(
            "probes " + " ".join(f"{k}={int(v)}" for k, v in sorted(outcomes.items()))
            if outcomes
            else "probes 0"
        )
        rtt = g["rtt"]
        if rtt and rtt[0]:
            parts.append(f"| rtt avg={_ms(rtt[1] / rtt[0])} min={_ms(rtt[2])} max={_ms(rtt[3])}")
        if g["stability"] is not None:
            parts.append(f"| stability={g['stability'] * 100:.1f}%")
        lines.append(" ".join(parts))
    if health:
        lines.append("-- telemetry " + " ".join(f"{k}={int(v)}" for k, v in health.items()))
    return lines
