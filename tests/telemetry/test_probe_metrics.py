"""ProbeMetrics: the per-probe metrics aggregated in-house, read by the SDK's own readers.

The oracle is the SDK itself: :func:`_sdk_reference` records through SDK
instruments (``ProbeMetrics.use_instruments``: the instruments and calls the
recorder used before it aggregated in-house) on a second meter provider with the
same kind of readers; every point of every collection must match.
"""

from __future__ import annotations

import dataclasses
import io
import math
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics._internal.instrument import _Counter, _Histogram
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from opentelemetry.sdk.metrics.export import Sum as SumData
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.resources import Resource

from otel_genesys.core.outcome import (
    Breach,
    Confidence,
    Outcome,
    ProbeMode,
    ProbeOutcome,
    TargetInfo,
    TargetKind,
)
from otel_genesys.telemetry import names as n
from otel_genesys.telemetry import probe_metrics as pm
from otel_genesys.telemetry.probe_metrics import METRIC_NAMES, ProbeMetrics, target_metric_attrs
from tests.support.outcomes import TARGET, make_outcome

CUM = AggregationTemporality.CUMULATIVE
DELTA = AggregationTemporality.DELTA
VERSION = "9.9.9"
RESOURCE = Resource.create({"service.name": "probe-metrics-test"})

OTHER = TargetInfo("other", TargetKind.GENERIC, "10.0.0.7", 8080, "ws")  # no region
EMPTY_REGION = TargetInfo("other", TargetKind.GENERIC, "10.0.0.7", 8080, "ws", region="")


# ------------------------------------------------------------------ the SDK oracle


def _sdk_reference(provider: MeterProvider) -> ProbeMetrics:
    """The same metrics through the SDK's own instruments: ``use_instruments`` makes
    exactly the calls the recorder made before it aggregated in-house."""
    ref = ProbeMetrics()
    ref.use_instruments(provider, n.INSTRUMENTATION_SCOPE, VERSION)
    return ref


def _breach(name: str) -> Breach:
    return Breach(name, 5_000_000, 1_000_000, 2)


def _batch(first: int) -> list[ProbeOutcome]:
    """Every shape of outcome, values on and around bucket boundaries."""
    s = first
    return [
        make_outcome(s + 0, rtt_ms=0.5),
        make_outcome(s + 1, rtt_ms=1.0),  # == a boundary (0.001 s)
        make_outcome(s + 2, rtt_ms=0.0),  # zero lands in the first bucket
        make_outcome(s + 3, rtt_ms=20_000.0),  # above the last boundary
        make_outcome(s + 4, rtt_ms=7.5, jitter_ns=None, jitter_rfc3550_ns=None, pdv_ns=None),
        make_outcome(s + 5, rtt_ms=3.0, confidence=Confidence.DEGRADED, lateness_ns=-4_000),
        make_outcome(s + 6, rtt_ms=250.0, breaches=(_breach("latency"), _breach("jitter"))),
        make_outcome(s + 7, Outcome.TIMEOUT, breaches=(_breach("timeout"),)),
        make_outcome(s + 8, Outcome.ABORTED, error_type="connection_closed"),
        make_outcome(s + 9, Outcome.ABORTED, error_type=None),
        make_outcome(s + 10, rtt_ms=1.2, mode=ProbeMode.NOTIFICATION, jitter_ns=100_000),
        make_outcome(s + 11, rtt_ms=0.1, target=OTHER, pdv_ns=50_000, lateness_ns=5_000_000_000),
        make_outcome(s + 12, Outcome.TIMEOUT, target=OTHER, confidence=Confidence.DEGRADED),
        make_outcome(s + 13, rtt_ms=0.9, target=EMPTY_REGION),  # same attributes as OTHER
        make_outcome(s + 14, rtt_ms=2.0, jitter_ns=-7, pdv_ns=0),  # negative: dropped
    ]


# ------------------------------------------------------------------ reading points


def _ours(data: MetricsData | None) -> list[Any]:
    if data is None:
        return []
    return [
        m
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name in METRIC_NAMES
    ]


def _frozen(attrs: Any) -> frozenset[tuple[str, Any]]:
    return frozenset(dict(attrs or {}).items())


def _norm(data: MetricsData | None, *, approx: bool = False) -> dict[str, Any]:
    """Everything a metric exports except timestamps, keyed by name and attribute set."""
    out: dict[str, Any] = {}
    for m in _ours(data):
        assert m.name not in out, f"{m.name} exported twice"
        d = m.data
        pts: dict[frozenset[tuple[str, Any]], Any] = {}
        for p in d.data_points:
            key = _frozen(p.attributes)
            assert key not in pts, f"{m.name}: two points with {dict(key)}"
            if isinstance(p, HistogramDataPoint):
                total = pytest.approx(p.sum, rel=1e-12) if approx else p.sum
                pts[key] = (
                    "hist", p.count, total, tuple(p.bucket_counts), tuple(p.explicit_bounds),
                    p.min, p.max, list(p.exemplars), type(p.sum),
                )  # fmt: skip
            else:
                assert isinstance(p, NumberDataPoint)
                pts[key] = ("num", p.value, type(p.value), list(p.exemplars))
        monotonic = getattr(d, "is_monotonic", None)
        out[m.name] = (
            type(d).__name__,
            m.unit,
            m.description,
            getattr(d, "aggregation_temporality", None),
            monotonic,
            pts,
        )
    return out


def _pair(
    readers: Sequence[dict[type, AggregationTemporality] | None],
    clock: Any = None,
    *,
    limits: dict[type, int] | None = None,
    views: Sequence[View] = (),
) -> tuple[list[InMemoryMetricReader], ProbeMetrics, list[InMemoryMetricReader], ProbeMetrics]:
    def reader(t: dict[type, AggregationTemporality] | None) -> InMemoryMetricReader:
        return InMemoryMetricReader(preferred_temporality=t, cardinality_limits=limits)

    def provider(readers: list[InMemoryMetricReader]) -> MeterProvider:
        return MeterProvider(readers, resource=RESOURCE, views=views, shutdown_on_exit=False)

    sdk_readers = [reader(t) for t in readers]
    our_readers = [reader(t) for t in readers]
    ref = _sdk_reference(provider(sdk_readers))
    ours = ProbeMetrics() if clock is None else ProbeMetrics(clock=clock)
    ours.bind(provider(our_readers), n.INSTRUMENTATION_SCOPE, VERSION)
    return sdk_readers, ref, our_readers, ours


def _feed(outcomes: Iterable[ProbeOutcome], ref: ProbeMetrics, ours: ProbeMetrics) -> None:
    for o in outcomes:
        ref.record(o)
        ours.record(o)


# ------------------------------------------------------------------ (1) equivalence


@pytest.mark.parametrize(
    "preference",
    [
        None,
        {Counter: DELTA, Histogram: DELTA},
        {Counter: DELTA, Histogram: CUM},
        {Counter: CUM, Histogram: DELTA},
    ],
    ids=["cumulative", "delta", "delta-counters", "delta-histograms"],
)
def test_probe_metrics_match_the_sdk_over_collections(
    preference: dict[type, AggregationTemporality] | None,
) -> None:
    (sdk,), ref, (mine,), ours = _pair([preference])
    _feed(_batch(1), ref, ours)
    first = _norm(sdk.get_metrics_data())
    assert len(first) == len(METRIC_NAMES)
    assert _norm(mine.get_metrics_data()) == first

    _feed(_batch(100)[3:], ref, ours)
    second = _norm(sdk.get_metrics_data())
    assert second != first
    assert _norm(mine.get_metrics_data()) == second

    # Nothing new: cumulative repeats every series, delta leaves them all out.
    third = _norm(sdk.get_metrics_data())
    assert _norm(mine.get_metrics_data()) == third

    # One series again after a quiet interval.
    _feed([make_outcome(500, rtt_ms=4.0, target=OTHER)], ref, ours)
    assert _norm(mine.get_metrics_data()) == _norm(sdk.get_metrics_data())


def test_probe_metrics_edges_and_attributes() -> None:
    (sdk,), ref, (mine,), ours = _pair([None])
    _feed(_batch(1), ref, ours)
    got = _norm(mine.get_metrics_data())
    assert got == _norm(sdk.get_metrics_data())

    rtt = got[n.METRIC_RTT][5]
    trusted = {**target_metric_attrs(TARGET), n.PROBE_MODE: "control", n.CONFIDENCE: "trusted"}
    kind, count, _, buckets, bounds, lo, hi, *_ = rtt[_frozen(trusted)]
    assert (kind, count) == ("hist", 7)
    assert bounds == n.BUCKETS_RTT
    assert buckets[bounds.index(0.001)] == 1  # value == boundary: the bucket it closes
    assert buckets[0] == 1 and buckets[-1] == 1
    assert (lo, hi) == (0.0, 20.0)

    probes = got[n.METRIC_PROBES][5]
    other = {**target_metric_attrs(OTHER), n.PROBE_MODE: "control"}
    assert n.REGION not in other
    assert probes[_frozen({**other, n.PROBE_OUTCOME: "timeout", n.ERROR_TYPE: "timeout"})][1] == 1
    aborted = {**target_metric_attrs(TARGET), n.PROBE_MODE: "control", n.PROBE_OUTCOME: "aborted"}
    assert probes[_frozen({**aborted, n.ERROR_TYPE: "connection_closed"})][1] == 1
    assert probes[_frozen({**aborted, n.ERROR_TYPE: "aborted"})][1] == 1
    # OTHER and EMPTY_REGION differ as targets but not as attribute sets: one series.
    assert probes[_frozen({**other, n.PROBE_OUTCOME: "ok"})][1] == 2


@pytest.mark.parametrize("temporality", [None, {Counter: DELTA, Histogram: DELTA}])
@pytest.mark.parametrize("limit_from", ["reader", "view"])
def test_probe_metrics_overflow_like_the_sdk(
    temporality: dict[type, AggregationTemporality] | None, limit_from: str
) -> None:
    if limit_from == "reader":
        kwargs: dict[str, Any] = {"limits": {Counter: 3, Histogram: 4}}
    else:
        kwargs = {"views": [View(instrument_name="genesys.*", aggregation_cardinality_limit=3)]}
    (sdk,), ref, (mine,), ours = _pair([temporality], **kwargs)
    targets = [dataclasses.replace(TARGET, name=f"t{i}") for i in range(7)]
    _feed([make_outcome(i, target=t) for i, t in enumerate(targets)], ref, ours)
    # approx: the overflow point adds up several series' sums in another order.
    first = _norm(sdk.get_metrics_data(), approx=True)
    overflow = _frozen({"otel.metric.overflow": True})
    assert overflow in first[n.METRIC_RTT][5]
    assert _norm(mine.get_metrics_data(), approx=True) == first
    _feed([make_outcome(i, target=t) for i, t in enumerate(reversed(targets))], ref, ours)
    second = _norm(sdk.get_metrics_data(), approx=True)
    assert _norm(mine.get_metrics_data(), approx=True) == second


def _sums_and_histograms(data: MetricsData | None) -> list[Any]:
    """Our metrics with a temporality (the stability gauge has none: no start time)."""
    return [m for m in _ours(data) if m.name != n.METRIC_STABILITY]


def test_probe_metrics_timestamps_follow_temporality() -> None:
    now = [1_000]
    readers = [None, {Counter: DELTA, Histogram: DELTA}]
    _, _, (cumulative, delta), ours = _pair(readers, clock=lambda: now[0])
    ours.record(make_outcome(1))
    now[0] = 2_000
    c1 = _sums_and_histograms(cumulative.get_metrics_data())
    now[0] = 3_000
    d1 = _sums_and_histograms(delta.get_metrics_data())
    ours.record(make_outcome(2))
    now[0] = 4_000
    d2 = _sums_and_histograms(delta.get_metrics_data())
    now[0] = 5_000
    c2 = _sums_and_histograms(cumulative.get_metrics_data())
    for metric in c1 + c2:
        assert {p.start_time_unix_nano for p in metric.data.data_points} == {1_000}
    assert {p.time_unix_nano for m in c2 for p in m.data.data_points} == {5_000}
    assert {(p.start_time_unix_nano, p.time_unix_nano) for m in d1 for p in m.data.data_points} == {
        (1_000, 3_000)
    }
    assert {(p.start_time_unix_nano, p.time_unix_nano) for m in d2 for p in m.data.data_points} == {
        (3_000, 4_000)
    }


def test_probe_metrics_join_the_sdk_scope_and_keep_other_scopes() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider([reader], resource=RESOURCE, shutdown_on_exit=False)
    ours = ProbeMetrics()
    ours.bind(provider, n.INSTRUMENTATION_SCOPE, VERSION)
    assert reader.get_metrics_data() is None  # nothing recorded anywhere: nothing to export

    provider.get_meter(n.INSTRUMENTATION_SCOPE, VERSION).create_counter("sdk.same").add(1)
    provider.get_meter("elsewhere", "1").create_counter("sdk.other").add(2)
    ours.record(make_outcome(1))
    data = reader.get_metrics_data()
    assert data is not None
    (rm,) = data.resource_metrics
    assert rm.resource is provider._sdk_config.resource
    scopes = {(sm.scope.name, sm.scope.version): sm for sm in rm.scope_metrics}
    assert set(scopes) == {(n.INSTRUMENTATION_SCOPE, VERSION), ("elsewhere", "1")}
    names = [m.name for m in scopes[(n.INSTRUMENTATION_SCOPE, VERSION)].metrics]
    assert names[0] == "sdk.same"
    assert set(names[1:]) == METRIC_NAMES - {n.METRIC_BREACHES, n.METRIC_DEGRADED}
    assert [m.name for m in scopes[("elsewhere", "1")].metrics] == ["sdk.other"]

    # Without any SDK data the scope and resource are created.
    reader2 = InMemoryMetricReader()
    ours2 = ProbeMetrics()
    ours2.bind(MeterProvider([reader2], resource=RESOURCE, shutdown_on_exit=False), "s", "2")
    ours2.record(make_outcome(1))
    data2 = reader2.get_metrics_data()
    assert data2 is not None
    (rm2,) = data2.resource_metrics
    assert rm2.resource.attributes["service.name"] == "probe-metrics-test"
    (sm2,) = rm2.scope_metrics
    assert (sm2.scope.name, sm2.scope.version, sm2.schema_url) == ("s", "2", "")


def test_probe_metrics_odd_values_never_raise() -> None:
    (sdk,), ref, (mine,), ours = _pair([None])
    odd = [
        make_outcome(1, lateness_ns=float("nan")),
        make_outcome(2, jitter_ns=float("inf"), pdv_ns=-1.5),
        make_outcome(3, rtt_ms=None, outcome=Outcome.OK),
    ]
    _feed(odd, ref, ours)
    assert _norm(mine.get_metrics_data()) == _norm(sdk.get_metrics_data())
    ours.record(make_outcome(4, rtt_ns=10**400))  # too large for a float: counted, not raised
    assert ours.errors == 1


def test_target_metric_attrs_is_the_recorders() -> None:
    from otel_genesys.telemetry import recorder

    for target in (TARGET, OTHER, EMPTY_REGION):
        assert recorder.target_metric_attrs(target) == target_metric_attrs(target)


# ------------------------------------------------------------------ (2) several readers


def test_probe_metrics_two_readers_of_different_temporality() -> None:
    both = [{Counter: DELTA, Histogram: DELTA}, None]
    (sdk_d, sdk_c), ref, (my_d, my_c), ours = _pair(both)
    steps = [
        (_batch(1), "delta"),
        (_batch(20)[:5], "cumulative"),
        (_batch(40)[5:], "delta"),
        ([], "delta"),
        (_batch(60), "cumulative"),
        ([], "cumulative"),
        (_batch(80)[7:], "delta"),
        ([], "cumulative"),
    ]
    for outcomes, which in steps:
        _feed(outcomes, ref, ours)
        sdk_r, my_r = (sdk_d, my_d) if which == "delta" else (sdk_c, my_c)
        expected = _norm(sdk_r.get_metrics_data(), approx=True)
        assert _norm(my_r.get_metrics_data(), approx=True) == expected
        temporality = DELTA if which == "delta" else CUM
        assert {v[3] for v in expected.values()} <= {temporality, None}  # None: the gauge


# ------------------------------------------------------------------ (3) OTLP encoding


def test_probe_metrics_encode_through_the_otlp_encoder() -> None:
    _, _, (mine,), ours = _pair([None])
    for o in _batch(1):
        ours.record(o)
    data = mine.get_metrics_data()
    assert data is not None
    request = encode_metrics(data)
    wire = request.SerializeToString()
    back = ExportMetricsServiceRequest.FromString(wire)
    assert back == request

    (rm,) = back.resource_metrics
    (sm,) = rm.scope_metrics
    assert (sm.scope.name, sm.scope.version) == (n.INSTRUMENTATION_SCOPE, VERSION)
    by_name = {m.name: m for m in sm.metrics}
    assert set(by_name) == METRIC_NAMES
    want = {m.name: m for m in _ours(data)}
    for name, metric in by_name.items():
        source = want[name]
        assert metric.unit == source.unit and metric.description == source.description
        if isinstance(source.data, HistogramData):
            assert metric.histogram.aggregation_temporality == 2  # CUMULATIVE
            for sp, p in zip(source.data.data_points, metric.histogram.data_points, strict=True):
                assert list(p.bucket_counts) == list(sp.bucket_counts)
                assert list(p.explicit_bounds) == list(sp.explicit_bounds)
                assert (p.count, p.sum, p.min, p.max) == (sp.count, sp.sum, sp.min, sp.max)
                attrs = {kv.key: kv.value for kv in p.attributes}
                assert attrs[n.TARGET].string_value == sp.attributes[n.TARGET]
                assert attrs[n.SERVER_PORT].int_value == sp.attributes[n.SERVER_PORT]
        elif name == n.METRIC_STABILITY:
            got_values = sorted(p.as_double for p in metric.gauge.data_points)
            assert got_values == sorted(p.value for p in source.data.data_points)
        else:
            assert isinstance(source.data, SumData)
            assert metric.sum.is_monotonic and metric.sum.aggregation_temporality == 2
            got = sorted(p.as_int for p in metric.sum.data_points)
            assert got == sorted(p.value for p in source.data.data_points)


def test_probe_metrics_reach_prometheus_and_periodic_exporters() -> None:
    prometheus = pytest.importorskip("opentelemetry.exporter.prometheus")
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    prom = prometheus.PrometheusMetricReader(registry=registry)
    sink = _ListExporter({Counter: DELTA, Histogram: DELTA})
    periodic = PeriodicExportingMetricReader(sink, export_interval_millis=math.inf)
    provider = MeterProvider([prom, periodic], resource=RESOURCE, shutdown_on_exit=False)
    ours = ProbeMetrics()
    ours.bind(provider, n.INSTRUMENTATION_SCOPE, VERSION)
    for i in range(3):
        ours.record(make_outcome(i, rtt_ms=1.0))
    lines = generate_latest(registry).decode().splitlines()

    def sample(prefix: str, label: str) -> str:
        (line,) = [x for x in lines if x.startswith(prefix + "{") and label in x]
        return line.rsplit(" ", 1)[1]

    assert sample("genesys_websocket_rtt_seconds_bucket", 'le="0.00075"') == "0.0"
    assert sample("genesys_websocket_rtt_seconds_bucket", 'le="0.001"') == "3.0"
    assert sample("genesys_websocket_rtt_seconds_count", "demo") == "3.0"
    assert sample("genesys_websocket_probes_total", 'genesys_probe_outcome="ok"') == "3.0"

    periodic.force_flush()
    (exported,) = sink.batches
    probes = {m.name: m for m in _ours(exported)}[n.METRIC_PROBES]
    assert probes.data.aggregation_temporality is DELTA
    assert [p.value for p in probes.data.data_points] == [3]
    provider.shutdown()


class _ListExporter(MetricExporter):
    def __init__(self, temporality: dict[type, AggregationTemporality]) -> None:
        super().__init__(preferred_temporality=temporality)
        self.batches: list[MetricsData] = []

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        self.batches.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


# ------------------------------------------------------------------ (4) concurrency


def test_probe_metrics_concurrent_record_and_collect_lose_nothing() -> None:
    readers = [{Counter: DELTA, Histogram: DELTA}, None]
    _, _, (delta, cumulative), ours = _pair(readers)
    total = 20_000
    outcomes = [
        make_outcome(i, Outcome.TIMEOUT if i % 10 == 0 else Outcome.OK, rtt_ms=0.5)
        for i in range(total)
    ]
    done = threading.Event()
    delta_probes = 0
    delta_rtt = 0
    collections = 0

    def take() -> None:
        nonlocal delta_probes, delta_rtt, collections
        for m in _ours(delta.get_metrics_data()):
            if m.name == n.METRIC_PROBES:
                delta_probes += sum(p.value for p in m.data.data_points)
            elif m.name == n.METRIC_RTT:
                delta_rtt += sum(p.count for p in m.data.data_points)
        cumulative.get_metrics_data()
        collections += 1

    def writer() -> None:
        for o in outcomes:
            ours.record(o)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    while not done.is_set():
        take()
    thread.join()
    take()
    assert collections > 1
    assert delta_probes == total
    assert delta_rtt == total - total // 10
    final = {m.name: m for m in _ours(cumulative.get_metrics_data())}
    assert sum(p.value for p in final[n.METRIC_PROBES].data.data_points) == total
    (rtt,) = final[n.METRIC_RTT].data.data_points
    assert rtt.count == sum(rtt.bucket_counts) == total - total // 10
    assert ours.errors == 0


# ------------------------------------------------------------------ (5) the SDK seam


def test_probe_metrics_reader_hook_still_works_with_this_sdk() -> None:
    """Fails when a new SDK changes how readers obtain their data: see probe_metrics.py."""
    reader = InMemoryMetricReader(preferred_temporality={Histogram: DELTA})
    provider = MeterProvider([reader], shutdown_on_exit=False)
    # What the seam reads:
    assert list(provider._measurement_consumer._reader_storages) == [reader]
    assert reader._instrument_class_temporality[_Histogram] is DELTA
    assert reader._instrument_class_temporality[_Counter] is CUM
    assert isinstance(provider._sdk_config.resource, Resource)
    sdk_callback = reader._collect
    assert callable(sdk_callback)

    seen: list[MetricsData | None] = []

    def after(data: MetricsData | None) -> MetricsData | None:
        seen.append(data)
        return data

    pm.hook_reader_collect(reader, after)
    assert reader._collect is not sdk_callback
    provider.get_meter("x").create_counter("c").add(1)
    data = reader.get_metrics_data()  # MetricReader.collect() -> self._collect(self, ...)
    assert len(seen) == 1 and seen[0] is data and data is not None

    # And end to end, on a reader added after construction too.
    late = InMemoryMetricReader()
    provider.add_metric_reader(late)
    ours = ProbeMetrics()
    ours.bind(provider, "scope", "1")
    ours.record(make_outcome(1))
    for r in (reader, late):
        assert {m.name for m in _ours(r.get_metrics_data())} >= {n.METRIC_RTT, n.METRIC_PROBES}


def test_probe_metrics_bind_refuses_a_reader_it_cannot_hook() -> None:
    stray = InMemoryMetricReader()  # never registered: no collect callback
    with pytest.raises(RuntimeError, match="collect callback"):
        pm.hook_reader_collect(stray, lambda d: d)


def test_probe_metrics_bind_twice_serves_each_reader_once() -> None:
    sdk, mine = InMemoryMetricReader(), InMemoryMetricReader()
    ref = _sdk_reference(MeterProvider([sdk], resource=RESOURCE, shutdown_on_exit=False))
    provider = MeterProvider([mine], resource=RESOURCE, shutdown_on_exit=False)
    ours = ProbeMetrics()
    ours.bind(provider, n.INSTRUMENTATION_SCOPE, VERSION)
    ours.bind(provider, n.INSTRUMENTATION_SCOPE, VERSION)
    _feed(_batch(1), ref, ours)
    assert _norm(mine.get_metrics_data()) == _norm(sdk.get_metrics_data())


def test_probe_metrics_disabled_sdk_exports_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    reader = InMemoryMetricReader()
    ours = ProbeMetrics()
    ours.bind(MeterProvider([reader], shutdown_on_exit=False), "s", "1")
    ours.record(make_outcome(1))
    assert _ours(reader.get_metrics_data()) == []


def test_probe_metrics_console_exporter_prints_them() -> None:
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

    out = io.StringIO()
    periodic = PeriodicExportingMetricReader(
        ConsoleMetricExporter(out=out), export_interval_millis=math.inf
    )
    provider = MeterProvider([periodic], shutdown_on_exit=False)
    ours = ProbeMetrics()
    ours.bind(provider, n.INSTRUMENTATION_SCOPE, VERSION)
    ours.record(make_outcome(1))
    periodic.force_flush()
    assert n.METRIC_RTT in out.getvalue() and n.METRIC_DEGRADED not in out.getvalue()
    provider.shutdown()


def test_probe_metrics_fall_back_to_the_sdk_for_exponential_histograms() -> None:
    from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation

    def reader() -> InMemoryMetricReader:
        agg = {Histogram: ExponentialBucketHistogramAggregation()}
        return InMemoryMetricReader(preferred_aggregation=agg)  # type: ignore[dict-item]

    sdk, mine = reader(), reader()
    ref = _sdk_reference(MeterProvider([sdk], resource=RESOURCE, shutdown_on_exit=False))
    ours = ProbeMetrics()
    ours.bind(MeterProvider([mine], resource=RESOURCE, shutdown_on_exit=False), "s", VERSION)
    _feed(_batch(1), ref, ours)

    def shape(data: MetricsData | None) -> dict[str, Any]:
        return {
            m.name: (
                type(m.data).__name__,
                sorted(
                    (
                        sorted(dict(p.attributes).items()),
                        getattr(p, "count", None),
                        getattr(p, "sum", None),
                        getattr(p, "value", None),
                    )
                    for p in m.data.data_points
                ),
            )
            for m in _ours(data)
        }

    expected = shape(sdk.get_metrics_data())
    assert expected[n.METRIC_RTT][0] == "ExponentialHistogram"
    assert shape(mine.get_metrics_data()) == expected


def test_series_count_follows_first_values_and_temporality() -> None:
    _, _, (cumulative, delta), ours = _pair([None, {Counter: DELTA, Histogram: DELTA}])

    def collect_both() -> int:
        cumulative.get_metrics_data()
        delta.get_metrics_data()  # a delta reader forgets its series at each collection
        return ours.series_count()

    assert ours.series_count() == 0
    ours.record(make_outcome(1))
    # The ok counter and 5 histograms (rtt, 3 jitters, lateness), kept by the cumulative
    # reader only.
    assert collect_both() == 6
    ours.record(make_outcome(2, breaches=(_breach("jitter"),)))
    ours.record(make_outcome(3, Outcome.TIMEOUT))
    assert collect_both() == 8  # the first breach, the first timeout
    ours.record(make_outcome(4, Outcome.TIMEOUT, breaches=(_breach("jitter"),)))
    assert collect_both() == 8  # no new attribute set: no new series
    ours.record(make_outcome(5))
    cumulative.get_metrics_data()
    assert ours.series_count() == 8 + 6  # the delta reader holds this interval's until it collects


def test_large_counts_are_the_counts_above_the_small_int_cache() -> None:
    _, _, (reader,), ours = _pair([None])
    for seq in range(1, 258):
        ours.record(make_outcome(seq, rtt_ms=0.5))
    reader.get_metrics_data()
    # 257 probes, all in one bucket per histogram: the ok counter and the one filled
    # bucket of each of the 5 histograms passed 256; empty buckets are 0.
    assert ours.large_counts() == 6
    ours.record(make_outcome(300, Outcome.TIMEOUT))
    reader.get_metrics_data()
    assert ours.large_counts() == 6  # a new counter at 1, lateness bucket now 258


def test_probe_metrics_hand_attr_sets_only_to_exporters_that_take_them() -> None:
    """The OTLP exporters' encoder reads an AttrSet as it is; every other exporter
    (console JSON, Prometheus, in-memory) gets a plain dict, equal to it."""
    from otel_genesys.telemetry.attrsets import AttrSet

    class _Capture(MetricExporter):
        def __init__(self, takes: bool) -> None:
            super().__init__()
            if takes:
                self.TAKES_ATTR_SETS = True
            self.seen: list[Any] = []

        def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000,
                   **kwargs: Any) -> MetricExportResult:
            for rm in metrics_data.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        self.seen.extend(p.attributes for p in m.data.data_points)
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            pass

    otlp, other = _Capture(True), _Capture(False)
    readers = [PeriodicExportingMetricReader(e, export_interval_millis=math.inf)
               for e in (otlp, other)]
    provider = MeterProvider(readers, shutdown_on_exit=False)
    ours = ProbeMetrics()
    ours.bind(provider, n.INSTRUMENTATION_SCOPE, VERSION)
    ours.record(make_outcome(1))
    for r in readers:
        r.force_flush()
    provider.shutdown()
    assert otlp.seen and len(otlp.seen) == len(other.seen)
    assert all(type(a) is AttrSet for a in otlp.seen)
    assert all(type(a) is dict for a in other.seen)
    assert sorted(map(dict, otlp.seen), key=repr) == sorted(other.seen, key=repr)
