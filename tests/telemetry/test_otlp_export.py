"""Real OTLP export over gRPC and HTTP into the test receiver, including failure modes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from otel_genesys import __version__
from otel_genesys.core.events import AuditKind, ConnectionState, LifecycleStep
from otel_genesys.core.outcome import Outcome
from otel_genesys.telemetry import Telemetry, TelemetrySettings, setup_telemetry
from otel_genesys.telemetry.settings import ExporterChoice
from tests.support.otlp_receiver import OtlpReceiver, attributes_of
from tests.support.outcomes import TARGET, make_event, make_lifecycle, make_outcome


def fast(
    exporter: ExporterChoice = "auto", endpoint: str | None = None, **kw: Any
) -> TelemetrySettings:
    """Settings with short export periods and deadlines, for tests."""
    return TelemetrySettings(
        exporter=exporter,
        endpoint=endpoint,
        export_interval_ns=200_000_000,
        export_timeout_s=1.0,
        drain_interval_s=0.01,
        **kw,
    )


OTEL_ENV = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_LOGS_EXPORTER",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in OTEL_ENV:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def started() -> Iterator[list[Telemetry]]:
    made: list[Telemetry] = []
    yield made
    for t in made:
        t.shutdown(3.0)


def _feed(t: Telemetry, n: int = 5) -> None:
    rec = t.recorder
    for seq in range(1, n + 1):
        rec.outcome(make_outcome(seq))
    rec.outcome(make_outcome(n + 1, Outcome.TIMEOUT))
    rec.event(make_event(AuditKind.TIMEOUT, sequence=n + 1))
    rec.lifecycle(make_lifecycle(LifecycleStep.HANDSHAKE))


def _units(rx: OtlpReceiver) -> dict[str, str]:
    return {m.name: m.unit for m in rx.metrics()}


@pytest.mark.parametrize("exporter", ["otlp_grpc", "otlp_http"])
def test_spans_and_metrics_arrive(
    exporter: str, otlp_receiver: OtlpReceiver, started: list[Telemetry]
) -> None:
    rx = otlp_receiver
    endpoint = rx.endpoint(exporter)
    t = setup_telemetry(fast(exporter, endpoint))  # type: ignore[arg-type]
    started.append(t)
    _feed(t)
    assert t.force_flush(5.0)
    assert rx.wait_for(
        lambda r: len(r.spans()) >= 7 and "genesys.websocket.rtt" in r.metric_names()
    )
    transport = "grpc" if exporter == "otlp_grpc" else "http"
    assert {r.transport for r in rx.received} == {transport}

    spans = rx.spans()
    names = sorted(s.name for s in spans)
    assert names.count("genesys.websocket.ping") == 6
    assert "genesys.websocket.handshake" in names
    timeout_span = next(
        s for s in spans if attributes_of(s).get("genesys.probe.outcome") == "timeout"
    )
    assert timeout_span.status.code == 2  # STATUS_CODE_ERROR
    assert attributes_of(timeout_span)["error.type"] == "timeout"
    assert [e.name for e in timeout_span.events] == ["genesys.probe.timeout"]
    assert timeout_span.kind == 3  # SPAN_KIND_CLIENT

    units = _units(rx)
    assert units["genesys.websocket.rtt"] == "s"
    assert units["genesys.websocket.probes"] == "{ping}"
    assert units["genesys.websocket.stability"] == "1"
    assert units["genesys.websocket.setup.duration"] == "s"

    resource = rx.resource_attributes("traces")
    assert resource["service.name"] == "otel-genesys"
    assert resource["service.version"] == __version__
    assert resource["service.instance.id"]


def test_auto_follows_standard_env_vars(
    otlp_receiver: OtlpReceiver, started: list[Telemetry], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.http_endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "svc-from-env")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
    t = setup_telemetry(fast())
    started.append(t)
    assert t.routes == {"traces": "http", "metrics": "none", "logs": "none"}
    _feed(t, 1)
    assert t.force_flush(5.0)
    assert otlp_receiver.wait_for(lambda r: len(r.spans()) >= 3)
    time.sleep(0.3)
    assert otlp_receiver.metric_names() == set()
    resource = otlp_receiver.resource_attributes("traces")
    assert resource["service.name"] == "svc-from-env"
    assert resource["deployment.environment.name"] == "test"


def test_service_name_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_genesys.telemetry.setup import build_resource

    monkeypatch.setenv("OTEL_SERVICE_NAME", "svc-from-env")
    assert (
        build_resource(TelemetrySettings(service_name="mine")).attributes["service.name"] == "mine"
    )
    assert build_resource(TelemetrySettings()).attributes["service.name"] == "svc-from-env"
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    assert build_resource(TelemetrySettings()).attributes["service.name"] == "otel-genesys"


def _metric_kind(rx: OtlpReceiver, name: str) -> tuple[str, int]:
    metric = next(m for m in rx.metrics() if m.name == name)
    kind = str(metric.WhichOneof("data"))
    return kind, getattr(metric, kind).aggregation_temporality if kind != "gauge" else 0


@pytest.mark.parametrize(
    ("preference", "temporality"), [(None, 2), ("cumulative", 2), ("delta", 1), ("lowmemory", 1)]
)
def test_temporality_env_var_is_honoured(
    preference: str | None,
    temporality: int,
    otlp_receiver: OtlpReceiver,
    started: list[Telemetry],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if preference:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", preference)
    t = setup_telemetry(fast("otlp_grpc", otlp_receiver.grpc_endpoint))
    started.append(t)
    _feed(t, 2)
    assert t.force_flush(5.0)
    assert otlp_receiver.wait_for(lambda r: "genesys.websocket.probes" in r.metric_names())
    assert _metric_kind(otlp_receiver, "genesys.websocket.probes") == ("sum", temporality)
    assert _metric_kind(otlp_receiver, "genesys.websocket.rtt") == ("histogram", temporality)
    # UpDownCounters stay cumulative under every preference.
    t.recorder.state(TARGET, ConnectionState.CONNECTED)
    assert t.force_flush(5.0)
    assert otlp_receiver.wait_for(lambda r: "genesys.websocket.connections" in r.metric_names())
    assert _metric_kind(otlp_receiver, "genesys.websocket.connections") == ("sum", 2)


def test_histogram_aggregation_env_var_is_honoured(
    otlp_receiver: OtlpReceiver, started: list[Telemetry], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
        "base2_exponential_bucket_histogram",
    )
    t = setup_telemetry(fast("otlp_http", otlp_receiver.http_endpoint))
    started.append(t)
    _feed(t, 2)
    assert t.force_flush(5.0)
    assert otlp_receiver.wait_for(lambda r: "genesys.websocket.rtt" in r.metric_names())
    assert _metric_kind(otlp_receiver, "genesys.websocket.rtt")[0] == "exponential_histogram"


def test_collector_down_costs_no_probe_time_and_is_counted(
    otlp_receiver: OtlpReceiver, started: list[Telemetry]
) -> None:
    rx = otlp_receiver
    t = setup_telemetry(fast("otlp_grpc", rx.grpc_endpoint, span_queue_size=256))
    started.append(t)
    _feed(t, 3)
    assert t.force_flush(5.0)
    assert rx.wait_for(lambda r: len(r.spans()) >= 5)
    rx.stop()

    rec = t.recorder
    durations = []
    for seq in range(100, 3100):
        o = make_outcome(seq)
        t0 = time.perf_counter_ns()
        rec.outcome(o)
        durations.append(time.perf_counter_ns() - t0)
        if seq % 500 == 0:
            time.sleep(0.05)  # let the worker and exporters run against the dead port
    durations.sort()
    assert durations[int(len(durations) * 0.99)] < 5_000_000
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (
        t.health.span_export_failures and t.health.metric_export_failures
    ):
        time.sleep(0.05)
    assert t.health.span_export_failures > 0
    assert t.health.metric_export_failures > 0
    assert rec.flush(5.0)
    # 3000 spans against a 256-span export queue: the excess is dropped and counted.
    assert t.health.spans_dropped > 0

    rx.start()  # same port: export resumes and the failure counts arrive
    assert rx.wait_for(
        lambda r: "genesys.agent.telemetry.export.failures" in r.metric_names(), timeout=10
    )


def test_black_holed_collector_shutdown_is_bounded(otlp_receiver: OtlpReceiver) -> None:
    otlp_receiver.hang()
    t = setup_telemetry(fast("otlp_http", otlp_receiver.http_endpoint))
    _feed(t, 50)
    t0 = time.monotonic()
    t.shutdown(2.0)
    assert time.monotonic() - t0 < 3.5
    t1 = time.perf_counter_ns()
    t.recorder.outcome(make_outcome(1))  # after shutdown: dropped, counted, no raise
    assert time.perf_counter_ns() - t1 < 5_000_000
    assert t.recorder.dropped >= 1


def test_otel_sdk_disabled_sends_no_probe_spans(
    otlp_receiver: OtlpReceiver, started: list[Telemetry], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Probe spans bypass the SDK's span objects; OTEL_SDK_DISABLED must still turn them off.
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    t = setup_telemetry(fast("otlp_grpc", otlp_receiver.grpc_endpoint))
    started.append(t)
    for seq in range(1, 6):
        t.recorder.outcome(make_outcome(seq))
    assert t.force_flush(5.0)
    t.shutdown(3.0)
    assert otlp_receiver.spans() == []
    assert t.health.spans_exported == 0


def test_probe_spans_reach_the_collector_without_sdk_spans(
    otlp_receiver: OtlpReceiver, started: list[Telemetry]
) -> None:
    t = setup_telemetry(fast("otlp_grpc", otlp_receiver.grpc_endpoint))
    started.append(t)
    for seq in range(1, 4):
        t.recorder.outcome(make_outcome(seq))
    assert t.force_flush(5.0)
    assert otlp_receiver.wait_for(lambda r: len(r.spans()) >= 3)
    spans = otlp_receiver.spans()
    assert [attributes_of(s)["genesys.probe.sequence"] for s in spans] == [1, 2, 3]
    assert {s.name for s in spans} == {"genesys.websocket.ping"}
    assert t.health.spans_exported == 3


def test_audit_events_land_on_encoded_probe_spans_early_or_late(
    otlp_receiver: OtlpReceiver, started: list[Telemetry]
) -> None:
    t = setup_telemetry(fast("otlp_grpc", otlp_receiver.grpc_endpoint))
    started.append(t)
    rec = t.recorder
    rec.outcome(make_outcome(1, Outcome.TIMEOUT))
    rec.event(make_event(AuditKind.TIMEOUT, sequence=1))  # while the span is held: an event
    assert t.force_flush(5.0)
    rec.event(make_event(AuditKind.LATE_PONG, sequence=1))  # after it ended: a child span
    assert t.force_flush(5.0)
    assert otlp_receiver.wait_for(lambda r: len(r.spans()) >= 2)
    by_name = {s.name: s for s in otlp_receiver.spans()}
    probe = by_name["genesys.websocket.ping"]
    assert [e.name for e in probe.events] == ["genesys.probe.timeout"]
    late = [s for s in otlp_receiver.spans() if s.name != "genesys.websocket.ping"]
    assert len(late) == 1
    assert late[0].parent_span_id == probe.span_id and late[0].trace_id == probe.trace_id
