"""TelemetrySettings: everything :func:`setup_telemetry` needs, as one frozen value.

The config module maps its ``TelemetryConfig`` onto this; library users build it
directly. The standard ``OTEL_*`` environment variables keep their meaning on
top (see docs/telemetry.md for the precedence rules).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from otel_genesys.errors import ConfigError

_log = logging.getLogger(__name__)

ExporterChoice = Literal["auto", "otlp", "otlp_grpc", "otlp_http", "console", "none"]
EXPORTER_CHOICES: tuple[str, ...] = ("auto", "otlp", "otlp_grpc", "otlp_http", "console", "none")


SERIES_PER_TARGET = 32
"""Attribute sets one target may need in one metric (2 probe modes x 3 outcomes x 2
confidences for the probe counter is the largest, plus reconnect causes)."""
DEFAULT_CARDINALITY_LIMIT = 2000
"""The OTel SDK's default per metric stream."""
ENV_BSP_SCHEDULE_DELAY = "OTEL_BSP_SCHEDULE_DELAY"
DEFAULT_SPAN_EXPORT_DELAY_S = 5.0
"""The OpenTelemetry default batch span processor delay (``OTEL_BSP_SCHEDULE_DELAY``)."""


def cardinality_limit(targets: int) -> int:
    """Attribute sets kept per ``genesys.*`` metric for ``targets`` targets.

    >>> cardinality_limit(10), cardinality_limit(10_000)
    (2000, 320000)
    """
    return max(DEFAULT_CARDINALITY_LIMIT, SERIES_PER_TARGET * targets)


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    """How telemetry is exported.

    >>> TelemetrySettings(exporter="otlp_grpc", endpoint="http://127.0.0.1:4317").span_ratio
    1.0
    """

    exporter: ExporterChoice = "auto"
    """``auto`` follows ``OTEL_TRACES_EXPORTER``/``OTEL_METRICS_EXPORTER``, then OTLP
    when an endpoint is configured, else console. ``otlp`` picks gRPC or HTTP from
    ``OTEL_EXPORTER_OTLP_PROTOCOL`` (default gRPC)."""
    endpoint: str | None = None
    """OTLP base URL (``http://collector:4317`` or ``http://collector:4318``); ``None``
    lets the exporters read ``OTEL_EXPORTER_OTLP_*ENDPOINT``."""
    span_ratio: float = 1.0
    """Share of normal probe spans kept (0..1). Anomalous cycles are always kept."""
    logs_export: bool = False
    """Also export log records (audit trail included) over OTLP."""
    export_interval_ns: int = 10_000_000_000
    """Metric export period."""
    service_name: str | None = None
    """Overrides ``service.name`` (wins over ``OTEL_SERVICE_NAME``)."""
    headers: tuple[tuple[str, str], ...] = field(default=())
    """Extra OTLP request headers (e.g. a vendor API key); a mapping is accepted."""
    export_timeout_s: float | None = None
    """Per-export deadline. ``None``: ``OTEL_EXPORTER_OTLP_TIMEOUT`` if set, else 5 s."""
    queue_size: int = 65_536
    """Bound of the recorder's hand-off queue (records); overflow is dropped and counted."""
    span_queue_size: int = 8_192
    """Bound of spans waiting for export; overflow is dropped and counted."""
    drain_interval_s: float = 0.05
    """How often the telemetry worker thread drains the hand-off queue."""
    span_export_delay_s: float | None = None
    """How long finished spans may wait to be batched before an OTLP export (a full
    batch of 512 leaves at once). ``None``: ``OTEL_BSP_SCHEDULE_DELAY`` (ms) if set,
    else 5 s, the OpenTelemetry default. Each export is one request: at one probe a
    second, 1 s would mean a request per span."""
    audit_log: bool = True
    """Write audit events to the ``otel_genesys.audit`` log from the recorder (an
    export process turns it off: the agent's own process writes them)."""
    targets_hint: int = 0
    """How many targets will report. Each ``genesys.*`` metric then keeps up to
    ``max(2000, SERIES_PER_TARGET * targets_hint)`` attribute sets; beyond the
    SDK's default of 2,000, every further series would be merged into one
    ``otel.metric.overflow`` point and per-target data lost."""

    def span_delay_s(self) -> float:
        """The span batching delay in effect (see :attr:`span_export_delay_s`).

        >>> TelemetrySettings(span_export_delay_s=0.5).span_delay_s()
        0.5
        """
        if self.span_export_delay_s is not None:
            return self.span_export_delay_s
        raw = os.environ.get(ENV_BSP_SCHEDULE_DELAY, "").strip()
        if raw:
            try:
                millis = float(raw)
            except ValueError:
                millis = -1.0
            if 0 < millis <= 3_600_000:
                return millis / 1000.0
            _log.warning(
                "%s=%r is not a delay in milliseconds within (0, 3600000]; using %.0f ms",
                ENV_BSP_SCHEDULE_DELAY, raw, DEFAULT_SPAN_EXPORT_DELAY_S * 1000,
            )  # fmt: skip
        return DEFAULT_SPAN_EXPORT_DELAY_S

    def __post_init__(self) -> None:
        headers: object = self.headers
        if isinstance(headers, Mapping):
            object.__setattr__(self, "headers", tuple((str(k), str(v)) for k, v in headers.items()))
        problems: list[str] = []
        if self.exporter not in EXPORTER_CHOICES:
            problems.append(
                f"telemetry.exporter must be one of {', '.join(EXPORTER_CHOICES)}, "
                f"not {self.exporter!r}"
            )
        if not 0.0 <= self.span_ratio <= 1.0:
            problems.append(f"telemetry.span_ratio must be within 0..1, not {self.span_ratio}")
        if self.export_interval_ns <= 0:
            problems.append("telemetry.export_interval_ns must be positive")
        if self.export_timeout_s is not None and self.export_timeout_s <= 0:
            problems.append("telemetry.export_timeout_s must be positive")
        if self.queue_size < 1 or self.span_queue_size < 1:
            problems.append("telemetry queue sizes must be at least 1")
        if self.targets_hint < 0:
            problems.append("telemetry.targets_hint must not be negative")
        if self.drain_interval_s <= 0:
            problems.append("telemetry.drain_interval_s must be positive")
        if self.span_export_delay_s is not None and not 0 < self.span_export_delay_s <= 3600:
            problems.append("telemetry.span_export_delay_s must be within (0, 3600] seconds")
        if problems:
            raise ConfigError(problems)
