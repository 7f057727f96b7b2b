"""encode_metrics_request writes what the SDK's encode_metrics serialises, byte for byte.

The oracle is ``encode_metrics(data).SerializeToString()`` on data produced by
real SDK meter providers (every instrument kind, both temporalities, exemplars,
several scopes and resources), by ProbeMetrics, and by hypothesis.
"""

from __future__ import annotations

import inspect
import math
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.common import http as otlp_http
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import (
    EncodingException,
)
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.grpc.exporter import OTLPExporterMixin
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as _SdkGrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as _SdkHttpMetricExporter,
)
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics._internal.exemplar import AlwaysOnExemplarFilter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_genesys.core.outcome import Outcome, ProbeMode, TargetInfo, TargetKind
from otel_genesys.telemetry import names as n
from otel_genesys.telemetry.metrics_wire import (
    MetricsEncoder,
    count_data_points,
    encode_metrics_request,
)
from otel_genesys.telemetry.probe_metrics import ProbeMetrics
from otel_genesys.telemetry.raw_export import (
    EncodedGrpcMetricExporter,
    EncodedHttpMetricExporter,
    _RawMetricsServiceStub,
)
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.outcomes import make_outcome

CUM = AggregationTemporality.CUMULATIVE
DELTA = AggregationTemporality.DELTA
SCHEMA = "https://opentelemetry.io/schemas/1.30.0"


def _sdk(data: MetricsData) -> bytes:
    payload: bytes = encode_metrics(data).SerializeToString()
    return payload


def _assert_same(data: MetricsData) -> bytes:
    ours = encode_metrics_request(data)
    assert ours == _sdk(data)
    assert MetricsEncoder().encode(data) == ours  # a cold cache gives the same bytes
    return ours


# ------------------------------------------------------------------ a real SDK provider


def _all_kinds(provider: MeterProvider, tag: str) -> None:
    """Every instrument kind on two meters of ``provider``, with a span in context."""
    meter = provider.get_meter(
        "wire.test", "1.2.3", schema_url=SCHEMA, attributes={"scope.attr": tag, "n": 3}
    )
    bare = provider.get_meter("wire.bare")
    tracer = TracerProvider().get_tracer("wire")
    ints = meter.create_counter("c.int", "1", "integer counter")
    floats = meter.create_counter("c.float", "s")
    updown = meter.create_up_down_counter("udc", description="goes both ways")
    hist = meter.create_histogram(
        "h.advice", "s", "with advisory buckets", explicit_bucket_boundaries_advisory=[0.0, 0.5, 2]
    )
    plain = bare.create_histogram("h.plain")
    no_minmax = bare.create_histogram("h.nominmax")
    expo = bare.create_histogram("exp.latency", "ms")
    gauge = meter.create_gauge("g.sync")

    def observe(_: CallbackOptions) -> Iterator[Observation]:
        yield Observation(7, {"kind": "int", "tag": tag})
        yield Observation(-2.5, {"kind": "float", "neg": -0.0})

    meter.create_observable_gauge("g.obs", [observe], "1", "observed")
    meter.create_observable_counter("c.obs", [observe])
    bare.create_observable_up_down_counter("udc.obs", [observe])
    bare.create_counter("c.unused")  # no points at all

    attrs: list[dict[str, Any]] = [
        {},
        {"target": "a", "port": 443, "ok": True, "w": 0.5},
        {"target": "ü-é", "list": ("x", "y"), "ints": (1, 2), "b": b"\x00\xff"},
        {"target": tag, "big": -(2**63), "flag": False},
    ]
    with tracer.start_as_current_span("probe"):
        for i, a in enumerate(attrs):
            ints.add(i + 1, a)
            floats.add(0.25 * i, a)
            updown.add(-i, a)
            for v in (0.0, 0.5, 1.0, 3.0, 1e9):
                hist.record(v + i, a)
                plain.record(v, a)
                no_minmax.record(v, a)
                expo.record(v + 0.001, a)
            gauge.set(i * 1.5 if i % 2 else i, a)
    ints.add(5, {"outside": "span"})


def _provider(
    resource: Resource, temporality: AggregationTemporality
) -> tuple[MeterProvider, InMemoryMetricReader]:
    reader = InMemoryMetricReader(
        preferred_temporality={
            Counter: temporality,
            UpDownCounter: temporality,
            Histogram: temporality,
            ObservableCounter: temporality,
        }
    )
    views = [
        View(instrument_name="exp.*", aggregation=ExponentialBucketHistogramAggregation(20)),
        View(
            instrument_name="h.nominmax",
            aggregation=ExplicitBucketHistogramAggregation((1.0, 10.0), record_min_max=False),
        ),
        View(instrument_name="*"),
    ]
    provider = MeterProvider(
        [reader],
        resource=resource,
        views=views,
        exemplar_filter=AlwaysOnExemplarFilter(),
        shutdown_on_exit=False,
    )
    return provider, reader


@pytest.mark.parametrize("temporality", [CUM, DELTA], ids=["cumulative", "delta"])
def test_every_instrument_kind_matches_the_sdk(temporality: AggregationTemporality) -> None:
    res_a = Resource.create({"service.name": "wire-a", "host.cpu": 2}, schema_url=SCHEMA)
    res_b = Resource({"service.name": "wire-b", "weights": (0.5, 1.5)})
    (pa, ra), (pb, rb) = _provider(res_a, temporality), _provider(res_b, temporality)
    try:
        for round_ in range(2):
            _all_kinds(pa, f"a{round_}")
            _all_kinds(pb, f"b{round_}")
            da, db = ra.get_metrics_data(), rb.get_metrics_data()
            assert da is not None and db is not None
            data = MetricsData(resource_metrics=[*da.resource_metrics, *db.resource_metrics])
            payload = _assert_same(data)
            decoded = ExportMetricsServiceRequest.FromString(payload)
            kinds = {
                m.WhichOneof("data")
                for rm in decoded.resource_metrics
                for sm in rm.scope_metrics
                for m in sm.metrics
            }
            assert {"sum", "gauge", "histogram", "exponential_histogram"} <= kinds
            exemplars = [
                e
                for rm in decoded.resource_metrics
                for sm in rm.scope_metrics
                for m in sm.metrics
                if m.WhichOneof("data") == "sum"
                for p in m.sum.data_points
                for e in p.exemplars
            ]
            assert any(len(e.trace_id) == 16 for e in exemplars)
            assert count_data_points(data) > 40
    finally:
        pa.shutdown()
        pb.shutdown()


def test_equal_resources_and_scopes_are_grouped_like_the_sdk() -> None:
    scope = InstrumentationScope("s", "1", SCHEMA, {"k": "v"})

    def rm(resource: Resource, value: int) -> ResourceMetrics:
        point = NumberDataPoint({"v": value}, 1, 2, value)
        metric = Metric("m", "", "", Sum([point], CUM, True))
        return ResourceMetrics(
            resource,
            [ScopeMetrics(scope, [metric], SCHEMA), ScopeMetrics(scope, [metric], "")],
            SCHEMA,
        )

    first = Resource({"service.name": "x"}, SCHEMA)
    other = Resource({"service.name": "y"})
    again = Resource({"service.name": "x"}, SCHEMA)
    _assert_same(MetricsData([rm(first, 1), rm(other, 2), rm(again, 3)]))


def test_edge_values_match_the_sdk() -> None:
    scope = InstrumentationScope("edge")
    hist_points = [
        HistogramDataPoint({"a": 1}, 0, 5, 0, 0.0, [], [], None, None),  # empty histogram
        HistogramDataPoint({"a": 2}, 1, 5, 3, -0.0, [1, 2], [0.5], 0.25, 9.0),
        HistogramDataPoint({}, 1, 5, 2, math.inf, [0, 2], [-0.0], -math.inf, math.nan),
    ]
    metrics = [
        Metric("h", "d", "u", HistogramData(hist_points, DELTA)),
        Metric("g", "", "", Gauge([NumberDataPoint({"z": 0.0}, 0, 0, 0)])),
        Metric("g2", "", "", Gauge([NumberDataPoint({"z": -0.0}, 3, 4, -0.0)])),
        Metric("s", "", "1", Sum([NumberDataPoint({}, 0, 1, 2**63 - 1)], CUM, False)),
        Metric("s.neg", "", "", Sum([NumberDataPoint({"t": True}, 9, 10, -1)], DELTA, True)),
        Metric("empty", "", "", Sum([], CUM, True)),
        Metric("nan", "", "", Gauge([NumberDataPoint({"t": 1}, 1, 2, math.nan)])),
    ]
    data = MetricsData([ResourceMetrics(Resource({}), [ScopeMetrics(scope, metrics, "")], "")])
    _assert_same(data)


def test_what_the_sdk_cannot_encode_raises_as_it_does() -> None:
    point = NumberDataPoint({}, 1, 2, 2**64)  # outside sfixed64
    metric = Metric("too.big", "", "", Sum([point], CUM, True))
    data = MetricsData(
        [ResourceMetrics(Resource({}), [ScopeMetrics(InstrumentationScope("x"), [metric], "")], "")]
    )
    with pytest.raises(EncodingException):
        encode_metrics(data)
    with pytest.raises(EncodingException):
        encode_metrics_request(data)


def test_no_data_is_an_empty_request() -> None:
    assert encode_metrics_request(MetricsData([])) == b"" == _sdk(MetricsData([]))


# ------------------------------------------------------------------ ProbeMetrics


@pytest.mark.parametrize("temporality", [CUM, DELTA], ids=["cumulative", "delta"])
def test_probe_metrics_data_matches_the_sdk(temporality: AggregationTemporality) -> None:
    reader = InMemoryMetricReader(
        preferred_temporality={Counter: temporality, Histogram: temporality}
    )
    provider = MeterProvider(
        [reader], resource=Resource.create({"service.name": "wire-probe"}), shutdown_on_exit=False
    )
    probes = ProbeMetrics()
    probes.bind(provider, n.INSTRUMENTATION_SCOPE, "0.0.1")
    targets = [
        TargetInfo(f"t{i}", TargetKind.GENERIC, "127.0.0.1", 9000 + i, "ws", region="r")
        for i in range(5)
    ]
    try:
        for seq in range(60):
            target = targets[seq % len(targets)]
            outcome = Outcome.OK if seq % 7 else Outcome.TIMEOUT
            mode = ProbeMode.CONTROL if seq % 3 else ProbeMode.NOTIFICATION
            probes.record(make_outcome(seq, outcome, rtt_ms=0.3 * seq, target=target, mode=mode))
            if seq % 20 == 19:
                data = reader.get_metrics_data()
                assert data is not None
                _assert_same(data)
                assert count_data_points(data) > 10
    finally:
        provider.shutdown()


# ------------------------------------------------------------------ hypothesis

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=True)
    | st.text(max_size=8)
    | st.binary(max_size=4)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=3) | st.integers(0, 3), inner, max_size=3)
    ),
    max_leaves=6,
)
_attrs = st.dictionaries(st.text(max_size=6), _values, max_size=5)
_numbers = st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.floats(allow_nan=True)


@settings(max_examples=150, deadline=None)
@given(points=st.lists(st.tuples(_attrs, _numbers), min_size=1, max_size=6))
def test_random_attribute_values_match_the_sdk(points: list[tuple[dict[str, Any], Any]]) -> None:
    # The module's shared cache sees every example: equal-but-different values
    # across examples (1 / True / 1.0, 0.0 / -0.0) must never share bytes.
    numbers = [NumberDataPoint(a, 1, 2, v) for a, v in points]
    hists = [HistogramDataPoint(a, 1, 2, 1, 0.5, [1, 0], [1.0], 0.5, 0.5) for a, _ in points]
    metrics = [
        Metric("n", "", "", Sum(numbers, DELTA, False)),
        Metric("h", "", "", HistogramData(hists, CUM)),
    ]
    data = MetricsData(
        [ResourceMetrics(Resource({}), [ScopeMetrics(InstrumentationScope("h"), metrics, "")], "")]
    )
    assert encode_metrics_request(data) == _sdk(data)


def test_equal_but_different_attribute_values_are_not_confused() -> None:
    encoder = MetricsEncoder()
    for value in (1, True, 1.0, 0, False, 0.0, -0.0, (1,), (True,), "1"):
        point = NumberDataPoint({"k": value}, 1, 2, 1)
        data = MetricsData(
            [
                ResourceMetrics(
                    Resource({}),
                    [
                        ScopeMetrics(
                            InstrumentationScope("c"),
                            [Metric("m", "", "", Gauge([point]))],
                            "",
                        )
                    ],
                    "",
                )
            ]
        )
        assert encoder.encode(data) == _sdk(data), value


def test_the_attribute_cache_is_bounded() -> None:
    encoder = MetricsEncoder(attrs_cache_max=8)
    scope = InstrumentationScope("b")
    for i in range(50):
        point = NumberDataPoint({"i": i}, 1, 2, i)
        data = MetricsData(
            [
                ResourceMetrics(
                    Resource({}),
                    [ScopeMetrics(scope, [Metric("m", "", "", Gauge([point]))], "")],
                    "",
                )
            ]
        )
        assert encoder.encode(data) == _sdk(data)
    assert len(encoder._attrs) <= 8


# ------------------------------------------------------------------ exporters: SDK internals


def test_sdk_grpc_metric_exporter_internals_are_where_we_expect_them() -> None:
    # We replace only _translate_data (and the stub); export, splitting and
    # counting must still be the SDK's and go through _export -> _translate_data.
    export_source = inspect.getsource(_SdkGrpcMetricExporter.export)
    assert "self._export(data=" in export_source
    assert "self._split_metrics_data(" in export_source
    mixin_export = inspect.getsource(OTLPExporterMixin._export)
    assert "request=self._translate_data(data)" in mixin_export
    assert "self._initialize_channel_and_stub()" in mixin_export
    assert "self._client = self._stub(self._channel)" in inspect.getsource(
        OTLPExporterMixin._initialize_channel_and_stub
    )
    assert "encode_metrics(data)" in inspect.getsource(_SdkGrpcMetricExporter._translate_data)

    exporter = EncodedGrpcMetricExporter(endpoint="http://127.0.0.1:9", insecure=True)
    try:
        assert isinstance(exporter._client, _RawMetricsServiceStub)
        channel = exporter._channel
        exporter._initialize_channel_and_stub()  # what the SDK does after UNAVAILABLE
        assert exporter._channel is not channel
        assert isinstance(exporter._client, _RawMetricsServiceStub)
        assert exporter._max_export_batch_size is None
    finally:
        exporter.shutdown()


def test_sdk_http_metric_exporter_internals_are_where_we_expect_them() -> None:
    # The HTTP exporter borrows the gRPC exporter's splitter: it may read nothing
    # of ``self`` but the batch size.
    split_source = inspect.getsource(_SdkGrpcMetricExporter._split_metrics_data)
    assert set(re.findall(r"self\.(\w+)", split_source)) == {"_max_export_batch_size"}
    http_export = inspect.getsource(_SdkHttpMetricExporter.export)
    assert "encode_metrics(metrics_data)" in http_export
    assert "self._max_export_batch_size" in http_export
    exporter = EncodedHttpMetricExporter(
        endpoint="http://127.0.0.1:9/v1/metrics", max_export_batch_size=7
    )
    try:
        assert isinstance(exporter._client, otlp_http._OTLPHTTPClient)
        assert list(inspect.signature(exporter._client.export).parameters) == ["data"]
        assert isinstance(exporter._max_request_size, int)
        assert exporter._max_export_batch_size == 7
        assert hasattr(exporter._metrics, "export_operation")
        assert exporter._shutdown is False
    finally:
        exporter.shutdown()
    assert exporter._shutdown is True


# ------------------------------------------------------------------ exporters: real sockets


def _metric_exporter(transport: str, rx_endpoint: str, **kwargs: Any) -> Any:
    if transport == "grpc":
        return EncodedGrpcMetricExporter(endpoint=rx_endpoint, insecure=True, **kwargs)
    return EncodedHttpMetricExporter(endpoint=f"{rx_endpoint}/v1/metrics", **kwargs)


def _sample_data() -> MetricsData:
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        [reader], resource=Resource.create({"service.name": "wire-export"}), shutdown_on_exit=False
    )
    meter = provider.get_meter(n.INSTRUMENTATION_SCOPE, "1.0")
    counter = meter.create_counter("wire.count")
    hist = meter.create_histogram("wire.rtt", "s", explicit_bucket_boundaries_advisory=[0.1, 1.0])
    for i in range(5):
        counter.add(i + 1, {"target": f"t{i}"})
        hist.record(0.05 * i, {"target": f"t{i}"})
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    return data


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_metrics_reach_the_receiver_as_the_sdk_would_encode_them(
    transport: str, otlp_receiver: OtlpReceiver
) -> None:
    data = _sample_data()
    exporter = _metric_exporter(
        transport, otlp_receiver.endpoint(transport), headers={"x-wire": "1"}, timeout=5
    )
    try:
        assert exporter.export(data) is MetricExportResult.SUCCESS
    finally:
        exporter.shutdown()
    (received,) = otlp_receiver.received
    assert (received.signal, received.transport) == ("metrics", transport)
    assert received.raw == _sdk(data)
    assert ("x-wire", "1") in received.headers
    assert otlp_receiver.metric_names() == {"wire.count", "wire.rtt"}
    assert otlp_receiver.resource_attributes("metrics")["service.name"] == "wire-export"
    (rtt,) = [m for m in otlp_receiver.metrics() if m.name == "wire.rtt"]
    assert list(rtt.histogram.data_points[0].explicit_bounds) == [0.1, 1.0]


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_max_export_batch_size_splits_like_the_sdk(
    transport: str, otlp_receiver: OtlpReceiver
) -> None:
    data = _sample_data()  # 10 points
    exporter = _metric_exporter(
        transport, otlp_receiver.endpoint(transport), max_export_batch_size=4, timeout=5
    )
    try:
        assert exporter.export(data) is MetricExportResult.SUCCESS
    finally:
        exporter.shutdown()
    requests = otlp_receiver.requests("metrics")
    assert len(requests) == 3
    sizes = [
        sum(
            len(getattr(m, m.WhichOneof("data")).data_points)
            for rm in r.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        )
        for r in requests
    ]
    assert sizes == [4, 4, 2]
    # Each request is what the SDK encoder makes of that split.
    split: Any = _SdkGrpcMetricExporter._split_metrics_data
    holder = EncodedGrpcMetricExporter(
        endpoint="http://127.0.0.1:9", insecure=True, max_export_batch_size=4
    )
    try:
        expected = [_sdk(part) for part in split(holder, data)]
    finally:
        holder.shutdown()
    assert [r.raw for r in otlp_receiver.received] == expected


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_a_refused_metric_endpoint_fails_fast_without_raising(transport: str) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
        exporter = _metric_exporter(transport, endpoint, timeout=0.5)
        try:
            started = time.monotonic()
            assert exporter.export(_sample_data()) is MetricExportResult.FAILURE
            assert time.monotonic() - started < 5.0
            if transport == "grpc":
                assert isinstance(exporter._client, _RawMetricsServiceStub)
        finally:
            exporter.shutdown()
    finally:
        sock.close()


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_after_shutdown_no_metrics_are_sent(transport: str, otlp_receiver: OtlpReceiver) -> None:
    exporter = _metric_exporter(transport, otlp_receiver.endpoint(transport), timeout=5)
    exporter.shutdown()
    assert exporter.export(_sample_data()) is MetricExportResult.FAILURE
    time.sleep(0.1)
    assert otlp_receiver.attempts["metrics"] == 0


def test_http_max_request_size_drops_an_oversized_metrics_request(
    otlp_receiver: OtlpReceiver,
) -> None:
    data = _sample_data()
    size = len(_sdk(data))
    exporter = EncodedHttpMetricExporter(
        endpoint=f"{otlp_receiver.http_endpoint}/v1/metrics", max_request_size=size - 1, timeout=5
    )
    try:
        assert exporter.export(data) is MetricExportResult.FAILURE
    finally:
        exporter.shutdown()
    assert otlp_receiver.attempts["metrics"] == 0


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_a_periodic_reader_exports_probe_metrics_through_the_encoded_exporter(
    transport: str, otlp_receiver: OtlpReceiver
) -> None:
    exporter = _metric_exporter(transport, otlp_receiver.endpoint(transport), timeout=5)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
    provider = MeterProvider(
        [reader], resource=Resource.create({"service.name": "wire-e2e"}), shutdown_on_exit=False
    )
    probes = ProbeMetrics()
    probes.bind(provider, n.INSTRUMENTATION_SCOPE, "0.0.1")
    for seq in range(10):
        probes.record(make_outcome(seq, rtt_ms=1.0 + seq))
    try:
        assert provider.force_flush(10_000)
    finally:
        provider.shutdown()
    assert otlp_receiver.wait_for(lambda r: n.METRIC_RTT in r.metric_names(), timeout=5)
    (rtt,) = [m for m in otlp_receiver.metrics() if m.name == n.METRIC_RTT][:1]
    assert sum(p.count for p in rtt.histogram.data_points) == 10


def test_an_attr_set_on_histogram_and_counter_points_matches_the_sdk() -> None:
    """One AttrSet heading points of two kinds (two attribute tags): every encoding
    equals the SDK's, and the set keeps one encoding per tag instead of a cache entry."""
    from otel_genesys.telemetry.attrsets import AttrSet

    attrs = AttrSet.of({"genesys.target.name": "t", "server.port": 443, "flag": True})
    hist = HistogramDataPoint(attributes=attrs, start_time_unix_nano=1, time_unix_nano=2,
                              count=2, sum=0.5, bucket_counts=(1, 1, 0), explicit_bounds=(0.1, 1.0),
                              min=0.1, max=0.4)
    count = NumberDataPoint(attributes=attrs, start_time_unix_nano=1, time_unix_nano=2, value=7)
    metrics = [
        Metric("h", "", "s", HistogramData([hist], AggregationTemporality.CUMULATIVE)),
        Metric("c", "", "1", Sum([count], AggregationTemporality.CUMULATIVE, True)),
    ]
    scope = ScopeMetrics(InstrumentationScope("s", "1"), metrics, "")
    data = MetricsData([ResourceMetrics(Resource.create({}), [scope], "")])
    first = _assert_same(data)
    assert attrs.wire is not None and len(attrs.wire) == 4  # two tags, one encoding each
    assert encode_metrics_request(data) == first  # from the set's own encodings
