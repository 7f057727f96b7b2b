"""A failed OTLP export lets go of its batch at once, without waiting for the collector.

The SDK's exporters keep a failed export's error on a result object that the
error's own traceback reaches (through the exporting frame): a reference cycle
that holds the batch and its encoded request until a full garbage collection,
which the agent's tuned thresholds make rare. With the Collector down for hours,
every export fails, and those batches piled up (docs/reliability.md). These
tests export to a loopback port nothing listens on, with the collector off, and
check that the batch is gone when the export call returns. Over OTLP/HTTP the
client libraries underneath leave cycles of their own on each refused attempt;
the young collection a failed export runs frees those, and the export process's
periodic sweep (``MemorySweep``) frees whatever is left.
"""

from __future__ import annotations

import gc
import types
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import MetricsData
from opentelemetry.sdk.resources import Resource

from otel_genesys.telemetry import isolated, span_batcher
from otel_genesys.telemetry.export_health import (
    CountingLogExporter,
    CountingMetricExporter,
    CountingSpanExporter,
    ExportHealth,
)
from otel_genesys.telemetry.gctune import malloc_trim
from otel_genesys.telemetry.isolated import (
    COLLECT_PERIOD_FAILING_S,
    COLLECT_PERIOD_S,
    MemorySweep,
)
from otel_genesys.telemetry.probe_spans import ProbeSpanEncoder
from otel_genesys.telemetry.raw_export import _ErrorReleasingMetrics, release_export_errors
from otel_genesys.telemetry.settings import TelemetrySettings
from otel_genesys.telemetry.setup import _otlp_exporter
from otel_genesys.telemetry.span_batcher import EncodedSpanBatcher


class _Batch(list):  # type: ignore[type-arg]
    """A list that can be referenced weakly, to see when the exporter lets go of it."""


@pytest.fixture
def no_collector() -> Iterator[None]:
    """Reference counting only, as between the agent's rare full collections."""
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _batch(signal: str) -> Any:
    if signal == "metrics":
        return MetricsData(resource_metrics=[])
    return _Batch()


def _outlives_a_failed_export(exporter: Any, signal: str) -> bool:
    """Export a fresh batch (which must fail); True if the batch outlived the call."""
    batch = _batch(signal)
    ref = weakref.ref(batch)
    result = exporter.export(batch)
    assert result.name == "FAILURE"
    del batch, result
    return ref() is not None


_COUNTING = {
    "traces": CountingSpanExporter,
    "metrics": CountingMetricExporter,
    "logs": CountingLogExporter,
}


@pytest.mark.usefixtures("no_collector")
@pytest.mark.parametrize("route", ["grpc", "http"])
@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
def test_a_failed_export_frees_its_batch_at_once(
    route: str, signal: str, refused_endpoint: str
) -> None:
    """As ``setup_telemetry`` builds them: the OTLP exporter behind its counting wrapper."""
    settings = TelemetrySettings(endpoint=refused_endpoint, export_timeout_s=0.3)
    health = ExportHealth()
    exporter = _COUNTING[signal](_otlp_exporter(route, signal, settings), health)  # type: ignore[arg-type]
    try:
        assert not _outlives_a_failed_export(exporter, signal)
    finally:
        exporter.shutdown()
    failures = (
        health.span_export_failures + health.metric_export_failures + health.log_export_failures
    )
    assert failures == 1


@pytest.mark.usefixtures("no_collector")
@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
def test_a_failed_grpc_export_needs_no_collection(signal: str, refused_endpoint: str) -> None:
    """Over gRPC the released error is the only cycle: the batch is gone without any
    collection at all."""
    settings = TelemetrySettings(endpoint=refused_endpoint, export_timeout_s=0.3)
    exporter = _otlp_exporter("grpc", signal, settings)  # type: ignore[arg-type]
    try:
        assert not _outlives_a_failed_export(exporter, signal)
    finally:
        exporter.shutdown()


def _post_frames() -> int:
    return sum(
        1
        for o in gc.get_objects()
        if type(o) is types.FrameType and o.f_code.co_name == "_post"  # no proxy woken
    )


@pytest.mark.usefixtures("no_collector")
@pytest.mark.parametrize("collect", [True, False])
def test_a_failed_encoded_span_export_leaves_no_request_behind(
    collect: bool, refused_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probe spans over OTLP/HTTP: a failed batch leaves the client libraries' cycles
    (and the sending frame, which holds the request) only without the collection."""
    if not collect:
        monkeypatch.setattr(span_batcher, "collect_after_failed_export", lambda: None)
    settings = TelemetrySettings(endpoint=refused_endpoint, export_timeout_s=0.3)
    health = ExportHealth()
    batcher = EncodedSpanBatcher(
        ProbeSpanEncoder(Resource.create({}), "test", "1.0"),
        _otlp_exporter("http", "traces", settings),
        health,
        start=False,
    )
    try:
        before = _post_frames()
        batcher._export([b"\x0a\x00"])
        assert health.span_export_failures == 1
        assert (_post_frames() - before == 0) is collect
    finally:
        batcher.exporter.shutdown()


@pytest.mark.usefixtures("no_collector")
def test_without_the_release_the_sdk_keeps_the_batch(refused_endpoint: str) -> None:
    """The cycle the release breaks is real: the SDK's gRPC exporter on its own keeps a
    failed batch alive until the garbage collector runs."""
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

    exporter = OTLPMetricExporter(endpoint=refused_endpoint, insecure=True, timeout=0.3)
    try:
        assert _outlives_a_failed_export(exporter, "metrics")
        gc.collect()  # frees that cycle before the next export
        release_export_errors(exporter)
        assert not _outlives_a_failed_export(exporter, "metrics")
    finally:
        exporter.shutdown()


def test_the_sdk_metrics_still_see_the_error() -> None:
    """The SDK's exporter metrics read the error on leaving the context; only then is
    it cleared."""
    seen: list[Any] = []

    class Inner:
        def export_operation(self, num_items: int) -> Any:
            from contextlib import contextmanager

            @contextmanager
            def op() -> Iterator[Any]:
                class Result:
                    error: Any = None

                result = Result()
                try:
                    yield result
                finally:
                    seen.append(result.error)

            return op()

    metrics = _ErrorReleasingMetrics(Inner())
    error = RuntimeError("refused")
    with metrics.export_operation(3) as result:
        result.error = error
    assert seen == [error]
    assert result.error is None


@pytest.mark.usefixtures("no_collector")
def test_a_sweep_frees_unreachable_cycles() -> None:
    batch = _Batch()
    ref = weakref.ref(batch)
    batch.append(batch)  # a cycle: only a collection frees it
    del batch
    health = ExportHealth()
    sweep = MemorySweep(100.0, health)
    health.span_export_failures = 1
    assert not sweep.tick(100.0 + COLLECT_PERIOD_FAILING_S / 2)
    assert ref() is not None
    # Due sooner because exports failed since the last sweep.
    assert sweep.tick(100.0 + COLLECT_PERIOD_FAILING_S)
    assert ref() is None


def test_the_sweep_runs_every_period_and_sooner_while_exports_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(isolated.gc, "collect", lambda: calls.append("collect") or 0)
    monkeypatch.setattr(isolated, "malloc_trim", lambda: calls.append("trim"))
    health = ExportHealth()
    sweep = MemorySweep(0.0, health)
    # Healthy: once per COLLECT_PERIOD_S, whatever the clock does in between.
    assert not sweep.tick(COLLECT_PERIOD_FAILING_S)
    assert not sweep.tick(COLLECT_PERIOD_S - 0.1)
    assert sweep.tick(COLLECT_PERIOD_S)
    assert calls == ["collect", "trim"]
    # Failing (any signal counts): COLLECT_PERIOD_FAILING_S after the last sweep.
    t = COLLECT_PERIOD_S
    health.metric_export_failures, health.log_export_failures = 2, 1
    assert not sweep.tick(t + COLLECT_PERIOD_FAILING_S - 0.1)
    assert sweep.tick(t + COLLECT_PERIOD_FAILING_S)
    t += COLLECT_PERIOD_FAILING_S
    # No failure since that sweep: back to the long period.
    assert not sweep.tick(t + COLLECT_PERIOD_FAILING_S)
    assert sweep.tick(t + COLLECT_PERIOD_S)
    assert sweep.sweeps == 3
    assert calls == ["collect", "trim"] * 3


def test_malloc_trim_runs_where_glibc_has_it() -> None:
    import sys

    assert malloc_trim() is sys.platform.startswith("linux")


def test_release_is_applied_once_and_skips_other_exporters() -> None:
    class Plain:
        pass

    plain = Plain()
    assert release_export_errors(plain) is plain
    assert not hasattr(plain, "_metrics")

    class WithMetrics:
        _metrics = object()

    exporter = WithMetrics()
    release_export_errors(exporter)
    wrapped = exporter._metrics
    assert isinstance(wrapped, _ErrorReleasingMetrics)
    release_export_errors(exporter)
    assert exporter._metrics is wrapped
