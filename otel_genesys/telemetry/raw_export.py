"""OTLP span exporters that send an already-encoded ``ExportTraceServiceRequest``.

:mod:`otel_genesys.telemetry.probe_spans` writes probe spans straight to OTLP
bytes; these exporters put such a payload on the wire. Both subclass the SDK's
own OTLP span exporters, so everything about *how* to send stays theirs:
endpoint and ``OTEL_EXPORTER_OTLP_*`` variables, headers, TLS or insecure,
compression, timeout, retries with backoff, the internal exporter metrics and,
for gRPC, the channel re-created after ``UNAVAILABLE``. Only the step "turn SDK
spans into a request" is replaced by "take these bytes".

Both keep working as ordinary :class:`SpanExporter` s for SDK spans (their
``export`` encodes with the SDK encoder and sends the same way), so one
exporter can carry the probe payloads and the rare SDK spans alike.

Both rely on SDK 1.45 internals, checked by ``tests/telemetry/test_raw_span_export.py``:
gRPC — ``OTLPExporterMixin._export`` / ``_translate_data`` / ``_count_data`` /
``_initialize_channel_and_stub`` / ``_stub`` / ``_client`` / ``_channel``;
HTTP — ``_client.export(bytes)``, ``_max_request_size``, ``_metrics``, ``_shutdown``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as _SdkGrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http._common import (
    RequestPayloadTooLargeError,
    _is_request_too_large,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as _SdkHttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.semconv.attributes.http_attributes import HTTP_RESPONSE_STATUS_CODE

__all__ = ["EXPORT_METHOD", "EncodedGrpcSpanExporter", "EncodedHttpSpanExporter"]

_log = logging.getLogger(__name__)

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
"""The OTLP trace service's one RPC."""


# ------------------------------------------------------------------ gRPC


def _identity(payload: bytes) -> bytes:
    return payload


class _RawTraceServiceStub:
    """``TraceServiceStub`` whose ``Export`` takes the request as bytes."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.Export = channel.unary_unary(
            EXPORT_METHOD,
            request_serializer=_identity,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )


@dataclass(frozen=True, slots=True)
class _Encoded:
    """A pre-encoded request travelling through the SDK's ``_export``."""

    payload: bytes
    spans: int


class EncodedGrpcSpanExporter(_SdkGrpcSpanExporter):
    """The SDK's OTLP/gRPC span exporter, sending pre-encoded requests.

    Takes the SDK class's arguments (``endpoint``, ``insecure``, ``headers``,
    ``timeout``, ``compression``, ...) and environment variables.
    """

    def _initialize_channel_and_stub(self) -> None:
        # Called by the SDK at construction and again after UNAVAILABLE (a fresh
        # channel); both times the client must be the bytes-taking stub.
        self._stub = _RawTraceServiceStub
        initialize: Callable[[], None] = super()._initialize_channel_and_stub
        initialize()

    def _translate_data(  # type: ignore[override]
        self, data: _Encoded | Sequence[ReadableSpan]
    ) -> bytes:
        if isinstance(data, _Encoded):
            return data.payload
        payload: bytes = encode_spans(data).SerializePartialToString()
        return payload

    def _count_data(self, data: _Encoded | Sequence[ReadableSpan]) -> int:
        return data.spans if isinstance(data, _Encoded) else len(data)

    def export_encoded(self, payload: bytes, count: int) -> bool:
        """Send one serialized ``ExportTraceServiceRequest`` holding ``count`` spans.

        True when the receiver accepted it; False on failure (after the SDK's
        retries within its timeout) or after :meth:`shutdown`. Never raises for
        a network or receiver failure.
        """
        try:
            result: Any = self._export(_Encoded(payload, count))  # type: ignore[arg-type]
        except Exception:
            # The SDK handles RpcError itself; anything else (e.g. the channel closed
            # by a concurrent shutdown) is a failed export, not the caller's problem.
            _log.warning("OTLP/gRPC span export failed", exc_info=True)
            return False
        return result is SpanExportResult.SUCCESS


# ------------------------------------------------------------------ HTTP


class EncodedHttpSpanExporter(_SdkHttpSpanExporter):
    """The SDK's OTLP/HTTP (protobuf) span exporter, posting pre-encoded requests.

    Takes the SDK class's arguments (``endpoint`` — the full ``.../v1/traces``
    URL —, ``headers``, ``timeout``, ``compression``, ``max_request_size``, ...)
    and environment variables.
    """

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export SDK spans: encoded by the SDK encoder, sent like any payload."""
        ok = self._send(len(spans), lambda: encode_spans(spans).SerializePartialToString())
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def export_encoded(self, payload: bytes, count: int) -> bool:
        """As :meth:`EncodedGrpcSpanExporter.export_encoded`; also False when the payload
        exceeds ``max_request_size`` (nothing is sent then)."""
        return self._send(count, lambda: payload)

    def _send(self, count: int, encode: Callable[[], bytes]) -> bool:
        if self._shutdown:
            _log.warning("Exporter already shutdown, ignoring batch")
            return False
        with self._metrics.export_operation(count) as result:
            try:
                payload = encode()
            except Exception as error:
                _log.error("Failed to encode span batch: %s", error)
                result.error = error
                return False
            limit = self._max_request_size
            if _is_request_too_large(payload, limit):
                _log.warning(
                    "Dropping span batch: serialized size %d bytes exceeds max_request_size "
                    "%d bytes.",
                    len(payload),
                    limit,
                )
                result.error = RequestPayloadTooLargeError(
                    f"Serialized span request size {len(payload)} bytes exceeds "
                    f"max_request_size {limit} bytes."
                )
                return False
            sent = self._client.export(payload)
            if not sent.success:
                result.error = sent.error
                if sent.status_code is not None:
                    result.error_attrs = {HTTP_RESPONSE_STATUS_CODE: sent.status_code}
                return False
        return True
