"""Reading in-memory metrics in the telemetry tests."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader, Metric


def collect(reader: InMemoryMetricReader) -> dict[str, Metric]:
    """Every metric the reader collects now, by name."""
    data = reader.get_metrics_data()
    out: dict[str, Metric] = {}
    if data is None:
        return out
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                out[metric.name] = metric
    return out


def points(metric: Metric) -> list[Any]:
    return list(metric.data.data_points)


def point_with(metric: Metric, **attrs: Any) -> Any:
    """The single data point whose attributes include ``attrs`` (dots as ``__``)."""
    wanted = {k.replace("__", "."): v for k, v in attrs.items()}
    found = [
        p for p in metric.data.data_points
        if all((p.attributes or {}).get(k) == v for k, v in wanted.items())
    ]  # fmt: skip
    assert len(found) == 1, (wanted, [dict(p.attributes or {}) for p in metric.data.data_points])
    return found[0]
