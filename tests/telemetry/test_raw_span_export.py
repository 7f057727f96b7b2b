"""The encoded-span exporters put pre-encoded OTLP requests on real gRPC/HTTP sockets.

They subclass the SDK's OTLP span exporters and lean on a few of their
internals; the first tests fail loudly if an SDK upgrade moves those.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

import pytest
from opentelemetry.exporter.otlp.common import http as otlp_http
from opentelemetry.exporter.otlp.proto.grpc.exporter import OTLPExporterMixin
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_genesys.telemetry import names as n
from otel_genesys.telemetry.probe_spans import ProbeSpanEncoder, new_ids
from otel_genesys.telemetry.raw_export import (
    EncodedGrpcSpanExporter,
    EncodedHttpSpanExporter,
    _RawTraceServiceStub,
)
from tests.support.otlp_receiver import OtlpReceiver, attributes_of
from tests.support.outcomes import make_outcome

RESOURCE = Resource.create({"service.name": "raw-export-test"})
HEADERS = {"x-probe-test": "yes"}


def _payload(count: int = 3) -> tuple[bytes, list[int]]:
    """A request of ``count`` probe spans, and the sequences they carry."""
    encoder = ProbeSpanEncoder(RESOURCE, n.INSTRUMENTATION_SCOPE, "1.0")
    spans = []
    for seq in range(1, count + 1):
        o = make_outcome(seq)
        trace_id, span_id = new_ids()
        spans.append(
            encoder.probe_span(o, trace_id=trace_id, span_id=span_id, end_ns=o.sent_wall_ns + 1)
        )
    return encoder.request(spans), list(range(1, count + 1))


def _exporter(transport: str, endpoint: str, **kwargs: Any) -> Any:
    if transport == "grpc":
        return EncodedGrpcSpanExporter(endpoint=endpoint, insecure=True, **kwargs)
    return EncodedHttpSpanExporter(endpoint=f"{endpoint}/v1/traces", **kwargs)


def _sequences(rx: OtlpReceiver) -> list[int]:
    return [attributes_of(span)[n.PROBE_SEQUENCE] for span in rx.spans()]


# ------------------------------------------------------------------ SDK internals we rely on


def test_sdk_grpc_internals_are_where_the_exporter_expects_them() -> None:
    for name in ("_export", "_translate_data", "_count_data", "_initialize_channel_and_stub"):
        assert callable(getattr(OTLPExporterMixin, name, None)), name
    source = inspect.getsource(OTLPExporterMixin._export)
    assert "self._translate_data(data)" in source
    assert "self._count_data(data)" in source
    assert "self._initialize_channel_and_stub()" in source
    init_source = inspect.getsource(OTLPExporterMixin._initialize_channel_and_stub)
    assert "self._client = self._stub(self._channel)" in init_source

    exporter = EncodedGrpcSpanExporter(endpoint="http://127.0.0.1:9", insecure=True)
    try:
        assert isinstance(exporter._client, _RawTraceServiceStub)
        channel = exporter._channel
        exporter._initialize_channel_and_stub()  # what the SDK does after UNAVAILABLE
        assert exporter._channel is not channel
        assert isinstance(exporter._client, _RawTraceServiceStub)
    finally:
        exporter.shutdown()


def test_sdk_http_internals_are_where_the_exporter_expects_them() -> None:
    exporter = EncodedHttpSpanExporter(endpoint="http://127.0.0.1:9/v1/traces")
    try:
        assert isinstance(exporter._client, otlp_http._OTLPHTTPClient)
        assert list(inspect.signature(exporter._client.export).parameters) == ["data"]
        assert isinstance(exporter._max_request_size, int)
        assert hasattr(exporter._metrics, "export_operation")
        assert exporter._shutdown is False
    finally:
        exporter.shutdown()
    assert exporter._shutdown is True


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_encoded_payload_reaches_the_receiver_byte_for_byte(
    transport: str, otlp_receiver: OtlpReceiver
) -> None:
    payload, sequences = _payload(3)
    exporter = _exporter(transport, otlp_receiver.endpoint(transport), headers=HEADERS, timeout=5)
    try:
        assert exporter.export_encoded(payload, len(sequences)) is True
    finally:
        exporter.shutdown()
    assert otlp_receiver.wait_for(lambda r: len(r.spans()) == 3, timeout=5)
    (received,) = otlp_receiver.received
    assert received.transport == transport
    assert received.raw == payload
    assert ("x-probe-test", "yes") in received.headers
    assert _sequences(otlp_receiver) == sequences
    assert otlp_receiver.resource_attributes()["service.name"] == "raw-export-test"


def test_http_compression_stays_the_sdk_exporters(otlp_receiver: OtlpReceiver) -> None:
    payload, _ = _payload(2)
    exporter = EncodedHttpSpanExporter(
        endpoint=f"{otlp_receiver.http_endpoint}/v1/traces",
        compression=HttpCompression.Gzip,
        timeout=5,
    )
    try:
        assert exporter.export_encoded(payload, 2)
    finally:
        exporter.shutdown()
    (received,) = otlp_receiver.received
    assert ("content-encoding", "gzip") in received.headers
    assert received.raw == payload  # the receiver un-gzips


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_sdk_spans_still_export_through_the_same_exporter(
    transport: str, otlp_receiver: OtlpReceiver
) -> None:
    exporter = _exporter(transport, otlp_receiver.endpoint(transport), timeout=5)
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("genesys.websocket.handshake"):
        pass
    try:
        assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
        provider.shutdown()
    assert [s.name for s in otlp_receiver.spans()] == ["genesys.websocket.handshake"]


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_a_refused_endpoint_fails_fast_without_raising(
    transport: str, refused_endpoint: str
) -> None:
    payload, _ = _payload(1)
    exporter = _exporter(transport, refused_endpoint, timeout=0.5)
    try:
        started = time.monotonic()
        assert exporter.export_encoded(payload, 1) is False
        assert time.monotonic() - started < 5.0
        if transport == "grpc":
            # UNAVAILABLE re-created the channel; the new client is still the raw stub.
            assert isinstance(exporter._client, _RawTraceServiceStub)
    finally:
        exporter.shutdown()


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_sdk_retry_delivers_after_a_transient_failure(
    transport: str, otlp_receiver: OtlpReceiver
) -> None:
    """UNAVAILABLE / 503 first; the SDK's retry (on a re-created gRPC channel) succeeds."""
    payload, _ = _payload(2)
    # One refusal, then normal answers: the receiver heals itself, so the SDK's retry
    # (whose first delay can round to nothing) never races a healing thread.
    otlp_receiver.fail(times=1)
    exporter = _exporter(transport, otlp_receiver.endpoint(transport), timeout=10)
    try:
        assert exporter.export_encoded(payload, 2) is True
    finally:
        exporter.shutdown()
    assert otlp_receiver.attempts["traces"] == 2
    assert [r.raw for r in otlp_receiver.received] == [payload]


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_after_shutdown_nothing_is_sent(transport: str, otlp_receiver: OtlpReceiver) -> None:
    payload, _ = _payload(1)
    exporter = _exporter(transport, otlp_receiver.endpoint(transport), timeout=5)
    exporter.shutdown()
    assert exporter.export_encoded(payload, 1) is False
    time.sleep(0.1)
    assert otlp_receiver.attempts["traces"] == 0


def test_http_max_request_size_is_respected(otlp_receiver: OtlpReceiver) -> None:
    payload, _ = _payload(3)
    exporter = EncodedHttpSpanExporter(
        endpoint=f"{otlp_receiver.http_endpoint}/v1/traces",
        max_request_size=len(payload) - 1,
        timeout=5,
    )
    try:
        assert exporter.export_encoded(payload, 3) is False
        assert otlp_receiver.attempts["traces"] == 0
        small, _ = _payload(1)
        assert exporter.export_encoded(small, 1) is True
    finally:
        exporter.shutdown()
    assert [r.raw for r in otlp_receiver.received] == [small]
    assert ExportTraceServiceRequest.FromString(small).resource_spans
