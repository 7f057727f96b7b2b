"""ProbeSpanEncoder writes the OTLP bytes the SDK would write for the same probe span.

Each case builds the span the way the recorder's SDK path does (``start_span``
with ``probe_span_attrs``, ``set_status`` unless OK, ``add_event`` per audit
event, ``end``), encodes it with the SDK's ``encode_spans``, and holds both
``ExportTraceServiceRequest`` s side by side: parsed field by field, and as bytes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from google.protobuf import wrappers_pb2
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common._internal import _encode_value
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_genesys.core.events import AuditEvent, AuditKind
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
from otel_genesys.telemetry.logs import register_secret, unregister_secret
from otel_genesys.telemetry.probe_spans import (
    ProbeSpanEncoder,
    encode_any_value,
    encode_double,
    encode_string,
    encode_varint,
    new_ids,
)
from otel_genesys.telemetry.recorder import _event_attrs, probe_span_attrs
from tests.support.outcomes import BASE_WALL_NS, make_event, make_outcome

SCOPE_VERSION = "9.8.7"
RESOURCE = Resource.create(
    {
        "service.name": "probe-span-test",
        "service.instance.id": "i-1",
        "host.cpu.count": 2,
        "deployment.weight": 0.5,
        "feature.enabled": True,
        "regions": ("eu", "us"),
    },
    schema_url="https://opentelemetry.io/schemas/1.30.0",
)
OTHER_TARGET = TargetInfo(
    name="generic-ü",
    kind=TargetKind.GENERIC,
    server_address="127.0.0.1",
    server_port=8765,
    url_scheme="ws",
    region=None,
)
LATENCY = Breach("latency", 900_000_000, 500_000_000, 3)
JITTER = Breach("jitter", 90_000_000, 50_000_000, 1)


class _FixedIds(IdGenerator):
    """Hands out the ids the test chose, so both encodings carry the same ones."""

    def __init__(self) -> None:
        self.next: tuple[int, int] = (1, 1)

    def generate_trace_id(self) -> int:
        return self.next[0]

    def generate_span_id(self) -> int:
        return self.next[1]


class SdkSide:
    """A TracerProvider building probe spans as the recorder's SDK path does."""

    def __init__(self, resource: Resource, limits: SpanLimits | None = None) -> None:
        self.ids = _FixedIds()
        self.spans = InMemorySpanExporter()
        self.provider = TracerProvider(resource=resource, id_generator=self.ids, span_limits=limits)
        self.provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.tracer = self.provider.get_tracer(n.INSTRUMENTATION_SCOPE, SCOPE_VERSION)

    def span(
        self,
        o: ProbeOutcome,
        *,
        trace_id: int,
        span_id: int,
        end_ns: int,
        events: Sequence[AuditEvent] = (),
    ) -> ReadableSpan:
        self.ids.next = (trace_id, span_id)
        span = self.tracer.start_span(
            n.SPAN_PROBE, kind=SpanKind.CLIENT, start_time=o.sent_wall_ns,
            attributes=probe_span_attrs(o),
        )  # fmt: skip
        if o.outcome is not Outcome.OK:
            span.set_status(Status(StatusCode.ERROR, o.error_type or o.outcome.value))
        for event in events:
            span.add_event(
                n.audit_event_name(event.kind), _event_attrs(event.attributes),
                timestamp=event.time_wall_ns,
            )  # fmt: skip
        span.end(end_time=end_ns)
        finished = self.spans.get_finished_spans()[-1]
        self.spans.clear()
        return finished


@pytest.fixture
def sdk() -> Iterator[SdkSide]:
    side = SdkSide(RESOURCE)
    yield side
    side.provider.shutdown()


@pytest.fixture
def encoder() -> ProbeSpanEncoder:
    return ProbeSpanEncoder(RESOURCE, n.INSTRUMENTATION_SCOPE, SCOPE_VERSION)


def _only_span(request: ExportTraceServiceRequest) -> PbSpan:
    (rs,) = request.resource_spans
    (ss,) = rs.scope_spans
    (span,) = ss.spans
    return span


def assert_same_request(ours: bytes, theirs: bytes, *, ids: Sequence[tuple[int, int]]) -> None:
    """Field-by-field equality of two serialized requests; ``ids`` checked separately."""
    a = ExportTraceServiceRequest.FromString(ours)
    b = ExportTraceServiceRequest.FromString(theirs)
    assert len(a.resource_spans) == len(b.resource_spans) == 1
    ra, rb = a.resource_spans[0], b.resource_spans[0]
    assert ra.resource == rb.resource
    assert ra.schema_url == rb.schema_url == RESOURCE.schema_url
    assert len(ra.scope_spans) == len(rb.scope_spans) == 1
    sa, sb = ra.scope_spans[0], rb.scope_spans[0]
    assert sa.scope == sb.scope
    assert sa.schema_url == sb.schema_url
    assert len(sa.spans) == len(sb.spans) == len(ids)
    for span_a, span_b, (trace_id, span_id) in zip(sa.spans, sb.spans, ids, strict=True):
        assert span_a.trace_id == span_b.trace_id == trace_id.to_bytes(16, "big")
        assert span_a.span_id == span_b.span_id == span_id.to_bytes(8, "big")
        for field in (
            "trace_state", "parent_span_id", "flags", "name", "kind", "start_time_unix_nano",
            "end_time_unix_nano", "dropped_attributes_count", "dropped_events_count",
            "dropped_links_count",
        ):  # fmt: skip
            assert getattr(span_a, field) == getattr(span_b, field), field
        assert [kv.key for kv in span_a.attributes] == [kv.key for kv in span_b.attributes]
        for kv_a, kv_b in zip(span_a.attributes, span_b.attributes, strict=True):
            assert kv_a == kv_b, kv_a.key
        assert list(span_a.events) == list(span_b.events)
        assert span_a.HasField("status") == span_b.HasField("status")
        assert span_a.status == span_b.status
        assert list(span_a.links) == list(span_b.links) == []
        assert span_a == span_b
    assert a == b


def _events() -> tuple[AuditEvent, ...]:
    return (
        make_event(
            AuditKind.LATE_PONG,
            sequence=7,
            attributes=(
                ("cause", "server slow"),
                ("late_by_s", 0.25),
                ("count", 3),
                ("negative", -12),
                ("flag", True),
                ("off", False),
                ("names", ("a", "b")),
                ("numbers", [1, 2, 3]),
                ("empty", ()),
                ("unicode", "Grüße, 世界"),
                ("blank", ""),
                ("zero", 0.0),
            ),
        ),
        make_event(AuditKind.THRESHOLD_BREACH, sequence=7, attributes=(("threshold", "latency"),)),
        make_event(AuditKind.DRIFT_CORRECTION, sequence=7),
    )


CASES: dict[str, tuple[ProbeOutcome, tuple[AuditEvent, ...]]] = {
    "ok": (make_outcome(7), ()),
    "ok-events": (make_outcome(7), _events()),
    "ok-notification-mode": (make_outcome(8, mode=ProbeMode.NOTIFICATION), ()),
    "ok-no-jitter-pdv": (make_outcome(2, jitter_ns=None, jitter_rfc3550_ns=None, pdv_ns=None), ()),
    "ok-region-none": (make_outcome(3, target=OTHER_TARGET), ()),
    "ok-degraded": (
        make_outcome(4, confidence=Confidence.DEGRADED, loop_lag_ns=120_000_000, gc_pause_ns=5),
        (),
    ),
    "ok-one-breach": (make_outcome(5, rtt_ms=900.0, breaches=(LATENCY,)), ()),
    "ok-two-breaches": (make_outcome(6, rtt_ms=900.0, breaches=(LATENCY, JITTER)), ()),
    "ok-int-stability": (make_outcome(9, stability=1, stability_lifetime=0), ()),
    "ok-negative-lateness": (make_outcome(10, lateness_ns=-3_000), ()),
    "ok-huge-sequence": (make_outcome(2**62 + 1, sent_wall_ns=BASE_WALL_NS), ()),
    "ok-zero-sequence": (make_outcome(0), ()),
    "timeout": (
        make_outcome(11, Outcome.TIMEOUT, breaches=(Breach("timeout", 1, 1, 2),)),
        (make_event(AuditKind.TIMEOUT, sequence=11, attributes=(("deadline_s", 1.0),)),),
    ),
    "aborted": (make_outcome(12, Outcome.ABORTED, error_type="connection_lost"), ()),
    "aborted-no-error-type": (make_outcome(13, Outcome.ABORTED, error_type=None), ()),
    "aborted-notification-region-none": (
        make_outcome(14, Outcome.ABORTED, target=OTHER_TARGET, mode=ProbeMode.NOTIFICATION),
        (),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_probe_span_matches_the_sdk(case: str, sdk: SdkSide, encoder: ProbeSpanEncoder) -> None:
    o, events = CASES[case]
    trace_id, span_id = new_ids()
    end_ns = o.sent_wall_ns + (o.rtt_ns or o.timeout_ns)
    sdk_span = sdk.span(o, trace_id=trace_id, span_id=span_id, end_ns=end_ns, events=events)
    theirs = encode_spans([sdk_span]).SerializeToString()
    span = encoder.probe_span(o, trace_id=trace_id, span_id=span_id, end_ns=end_ns, events=events)
    ours = encoder.request([span])

    assert_same_request(ours, theirs, ids=[(trace_id, span_id)])
    parsed = PbSpan.FromString(span)
    assert parsed.name == n.SPAN_PROBE
    assert parsed.kind == PbSpan.SpanKind.SPAN_KIND_CLIENT
    assert parsed.start_time_unix_nano == o.sent_wall_ns
    assert parsed.end_time_unix_nano == end_ns
    assert len(parsed.events) == len(events)
    # Same fields in the same order: the very same bytes.
    assert ours == theirs


def test_event_attribute_edge_cases_match_the_sdk(sdk: SdkSide, encoder: ProbeSpanEncoder) -> None:
    """Scrubbed secrets, repeated and empty keys, values outside the AttrValue set."""

    class Shown:
        def __str__(self) -> str:
            return "shown"

    class Opaque:
        pass

    secret = "s3cr3t-token-value"
    register_secret(secret)
    try:
        event = make_event(
            AuditKind.RECONNECT,
            sequence=1,
            attributes=(
                ("error.message", f"Bearer {secret} refused"),
                ("", "empty key is dropped and counted"),
                ("dup", 1),
                ("mixed", ("x", 1, 2.5, True, None)),
                ("dup", "last value, first place"),
                ("bytes", b"\x00\xff"),
                ("none", None),
                ("shown", Shown()),
                ("opaque", Opaque()),
                ("mapping", {"k": 1, "nested": {"deep": [1, 2]}}),
                ("too-big", 2**70),
                (7, "non-str key"),
            ),
        )
        o = make_outcome(1)
        events = (event, make_event(AuditKind.RECONNECT, sequence=1, time_wall_ns=1))
        end = o.sent_wall_ns + 1_000
        sdk_span = sdk.span(o, trace_id=5, span_id=6, end_ns=end, events=events)
        theirs = encode_spans([sdk_span]).SerializeToString()
        ours = encoder.request(
            [encoder.probe_span(o, trace_id=5, span_id=6, end_ns=end, events=events)]
        )
    finally:
        unregister_secret(secret)
    assert secret.encode() not in ours
    assert_same_request(ours, theirs, ids=[(5, 6)])
    (pb_event, _) = _only_span(ExportTraceServiceRequest.FromString(ours)).events
    assert pb_event.dropped_attributes_count == 1
    assert ours == theirs


def test_span_limits_are_applied_as_the_sdk_applies_them() -> None:
    limits = SpanLimits(
        max_events=2, max_event_attributes=2, max_attribute_length=3, max_span_attribute_length=4
    )
    side = SdkSide(RESOURCE, limits)
    encoder = ProbeSpanEncoder(RESOURCE, n.INSTRUMENTATION_SCOPE, SCOPE_VERSION, limits=limits)
    o = make_outcome(3, Outcome.ABORTED, error_type="connection_lost", breaches=(LATENCY,))
    events = (
        make_event(AuditKind.LATE_PONG, sequence=3, time_wall_ns=BASE_WALL_NS + 1),
        make_event(
            AuditKind.RECONNECT,
            sequence=3,
            time_wall_ns=BASE_WALL_NS + 2,
            attributes=(("a", "long value"), ("b", ("abcdef", "x")), ("c", 3)),
        ),
        make_event(AuditKind.SOCKET_CLOSING, sequence=3, time_wall_ns=BASE_WALL_NS + 3),
    )
    end = o.sent_wall_ns + o.timeout_ns
    theirs = encode_spans(
        [side.span(o, trace_id=1, span_id=2, end_ns=end, events=events)]
    ).SerializeToString()
    ours = encoder.request(
        [encoder.probe_span(o, trace_id=1, span_id=2, end_ns=end, events=events)]
    )
    side.provider.shutdown()
    assert_same_request(ours, theirs, ids=[(1, 2)])
    span = _only_span(ExportTraceServiceRequest.FromString(ours))
    assert span.dropped_events_count == 1
    assert [e.dropped_attributes_count for e in span.events] == [1, 0]
    assert ours == theirs


def test_a_request_of_many_spans_matches_the_sdk(sdk: SdkSide, encoder: ProbeSpanEncoder) -> None:
    outcomes = [make_outcome(i) for i in range(1, 6)] + [
        make_outcome(6, Outcome.TIMEOUT, target=OTHER_TARGET),
        make_outcome(7, mode=ProbeMode.NOTIFICATION),
    ]
    ids = [new_ids() for _ in outcomes]
    sdk_spans, ours = [], []
    for o, (trace_id, span_id) in zip(outcomes, ids, strict=True):
        end = o.sent_wall_ns + 500_000
        sdk_spans.append(sdk.span(o, trace_id=trace_id, span_id=span_id, end_ns=end))
        ours.append(encoder.probe_span(o, trace_id=trace_id, span_id=span_id, end_ns=end))
    theirs = encode_spans(sdk_spans).SerializeToString()
    assert_same_request(encoder.request(ours), theirs, ids=ids)
    assert encoder.request(ours) == theirs


def test_an_empty_request_is_empty_as_in_the_sdk(encoder: ProbeSpanEncoder) -> None:
    assert encoder.request([]) == encode_spans([]).SerializeToString() == b""


def test_a_bare_resource_and_scope_match_the_sdk() -> None:
    resource = Resource({})
    side = SdkSide(resource)
    side.tracer = side.provider.get_tracer("s", "")
    encoder = ProbeSpanEncoder(resource, "s", "")
    o = make_outcome(1)
    theirs = encode_spans(
        [side.span(o, trace_id=3, span_id=4, end_ns=o.sent_wall_ns + 1)]
    ).SerializeToString()
    ours = encoder.request(
        [encoder.probe_span(o, trace_id=3, span_id=4, end_ns=o.sent_wall_ns + 1)]
    )
    side.provider.shutdown()
    assert ExportTraceServiceRequest.FromString(ours) == ExportTraceServiceRequest.FromString(
        theirs
    )
    assert ours == theirs


def test_static_attribute_cache_is_bounded_and_stays_correct(
    sdk: SdkSide, encoder: ProbeSpanEncoder
) -> None:
    encoder.STATIC_MAX = 3
    targets = [
        TargetInfo(f"t{i}", TargetKind.GENERIC, f"h{i}.example", 443 + i, "wss", "eu")
        for i in range(8)
    ]
    for round_ in range(2):
        for i, target in enumerate(targets):
            o = make_outcome(round_ * 10 + i + 1, target=target)
            end = o.sent_wall_ns + 1
            ours = encoder.probe_span(o, trace_id=9, span_id=9, end_ns=end)
            theirs = encode_spans([sdk.span(o, trace_id=9, span_id=9, end_ns=end)])
            assert PbSpan.FromString(ours) == _only_span(theirs)
            assert len(encoder._static) <= 3


def test_the_same_span_twice_is_the_same_bytes(encoder: ProbeSpanEncoder) -> None:
    o, events = CASES["ok-events"]
    first = encoder.probe_span(o, trace_id=1, span_id=2, end_ns=o.sent_wall_ns + 5, events=events)
    again = encoder.probe_span(o, trace_id=1, span_id=2, end_ns=o.sent_wall_ns + 5, events=events)
    assert first == again
    other = encoder.probe_span(o, trace_id=1, span_id=3, end_ns=o.sent_wall_ns + 5, events=events)
    assert other != first


def test_new_ids_are_random_non_zero_and_in_range() -> None:
    random.seed(1234)
    seen = {new_ids() for _ in range(2_000)}
    assert len(seen) == 2_000
    for trace_id, span_id in seen:
        assert 0 < trace_id < 2**128
        assert 0 < span_id < 2**64
    assert any(t >= 2**127 for t, _ in seen)
    assert any(s >= 2**63 for _, s in seen)


# ------------------------------------------------------------------ wire primitives


@pytest.mark.parametrize("value", [0, 1, 127, 128, 255, 300, 16_383, 16_384, 2**32, 2**64 - 1])
def test_varint_edges_parse_back(value: int) -> None:
    encoded = b"\x08" + encode_varint(value)
    assert wrappers_pb2.UInt64Value.FromString(encoded).value == value
    assert encoded == wrappers_pb2.UInt64Value(value=value).SerializeToString() or value == 0


def test_negative_varint_and_out_of_range_ints_are_refused() -> None:
    with pytest.raises(ValueError):
        encode_varint(-1)
    with pytest.raises(ValueError):
        encode_any_value(2**63)
    with pytest.raises(ValueError):
        encode_any_value(-(2**63) - 1)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=2**64 - 1))
def test_varint_matches_protobuf(value: int) -> None:
    assert (
        b"\x08" + encode_varint(value) == wrappers_pb2.UInt64Value(value=value).SerializeToString()
    )


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_int64_values_match_protobuf(value: int) -> None:
    encoded = encode_any_value(value)
    assert AnyValue.FromString(encoded).int_value == value
    assert encoded == AnyValue(int_value=value).SerializeToString()


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_doubles_match_protobuf(value: float) -> None:
    parsed = wrappers_pb2.DoubleValue.FromString(encode_double(1, value)).value
    assert parsed == value or (math.isnan(parsed) and math.isnan(value))
    assert AnyValue.FromString(encode_any_value(value)).double_value == parsed or math.isnan(parsed)
    assert encode_any_value(value) == AnyValue(double_value=value).SerializeToString()


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_strings_match_protobuf(value: str) -> None:
    assert wrappers_pb2.StringValue.FromString(encode_string(1, value)).value == value
    assert encode_any_value(value) == AnyValue(string_value=value).SerializeToString()


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=8)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_any_value_matches_the_sdk_encoder(value: Any) -> None:
    assert encode_any_value(value) == _encode_value(value).SerializeToString()
