"""Span sampling: every anomaly kept, normal cycles at span_ratio; metrics always 100 %."""

from __future__ import annotations

import pytest

from otel_genesys.core.outcome import Breach, Confidence, Outcome
from otel_genesys.telemetry import SpanSampler, TelemetrySettings, is_anomalous
from tests.support.fixtures import make_memory_telemetry
from tests.support.outcomes import make_outcome
from tests.telemetry.helpers import collect, point_with

BREACH = (Breach("latency", 400_000_000, 300_000_000, 1),)


def test_anomaly_classification() -> None:
    assert not is_anomalous(make_outcome(1))
    assert is_anomalous(make_outcome(1, Outcome.TIMEOUT))
    assert is_anomalous(make_outcome(1, Outcome.ABORTED))
    assert is_anomalous(make_outcome(1, breaches=BREACH))
    assert is_anomalous(make_outcome(1, confidence=Confidence.DEGRADED))


@pytest.mark.parametrize(
    ("ratio", "kept"), [(0.0, 0), (0.1, 10), (0.25, 25), (0.5, 50), (1.0, 100)]
)
def test_ratio_is_exact(ratio: float, kept: int) -> None:
    sampler = SpanSampler(ratio)
    assert sum(sampler.keep(make_outcome(i)) for i in range(100)) == kept


def test_invalid_ratio_rejected() -> None:
    with pytest.raises(ValueError):
        SpanSampler(1.5)


def test_ratio_zero_keeps_every_anomaly_and_all_metrics() -> None:
    mt = make_memory_telemetry(TelemetrySettings(exporter="none", span_ratio=0.0))
    try:
        rec = mt.recorder
        anomalies = [
            make_outcome(1, Outcome.TIMEOUT),
            make_outcome(2, Outcome.ABORTED),
            make_outcome(3, breaches=BREACH),
            make_outcome(4, confidence=Confidence.DEGRADED),
        ]
        for seq in range(100, 200):
            rec.outcome(make_outcome(seq))
        for o in anomalies:
            rec.outcome(o)
        mt.flush()
        spans = mt.spans.get_finished_spans()
        seqs = sorted(int(dict(s.attributes or {})["genesys.probe.sequence"]) for s in spans)  # type: ignore[arg-type]
        assert seqs == [1, 2, 3, 4]
        probes = collect(mt.reader)["genesys.websocket.probes"]
        assert point_with(probes, genesys__probe__outcome="ok").value == 102
    finally:
        mt.telemetry.shutdown(5.0)


def test_late_event_for_unsampled_cycle_adds_no_span() -> None:
    from otel_genesys.core.events import AuditKind
    from tests.support.outcomes import make_event

    mt = make_memory_telemetry(TelemetrySettings(exporter="none", span_ratio=0.0))
    try:
        mt.recorder.outcome(make_outcome(1))
        mt.flush()
        mt.recorder.event(make_event(AuditKind.DRIFT_CORRECTION, sequence=1))
        mt.flush()
        assert mt.spans.get_finished_spans() == ()
    finally:
        mt.telemetry.shutdown(5.0)
