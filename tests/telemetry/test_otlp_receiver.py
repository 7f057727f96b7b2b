"""The test OTLP receiver itself: decoding, failure modes, restart on the same port."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as pb
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.support.otlp_receiver import OtlpReceiver

REQUEST = pb.ExportTraceServiceRequest(
    resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[Span(name="hello")])])]
)


def _grpc_export(rx: OtlpReceiver, timeout: float = 2.0) -> grpc.StatusCode:
    with grpc.insecure_channel(f"127.0.0.1:{rx.grpc_port}") as channel:
        call = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=pb.ExportTraceServiceRequest.SerializeToString,
            response_deserializer=pb.ExportTraceServiceResponse.FromString,
        )
        try:
            call(REQUEST, timeout=timeout)
        except grpc.RpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK


def _http_export(rx: OtlpReceiver, timeout: float = 2.0) -> int:
    req = urllib.request.Request(
        f"{rx.http_endpoint}/v1/traces",
        data=REQUEST.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_both_transports_store_decoded_and_raw() -> None:
    with OtlpReceiver() as rx:
        assert _grpc_export(rx) is grpc.StatusCode.OK
        assert _http_export(rx) == 200
        assert [s.name for s in rx.spans()] == ["hello", "hello"]
        assert {r.transport for r in rx.received} == {"grpc", "http"}
        assert all(r.raw == REQUEST.SerializeToString() for r in rx.received)
        assert rx.wait_for(lambda r: len(r.spans()) == 2, timeout=0.1)
        assert not rx.wait_for(lambda r: len(r.spans()) == 3, timeout=0.1)
    assert not rx.running


def test_fail_modes(otlp_receiver: OtlpReceiver) -> None:
    otlp_receiver.fail()
    assert _grpc_export(otlp_receiver) is grpc.StatusCode.UNAVAILABLE
    assert _http_export(otlp_receiver) == 503
    otlp_receiver.fail(grpc_code=grpc.StatusCode.RESOURCE_EXHAUSTED, http_status=429)
    assert _grpc_export(otlp_receiver) is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert _http_export(otlp_receiver) == 429
    assert otlp_receiver.spans() == []
    assert otlp_receiver.attempts["traces"] == 4
    otlp_receiver.heal()
    assert _http_export(otlp_receiver) == 200


def test_fail_a_number_of_times_then_answer(otlp_receiver: OtlpReceiver) -> None:
    otlp_receiver.fail(times=2)
    assert _http_export(otlp_receiver) == 503
    assert _grpc_export(otlp_receiver) is grpc.StatusCode.UNAVAILABLE
    assert _http_export(otlp_receiver) == 200
    assert _grpc_export(otlp_receiver) is grpc.StatusCode.OK
    assert len(otlp_receiver.spans()) == 2 and otlp_receiver.attempts["traces"] == 4
    otlp_receiver.fail()  # without a count: every export, as before
    assert [_http_export(otlp_receiver) for _ in range(3)] == [503, 503, 503]


def test_hang_black_holes_until_healed(otlp_receiver: OtlpReceiver) -> None:
    otlp_receiver.hang()
    t0 = time.monotonic()
    assert _grpc_export(otlp_receiver, timeout=0.3) is grpc.StatusCode.DEADLINE_EXCEEDED
    assert 0.25 < time.monotonic() - t0 < 2
    with pytest.raises(OSError):
        _http_export(otlp_receiver, timeout=0.3)
    otlp_receiver.heal()
    assert _grpc_export(otlp_receiver) is grpc.StatusCode.OK


def test_stop_and_restart_on_the_same_ports(otlp_receiver: OtlpReceiver) -> None:
    ports = (otlp_receiver.grpc_port, otlp_receiver.http_port)
    otlp_receiver.stop()
    assert _grpc_export(otlp_receiver, timeout=0.5) is grpc.StatusCode.UNAVAILABLE
    with pytest.raises(OSError):
        _http_export(otlp_receiver, timeout=0.5)
    otlp_receiver.start()
    assert (otlp_receiver.grpc_port, otlp_receiver.http_port) == ports
    assert _grpc_export(otlp_receiver) is grpc.StatusCode.OK
    assert _http_export(otlp_receiver) == 200
