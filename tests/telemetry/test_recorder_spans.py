"""Spans and span events the recorder builds from outcomes, audit events and lifecycle records."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind, StatusCode

from otel_genesys.core.events import AuditKind, LifecycleStep
from otel_genesys.core.outcome import Breach, Confidence, Outcome, ProbeMode
from otel_genesys.telemetry import names as n
from tests.support.fixtures import MemoryTelemetry
from tests.support.outcomes import BASE_WALL_NS, make_event, make_lifecycle, make_outcome


def _spans(mt: MemoryTelemetry, name: str | None = None) -> list[Any]:
    mt.flush()
    return [s for s in mt.spans.get_finished_spans() if name is None or s.name == name]


def test_ok_probe_span(memory_telemetry: MemoryTelemetry) -> None:
    o = make_outcome(7, rtt_ms=0.5)
    memory_telemetry.recorder.outcome(o)
    (span,) = _spans(memory_telemetry)
    assert span.name == "genesys.websocket.ping"
    assert span.kind is SpanKind.CLIENT
    assert span.start_time == o.sent_wall_ns
    assert span.end_time == o.sent_wall_ns + 500_000
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes)
    assert attrs["server.address"] == "streaming.mypurecloud.ie"
    assert attrs["server.port"] == 443
    assert attrs["network.protocol.name"] == "websocket"
    assert attrs["url.scheme"] == "wss"
    assert attrs["genesys.target"] == "demo"
    assert attrs["genesys.region"] == "eu_west_1"
    assert attrs["genesys.probe.mode"] == "control"
    assert attrs["genesys.probe.sequence"] == 7
    assert attrs["genesys.probe.outcome"] == "ok"
    assert attrs["genesys.rtt"] == 0.0005
    assert attrs["genesys.jitter.consecutive"] == 0.00003
    assert attrs["genesys.jitter.rfc3550"] == 0.00002
    assert attrs["genesys.pdv"] == 0.0001
    assert attrs["genesys.stability.window"] == 0.99
    assert attrs["genesys.confidence"] == "trusted"
    assert attrs["genesys.scheduler.lateness"] == 0.00015
    assert "error.type" not in attrs
    assert "genesys.threshold.breached" not in attrs


def test_timeout_span_is_error_and_ends_at_deadline(memory_telemetry: MemoryTelemetry) -> None:
    o = make_outcome(3, Outcome.TIMEOUT, timeout_ms=800)
    memory_telemetry.recorder.outcome(o)
    memory_telemetry.recorder.event(make_event(AuditKind.TIMEOUT, sequence=3))
    (span,) = _spans(memory_telemetry, n.SPAN_PROBE)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "timeout"
    assert span.attributes["genesys.probe.outcome"] == "timeout"
    assert "genesys.rtt" not in span.attributes
    assert span.end_time - span.start_time == 800_000_000
    assert [e.name for e in span.events] == ["genesys.probe.timeout"]


def test_aborted_span_is_error_and_bounded_by_deadline(memory_telemetry: MemoryTelemetry) -> None:
    o = make_outcome(4, Outcome.ABORTED, error_type="connection_lost")
    memory_telemetry.recorder.outcome(o)
    (span,) = _spans(memory_telemetry)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "connection_lost"
    assert span.start_time <= span.end_time <= span.start_time + o.timeout_ns


def test_breach_span_lists_thresholds_and_carries_event(memory_telemetry: MemoryTelemetry) -> None:
    breach = Breach("latency", value_ns=400_000_000, limit_ns=300_000_000, consecutive=2)
    memory_telemetry.recorder.outcome(make_outcome(9, rtt_ms=400, breaches=(breach,)))
    memory_telemetry.recorder.event(
        make_event(
            AuditKind.THRESHOLD_BREACH,
            sequence=9,
            attributes=(("genesys.threshold.name", "latency"), ("genesys.threshold.value", 0.4)),
        )
    )
    (span,) = _spans(memory_telemetry)
    assert span.attributes["genesys.threshold.breached"] == ("latency",)
    (event,) = span.events
    assert event.name == "genesys.threshold.breach"
    assert dict(event.attributes) == {
        "genesys.threshold.name": "latency",
        "genesys.threshold.value": 0.4,
    }
    assert event.timestamp == BASE_WALL_NS + 9 * 1_000_000_000 + 500_000


def test_degraded_span(memory_telemetry: MemoryTelemetry) -> None:
    memory_telemetry.recorder.outcome(
        make_outcome(5, confidence=Confidence.DEGRADED, loop_lag_ns=120_000_000)
    )
    (span,) = _spans(memory_telemetry)
    assert span.attributes["genesys.confidence"] == "degraded"
    assert span.attributes["genesys.agent.loop.lag"] == 0.12


def test_event_queued_before_its_outcome_still_lands_on_the_span(
    memory_telemetry: MemoryTelemetry,
) -> None:
    rec = memory_telemetry.recorder
    rec.event(make_event(AuditKind.DRIFT_CORRECTION, sequence=11))
    rec.outcome(make_outcome(11))
    (span,) = _spans(memory_telemetry)
    assert [e.name for e in span.events] == ["genesys.scheduler.drift_correction"]


def test_late_pong_after_span_ended_becomes_child_span(memory_telemetry: MemoryTelemetry) -> None:
    rec = memory_telemetry.recorder
    rec.outcome(make_outcome(12, Outcome.TIMEOUT))
    (probe,) = _spans(memory_telemetry)
    rec.event(make_event(AuditKind.LATE_PONG, sequence=12, attributes=(("late_by_s", 0.2),)))
    late = _spans(memory_telemetry, "genesys.pong.late")
    assert len(late) == 1
    assert late[0].parent is not None
    assert late[0].parent.span_id == probe.context.span_id
    assert late[0].context.trace_id == probe.context.trace_id
    assert [e.name for e in late[0].events] == ["genesys.pong.late"]


def test_both_modes_share_sequence_numbers_and_events_find_their_own_mode(
    memory_telemetry: MemoryTelemetry,
) -> None:
    """Each probe mode numbers its pings from 1: a target probed in both modes has a
    CONTROL ping 5 and a NOTIFICATION ping 5. An event naming its mode lands on that
    mode's span, held or already ended, never on the other's."""
    rec = memory_telemetry.recorder
    rec.outcome(make_outcome(5, mode=ProbeMode.CONTROL))
    rec.outcome(make_outcome(5, mode=ProbeMode.NOTIFICATION))
    rec.event(
        make_event(AuditKind.DUPLICATE_PONG, sequence=5, attributes=((n.PROBE_MODE, "control"),))
    )
    spans = {s.attributes["genesys.probe.mode"]: s for s in _spans(memory_telemetry, n.SPAN_PROBE)}
    assert set(spans) == {"control", "notification"}
    assert [e.name for e in spans["control"].events] == ["genesys.pong.duplicate"]
    assert spans["notification"].events == ()
    # Both ended now: a late pong of NOTIFICATION ping 5 becomes a child of that span.
    rec.event(
        make_event(AuditKind.LATE_PONG, sequence=5, attributes=((n.PROBE_MODE, "notification"),))
    )
    (late,) = _spans(memory_telemetry, "genesys.pong.late")
    assert late.parent is not None
    assert late.parent.span_id == spans["notification"].context.span_id


def test_event_without_probe_gets_its_own_short_span(memory_telemetry: MemoryTelemetry) -> None:
    memory_telemetry.recorder.event(
        make_event(
            AuditKind.RECONNECT,
            attributes=(("genesys.reconnect.cause", "socket_closing"),),
            time_wall_ns=BASE_WALL_NS,
        )
    )
    (span,) = _spans(memory_telemetry)
    assert span.name == "genesys.connection.reconnect"
    assert span.start_time == span.end_time == BASE_WALL_NS
    assert span.parent is None
    assert span.attributes["genesys.target"] == "demo"
    assert [e.name for e in span.events] == ["genesys.connection.reconnect"]
    assert span.events[0].attributes["genesys.reconnect.cause"] == "socket_closing"


def test_every_audit_kind_is_exported(memory_telemetry: MemoryTelemetry) -> None:
    for kind in AuditKind:
        memory_telemetry.recorder.event(make_event(kind))
    spans = _spans(memory_telemetry)
    assert sorted(s.name for s in spans) == sorted(k.value for k in AuditKind)
    for span in spans:
        assert [e.name for e in span.events] == [span.name]


def test_lifecycle_spans_are_short_and_carry_phases(memory_telemetry: MemoryTelemetry) -> None:
    rec = memory_telemetry.recorder
    rec.lifecycle(
        make_lifecycle(
            LifecycleStep.HANDSHAKE,
            duration_ms=42,
            phases=(("dns", 2_000_000), ("connect", 10_000_000), ("upgrade", 30_000_000)),
            attributes=(("http.response.status_code", 101),),
        )
    )
    rec.lifecycle(make_lifecycle(LifecycleStep.TOKEN_FETCH, error_type="invalid_client"))
    spans = {s.name: s for s in _spans(memory_telemetry)}
    hs = spans["genesys.websocket.handshake"]
    assert hs.kind is SpanKind.CLIENT
    assert hs.end_time - hs.start_time == 42_000_000
    assert hs.attributes["genesys.phase.dns.duration"] == 0.002
    assert hs.attributes["genesys.phase.upgrade.duration"] == 0.03
    assert hs.attributes["http.response.status_code"] == 101
    assert hs.status.status_code is StatusCode.UNSET
    tok = spans["genesys.oauth.token"]
    assert tok.status.status_code is StatusCode.ERROR
    assert tok.attributes["error.type"] == "invalid_client"


def test_each_probe_is_its_own_trace(memory_telemetry: MemoryTelemetry) -> None:
    for seq in range(3):
        memory_telemetry.recorder.outcome(make_outcome(seq))
    spans = _spans(memory_telemetry)
    assert len({s.context.trace_id for s in spans}) == 3
