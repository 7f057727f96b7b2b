"""Batch and export probe spans that are already OTLP bytes.

When traces go over OTLP (gRPC or HTTP), the recorder encodes each probe span
itself (:mod:`otel_genesys.telemetry.probe_spans`) instead of building an SDK
span: the SDK's span object plus its OTLP encoder cost ~150 µs a span, which at
thousands of connections was most of the agent's CPU. The bytes land here: a
bounded queue drained by one thread that joins up to ``max_batch`` spans into
one ``ExportTraceServiceRequest`` and hands it to an exporter built on the
SDK's own OTLP exporter (:mod:`otel_genesys.telemetry.raw_export`), so the
endpoint, headers, TLS, compression, timeout and retries are configured
exactly as for every other signal.

Accounting matches :class:`~otel_genesys.telemetry.export_health.GuardedSpanProcessor`:
a span refused because ``max_queue_size`` spans already wait counts in
``spans_dropped``; a failed export counts once in ``span_export_failures``;
delivered spans in ``spans_exported``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from otel_genesys.telemetry.export_health import (
    ExportHealth,
    collect_after_failed_export,
    count_span_export,
)
from otel_genesys.telemetry.offload import OffloadWorker

_log = logging.getLogger(__name__)


class EncodedSpanExporter(Protocol):
    """Sends one serialized ``ExportTraceServiceRequest``."""

    def export_encoded(self, payload: bytes, count: int) -> bool:
        """Deliver ``payload`` holding ``count`` spans; True on success. Never raises."""
        ...

    def shutdown(self) -> None: ...


class RequestEncoder(Protocol):
    """Joins serialized spans into one request (see ``ProbeSpanEncoder.request``)."""

    def request(self, spans: Sequence[bytes]) -> bytes: ...


class EncodedSpanBatcher:
    """A bounded queue of encoded spans and the thread that exports them in batches.

    ``put`` is called by the telemetry worker only; it never blocks or raises.
    """

    def __init__(
        self,
        encoder: RequestEncoder,
        exporter: EncodedSpanExporter,
        health: ExportHealth,
        *,
        max_queue_size: int = 8_192,
        schedule_delay_s: float = 1.0,
        max_batch: int = 512,
        start: bool = True,
    ) -> None:
        self.encoder = encoder
        self.exporter = exporter
        self._health = health
        self._max = max(1, max_queue_size)
        self._worker: OffloadWorker[bytes] = OffloadWorker(
            self._export,
            maxlen=self._max + 1,
            interval_s=schedule_delay_s,
            wake_at=max(1, min(max_batch, self._max)),
            batch_max=max(1, max_batch),
            name="otel-genesys-span-export",
        )
        self._closed = False
        if start:
            self._worker.start()

    def put(self, span: bytes) -> None:
        """Queue one encoded span, or drop it (counted) when the queue is full or closed."""
        if self._closed or len(self._worker) >= self._max:
            count_span_export(self._health, dropped=1)
            return
        self._worker.put(span)

    def _export(self, batch: list[bytes]) -> None:
        if not batch:
            return
        try:
            ok = self.exporter.export_encoded(self.encoder.request(batch), len(batch))
        except Exception:
            _log.debug("encoded span export raised", exc_info=True)
            ok = False
        count_span_export(self._health, exported=len(batch) if ok else 0, failures=0 if ok else 1)
        if not ok:
            collect_after_failed_export()

    @property
    def queued(self) -> int:
        """Spans waiting for export right now."""
        return len(self._worker)

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Export everything queued so far (bounded by ``timeout_s``)."""
        return self._worker.flush(timeout_s)

    def shutdown(self, timeout_s: float = 5.0) -> bool:
        """Export what is queued, stop the thread and shut the exporter down."""
        self._closed = True
        done = self._worker.stop(timeout_s)
        try:
            self.exporter.shutdown()
        except Exception:
            _log.debug("encoded span exporter shutdown raised", exc_info=True)
        return done
