"""Thousands of targets keep their own metric series (no SDK overflow merge)."""

from __future__ import annotations

import dataclasses

from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_genesys.telemetry import TelemetrySettings, setup_telemetry
from otel_genesys.telemetry import names as n
from tests.support.outcomes import TARGET, make_outcome

TARGETS = 2_500  # above the SDK's default limit of 2,000 attribute sets per metric


def _rtt_points(targets_hint: int) -> list[dict[str, object]]:
    reader = InMemoryMetricReader()
    telemetry = setup_telemetry(
        TelemetrySettings(exporter="none", targets_hint=targets_hint), metric_reader=reader
    )
    try:
        for i in range(TARGETS):
            target = dataclasses.replace(TARGET, name=f"org-{i:05d}")
            telemetry.recorder.outcome(make_outcome(sequence=1, target=target))
        assert telemetry.recorder.flush(30.0)
        data = reader.get_metrics_data()
    finally:
        telemetry.shutdown(5.0)
    assert data is not None
    points: list[dict[str, object]] = []
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == n.METRIC_RTT:
                    points += [dict(p.attributes or {}) for p in metric.data.data_points]
    return points


def test_every_target_keeps_its_series_when_the_hint_is_given() -> None:
    points = _rtt_points(TARGETS)
    assert len({p[n.TARGET] for p in points}) == TARGETS
    assert not any(p.get("otel.metric.overflow") for p in points)


def test_without_the_hint_the_sdk_merges_the_rest() -> None:
    # The reason for the hint: the SDK's default folds series 2,000+ into one point.
    points = _rtt_points(0)
    assert any(p.get("otel.metric.overflow") for p in points)
    assert len({p.get(n.TARGET) for p in points}) < TARGETS
