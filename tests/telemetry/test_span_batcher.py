"""EncodedSpanBatcher: batching, drop and failure accounting, flush and shutdown."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from otel_genesys.telemetry.export_health import ExportHealth
from otel_genesys.telemetry.span_batcher import EncodedSpanBatcher


class JoinEncoder:
    def request(self, spans: Sequence[bytes]) -> bytes:
        return b"|".join(spans)


class Exporter:
    def __init__(self, ok: bool = True, gate: threading.Event | None = None) -> None:
        self.ok = ok
        self.gate = gate
        self.payloads: list[tuple[bytes, int]] = []
        self.shut = False

    def export_encoded(self, payload: bytes, count: int) -> bool:
        if self.gate is not None:
            self.gate.wait(5.0)
        self.payloads.append((payload, count))
        return self.ok

    def shutdown(self) -> None:
        self.shut = True


def test_spans_are_joined_in_batches_and_counted() -> None:
    health, exporter = ExportHealth(), Exporter()
    batcher = EncodedSpanBatcher(JoinEncoder(), exporter, health, max_batch=3, start=False)
    for i in range(7):
        batcher.put(b"s%d" % i)
    assert batcher.flush(1.0)
    assert exporter.payloads == [(b"s0|s1|s2", 3), (b"s3|s4|s5", 3), (b"s6", 1)]
    assert health.spans_exported == 7 and health.span_export_failures == 0
    assert batcher.shutdown(1.0) and exporter.shut


def test_a_failed_export_counts_once_and_loses_no_count() -> None:
    health = ExportHealth()
    batcher = EncodedSpanBatcher(JoinEncoder(), Exporter(ok=False), health, start=False)
    batcher.put(b"a")
    batcher.put(b"b")
    batcher.flush(1.0)
    assert health.span_export_failures == 1 and health.spans_exported == 0


def test_a_raising_exporter_is_a_counted_failure() -> None:
    class Raising(Exporter):
        def export_encoded(self, payload: bytes, count: int) -> bool:
            raise RuntimeError("boom")

    health = ExportHealth()
    batcher = EncodedSpanBatcher(JoinEncoder(), Raising(), health, start=False)
    batcher.put(b"a")
    batcher.flush(1.0)
    assert health.span_export_failures == 1


def test_a_full_queue_drops_new_spans_and_counts_them() -> None:
    gate = threading.Event()
    health, exporter = ExportHealth(), Exporter(gate=gate)
    batcher = EncodedSpanBatcher(
        JoinEncoder(), exporter, health, max_queue_size=4, max_batch=1, schedule_delay_s=0.01
    )
    try:
        for i in range(50):
            batcher.put(b"%d" % i)
        # At most one span is in flight (blocked in the exporter) plus four queued.
        assert health.spans_dropped >= 45
    finally:
        gate.set()
        assert batcher.shutdown(5.0)
    assert health.spans_exported + health.spans_dropped == 50
    assert health.spans_exported == sum(c for _, c in exporter.payloads)


def test_puts_after_shutdown_are_dropped_and_counted() -> None:
    health = ExportHealth()
    batcher = EncodedSpanBatcher(JoinEncoder(), Exporter(), health)
    assert batcher.shutdown(1.0)
    batcher.put(b"late")
    assert health.spans_dropped == 1
