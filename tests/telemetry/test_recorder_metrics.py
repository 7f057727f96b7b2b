"""Metric points, units and attributes the recorder produces."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics.export import Histogram, Sum

from otel_genesys.core.events import AuditKind, ConnectionState, LifecycleStep
from otel_genesys.core.outcome import Breach, Confidence, Outcome, ProbeMode
from otel_genesys.telemetry import names as n
from tests.support.fixtures import MemoryTelemetry
from tests.support.outcomes import TARGET, make_event, make_lifecycle, make_outcome
from tests.telemetry.helpers import collect, point_with, points

TARGET_ATTRS = {
    "genesys.target": "demo",
    "genesys.target_kind": "notification",
    "genesys.region": "eu_west_1",
    "server.address": "streaming.mypurecloud.ie",
    "server.port": 443,
    "network.protocol.name": "websocket",
    "url.scheme": "wss",
}
PROBE_ATTRS = {**TARGET_ATTRS, "genesys.probe.mode": "control"}


def _metrics(mt: MemoryTelemetry) -> dict[str, Any]:
    mt.flush()
    return collect(mt.reader)


def test_ok_probe_metrics(memory_telemetry: MemoryTelemetry) -> None:
    rec = memory_telemetry.recorder
    rec.outcome(make_outcome(1, rtt_ms=0.5))
    rec.outcome(make_outcome(2, rtt_ms=2.0))
    m = _metrics(memory_telemetry)

    rtt = m["genesys.websocket.rtt"]
    assert rtt.unit == "s"
    assert isinstance(rtt.data, Histogram)
    (point,) = points(rtt)
    assert dict(point.attributes) == {**PROBE_ATTRS, "genesys.confidence": "trusted"}
    assert point.count == 2
    assert abs(point.sum - 0.0025) < 1e-12
    assert tuple(point.explicit_bounds) == n.BUCKETS_RTT

    probes = m["genesys.websocket.probes"]
    assert probes.unit == "{ping}"
    assert isinstance(probes.data, Sum) and probes.data.is_monotonic
    (pp,) = points(probes)
    assert dict(pp.attributes) == {**PROBE_ATTRS, "genesys.probe.outcome": "ok"}
    assert pp.value == 2

    for name in (
        "genesys.websocket.jitter.consecutive",
        "genesys.websocket.jitter.rfc3550",
        "genesys.websocket.pdv",
    ):
        (jp,) = points(m[name])
        assert m[name].unit == "s"
        assert dict(jp.attributes) == PROBE_ATTRS
        assert jp.count == 2
        assert tuple(jp.explicit_bounds) == n.BUCKETS_JITTER

    lateness = m["genesys.websocket.scheduler.lateness"]
    assert points(lateness)[0].count == 2 and lateness.unit == "s"

    stability = m["genesys.websocket.stability"]
    assert stability.unit == "1"
    assert point_with(stability, genesys__stability__scope="window").value == 0.99
    assert point_with(stability, genesys__stability__scope="lifetime").value == 0.995
    assert "genesys.websocket.threshold.breaches" not in m
    assert "genesys.websocket.degraded_samples" not in m


def test_metric_attributes_never_carry_sequence_numbers(memory_telemetry: MemoryTelemetry) -> None:
    for seq in range(50):
        memory_telemetry.recorder.outcome(make_outcome(seq, rtt_ms=1 + seq / 10))
    m = _metrics(memory_telemetry)
    for metric in m.values():
        for p in points(metric):
            assert "genesys.probe.sequence" not in p.attributes
    assert len(points(m["genesys.websocket.rtt"])) == 1


def test_failures_breaches_and_degraded_counted(memory_telemetry: MemoryTelemetry) -> None:
    rec = memory_telemetry.recorder
    rec.outcome(make_outcome(1, Outcome.TIMEOUT))
    rec.outcome(make_outcome(2, Outcome.ABORTED, error_type="connection_lost"))
    rec.outcome(
        make_outcome(
            3,
            rtt_ms=500,
            breaches=(Breach("latency", 500_000_000, 300_000_000, 1), Breach("jitter", 1, 0, 1)),
            confidence=Confidence.DEGRADED,
        )
    )
    m = _metrics(memory_telemetry)
    probes = m["genesys.websocket.probes"]
    assert point_with(probes, genesys__probe__outcome="timeout", error__type="timeout").value == 1
    aborted = point_with(probes, genesys__probe__outcome="aborted")
    assert aborted.attributes["error.type"] == "connection_lost"
    assert point_with(probes, genesys__probe__outcome="ok").value == 1
    breaches = m["genesys.websocket.threshold.breaches"]
    assert breaches.unit == "{breach}"
    assert point_with(breaches, genesys__threshold__name="latency").value == 1
    assert point_with(breaches, genesys__threshold__name="jitter").value == 1
    degraded = m["genesys.websocket.degraded_samples"]
    assert points(degraded)[0].value == 1
    rtt = m["genesys.websocket.rtt"]
    assert point_with(rtt, genesys__confidence="degraded").count == 1
    assert points(m["genesys.websocket.scheduler.lateness"])[0].count == 3


def test_modes_are_separate_series(memory_telemetry: MemoryTelemetry) -> None:
    rec = memory_telemetry.recorder
    rec.outcome(make_outcome(1, mode=ProbeMode.CONTROL))
    rec.outcome(make_outcome(1, mode=ProbeMode.NOTIFICATION, stability=0.5))
    m = _metrics(memory_telemetry)
    stab = m["genesys.websocket.stability"]
    assert (
        point_with(
            stab, genesys__probe__mode="notification", genesys__stability__scope="window"
        ).value
        == 0.5
    )
    assert (
        point_with(stab, genesys__probe__mode="control", genesys__stability__scope="window").value
        == 0.99
    )


def test_audit_driven_counters(memory_telemetry: MemoryTelemetry) -> None:
    rec = memory_telemetry.recorder
    rec.event(
        make_event(AuditKind.RECONNECT, attributes=(("cause", "socket_closing"),))
    )
    rec.event(make_event(AuditKind.RECONNECT, attributes=(("error.type", "connection_lost"),)))
    rec.event(make_event(AuditKind.RECONNECT))
    rec.event(make_event(AuditKind.RECONNECT, attributes=(("cause", "close_1006"), ("attempt", 2))))
    rec.event(make_event(AuditKind.LATE_PONG, sequence=3))
    rec.event(make_event(AuditKind.DUPLICATE_PONG))
    rec.event(make_event(AuditKind.UNSOLICITED_PONG))
    rec.event(make_event(AuditKind.UNSOLICITED_PONG))
    m = _metrics(memory_telemetry)
    reconnects = m["genesys.websocket.reconnects"]
    assert reconnects.unit == "{reconnect}"
    for cause in ("socket_closing", "connection_lost", "unknown", "close_1006"):
        assert point_with(reconnects, genesys__reconnect__cause=cause).value == 1
    anomalies = m["genesys.websocket.pong.anomalies"]
    assert anomalies.unit == "{pong}"
    assert point_with(anomalies, genesys__pong__anomaly="late").value == 1
    assert point_with(anomalies, genesys__pong__anomaly="duplicate").value == 1
    assert point_with(anomalies, genesys__pong__anomaly="unsolicited").value == 2
    assert dict(point_with(anomalies, genesys__pong__anomaly="late").attributes) == {
        **TARGET_ATTRS,
        "genesys.pong.anomaly": "late",
    }


def test_connection_state_counts_targets_per_state(memory_telemetry: MemoryTelemetry) -> None:
    rec = memory_telemetry.recorder
    rec.state(TARGET, ConnectionState.CONNECTING)
    rec.state(TARGET, ConnectionState.CONNECTED)
    rec.state(TARGET, ConnectionState.CONNECTED)
    m = _metrics(memory_telemetry)
    conns = m["genesys.websocket.connections"]
    assert conns.unit == "{connection}"
    assert not conns.data.is_monotonic
    assert point_with(conns, genesys__connection__state="connected").value == 1
    assert point_with(conns, genesys__connection__state="connecting").value == 0
    rec.state(TARGET, ConnectionState.RECONNECTING)
    m = _metrics(memory_telemetry)
    conns = m["genesys.websocket.connections"]
    assert point_with(conns, genesys__connection__state="connected").value == 0
    assert point_with(conns, genesys__connection__state="reconnecting").value == 1


def test_heartbeats_oauth_loop_lag_gc(memory_telemetry: MemoryTelemetry) -> None:
    rec = memory_telemetry.recorder
    rec.heartbeat(TARGET)
    rec.heartbeat(TARGET)
    rec.oauth_request(0.120, "ok", region="eu_west_1")
    rec.oauth_request(0.050, "rate_limited", region="eu_west_1")
    rec.token_refresh()
    rec.record_loop_lag(0.002)
    rec.record_gc_pause(0.030)
    rec.lifecycle(make_lifecycle(LifecycleStep.CHANNEL_CREATE, duration_ms=80))
    m = _metrics(memory_telemetry)
    hb = m["genesys.websocket.heartbeats"]
    assert hb.unit == "{heartbeat}" and points(hb)[0].value == 2
    oauth = m["genesys.oauth.request.duration"]
    assert oauth.unit == "s"
    assert point_with(oauth, genesys__oauth__outcome="ok").sum == 0.120
    assert point_with(oauth, genesys__oauth__outcome="rate_limited").count == 1
    refresh = m["genesys.oauth.token.refreshes"]
    assert refresh.unit == "{refresh}" and points(refresh)[0].value == 1
    assert points(m["genesys.agent.loop.lag"])[0].sum == 0.002
    assert points(m["genesys.agent.gc.pause"])[0].sum == 0.030
    setup = m["genesys.websocket.setup.duration"]
    p = point_with(setup, genesys__setup__step="genesys.channel.create")
    assert abs(p.sum - 0.080) < 1e-9


def test_export_health_metrics_are_published(memory_telemetry: MemoryTelemetry) -> None:
    memory_telemetry.recorder.outcome(make_outcome(1))
    m = _metrics(memory_telemetry)
    dropped = m["genesys.agent.telemetry.dropped"]
    assert dropped.unit == "{record}"
    assert point_with(dropped, genesys__telemetry__queue="recorder").value == 0
    assert point_with(dropped, genesys__telemetry__queue="spans").value == 0
    failures = m["genesys.agent.telemetry.export.failures"]
    assert {p.attributes["genesys.telemetry.signal"] for p in points(failures)} == {
        "traces",
        "metrics",
        "logs",
    }
    assert points(m["genesys.agent.telemetry.errors"])[0].value == 0


def test_a_proxy_meter_provider_still_gets_the_probe_metrics() -> None:
    # The API's global provider before an SDK is installed (e.g. the instrumentation hook
    # instrumenting early): probe metrics go through its instruments, which attach to
    # the SDK provider once it is set.
    from opentelemetry.metrics._internal import _ProxyMeterProvider
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    from otel_genesys.telemetry.recorder import Recorder

    proxy = _ProxyMeterProvider()
    rec = Recorder(TracerProvider(), proxy, drain_interval_s=0.01)
    reader = InMemoryMetricReader()
    proxy.on_set_meter_provider(MeterProvider(metric_readers=[reader]))
    try:
        rec.outcome(make_outcome(1, rtt_ms=0.5))
        assert rec.flush(5.0)
        m = collect(reader)
        assert point_with(m["genesys.websocket.rtt"], genesys__confidence="trusted").count == 1
        assert m["genesys.websocket.stability"].data.data_points
    finally:
        rec.close(2.0)
