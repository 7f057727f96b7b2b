"""OTLP exporters that send requests encoded by our own encoders, not the SDK's.

:mod:`otel_genesys.telemetry.probe_spans` writes probe spans straight to OTLP
bytes and :mod:`otel_genesys.telemetry.metrics_wire` does the same for metric
data; these exporters put such payloads on the wire. All subclass the SDK's
own OTLP exporters, so everything about *how* to send stays theirs:
endpoint and ``OTEL_EXPORTER_OTLP_*`` variables, headers, TLS or insecure,
compression, timeout, retries with backoff, the internal exporter metrics and,
for gRPC, the channel re-created after ``UNAVAILABLE``. Only the step "turn SDK
spans into a request" is replaced by "take these bytes".

Both keep working as ordinary :class:`SpanExporter` s for SDK spans (their
``export`` encodes with the SDK encoder and sends the same way), so one
exporter can carry the probe payloads and the rare SDK spans alike.

The metric exporters are the SDK's :class:`MetricExporter` s with one step
swapped: ``export(metrics_data)`` sends :func:`encode_metrics_request` bytes
(identical to the SDK encoder's) instead of building protobuf objects. The
SDK's temporality/aggregation preferences and ``max_export_batch_size``
splitting stay theirs.

Both rely on SDK 1.45 internals, checked by ``tests/telemetry/test_raw_span_export.py``:
gRPC — ``OTLPExporterMixin._export`` / ``_translate_data`` / ``_count_data`` /
``_initialize_channel_and_stub`` / ``_stub`` / ``_client`` / ``_channel``;
HTTP — ``_client.export(bytes)``, ``_max_request_size``, ``_metrics``, ``_shutdown``,
``_max_export_batch_size`` and the gRPC metric exporter's ``_split_metrics_data``;
both — ``_metrics.export_operation`` and its result's ``error`` (checked by
``tests/telemetry/test_failed_export_memory.py``: without them a failed batch
outlives its export).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import grpc
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as _SdkGrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as _SdkGrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http._common import (
    RequestPayloadTooLargeError,
    _is_request_too_large,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as _SdkHttpMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as _SdkHttpSpanExporter,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.metrics.export import MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.semconv.attributes.http_attributes import HTTP_RESPONSE_STATUS_CODE

from otel_genesys.telemetry.metrics_wire import count_data_points, encode_metrics_request

__all__ = [
    "EXPORT_METHOD",
    "METRICS_EXPORT_METHOD",
    "EncodedGrpcMetricExporter",
    "EncodedGrpcSpanExporter",
    "EncodedHttpMetricExporter",
    "EncodedHttpSpanExporter",
    "release_export_errors",
]

_log = logging.getLogger(__name__)

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
"""The OTLP trace service's one RPC."""
METRICS_EXPORT_METHOD = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
"""The OTLP metrics service's one RPC."""


# ------------------------------------------------------------------ failed exports


class _ErrorReleasingMetrics:
    """An SDK exporter's ``_metrics`` that lets go of each failed export's error.

    The SDK's export methods keep the error of a failed export on the ``result``
    of ``self._metrics.export_operation(...)``, a local of the very frame the
    error's traceback holds: a reference cycle. Reference counting never frees
    it, so the frame stays alive with everything it refers to (the batch of
    metric points or spans, the encoded request) until a full collection of the
    oldest generation, which the tuned thresholds make rare
    (:mod:`~otel_genesys.telemetry.gctune`). With the Collector down, every
    export fails and these cycles piled up: the export process grew by 21 % in
    a 300,000-cycle soak (docs/reliability.md). This wrapper hands the SDK's
    own context manager the result as before and clears ``result.error`` once
    that context manager has read it for its metrics, so the cycle never forms
    for longer than the export call.

    The HTTP client libraries under OTLP/HTTP leave cycles of their own on each
    refused attempt, out of the exporter's reach; see
    :func:`~otel_genesys.telemetry.export_health.collect_after_failed_export`.
    """

    __slots__ = ("_inner",)

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @contextmanager
    def export_operation(self, num_items: int) -> Iterator[Any]:
        result = None
        try:
            with self._inner.export_operation(num_items) as result:
                yield result
        finally:
            if result is not None and result.error is not None:
                _release(result.error)
                result.error = None


def _release(error: BaseException | None) -> None:
    """Clear the finished frames an error's traceback (and the errors it was raised
    from) still hold: HTTP client libraries keep their own errors in locals of those
    frames, more cycles reaching back to the frame that holds the request."""
    seen = 0
    while error is not None and seen < 8:
        traceback.clear_frames(error.__traceback__)
        error = error.__cause__ or error.__context__
        seen += 1


def release_export_errors(exporter: Any) -> Any:
    """Make an SDK OTLP exporter let go of failed exports' errors (see
    :class:`_ErrorReleasingMetrics`); returns ``exporter``. An exporter without
    ``_metrics`` (not one of the SDK's OTLP exporters) is returned unchanged."""
    metrics = getattr(exporter, "_metrics", None)
    if metrics is not None and not isinstance(metrics, _ErrorReleasingMetrics):
        exporter._metrics = _ErrorReleasingMetrics(metrics)
    return exporter


# ------------------------------------------------------------------ gRPC


def _identity(payload: bytes) -> bytes:
    return payload


class _RawStub:
    """An OTLP service stub whose ``Export`` takes the request as bytes."""

    METHOD: ClassVar[str]
    RESPONSE: ClassVar[Any]

    def __init__(self, channel: grpc.Channel) -> None:
        self.Export = channel.unary_unary(
            self.METHOD,
            request_serializer=_identity,
            response_deserializer=self.RESPONSE.FromString,
        )


class _RawTraceServiceStub(_RawStub):
    """``TraceServiceStub`` taking bytes."""

    METHOD = EXPORT_METHOD
    RESPONSE = ExportTraceServiceResponse


class _RawMetricsServiceStub(_RawStub):
    """``MetricsServiceStub`` taking bytes."""

    METHOD = METRICS_EXPORT_METHOD
    RESPONSE = ExportMetricsServiceResponse


class _RawChannel:
    """Mixin for an SDK gRPC exporter: its client is :attr:`RAW_STUB` on its channel."""

    RAW_STUB: ClassVar[type[_RawStub]]

    def _initialize_channel_and_stub(self) -> None:
        # Called by the SDK at construction and again after UNAVAILABLE (a fresh
        # channel); both times the client must be the bytes-taking stub.
        self._stub = self.RAW_STUB
        initialize: Callable[[], None] = super()._initialize_channel_and_stub  # type: ignore[misc]
        initialize()


@dataclass(frozen=True, slots=True)
class _Encoded:
    """A pre-encoded request travelling through the SDK's ``_export``."""

    payload: bytes
    spans: int


class EncodedGrpcSpanExporter(_RawChannel, _SdkGrpcSpanExporter):
    """The SDK's OTLP/gRPC span exporter, sending pre-encoded requests.

    Takes the SDK class's arguments (``endpoint``, ``insecure``, ``headers``,
    ``timeout``, ``compression``, ...) and environment variables.
    """

    RAW_STUB = _RawTraceServiceStub

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


class EncodedGrpcMetricExporter(_RawChannel, _SdkGrpcMetricExporter):
    """The SDK's OTLP/gRPC metric exporter, encoding with :func:`encode_metrics_request`.

    Takes the SDK class's arguments (``endpoint``, ``insecure``, ``headers``,
    ``timeout``, ``compression``, ``preferred_temporality``,
    ``max_export_batch_size``, ...) and environment variables; its ``export``
    (batch splitting, retries) is the SDK's, only the encoding is ours.
    """

    RAW_STUB = _RawMetricsServiceStub
    TAKES_ATTR_SETS = True
    """Its encoder reads the probe metrics' attribute sets as they are (no dict copy)."""

    def _translate_data(self, data: MetricsData) -> bytes:  # type: ignore[override]
        return encode_metrics_request(data)


# ------------------------------------------------------------------ HTTP


class EncodedHttpSpanExporter(_SdkHttpSpanExporter):
    """The SDK's OTLP/HTTP (protobuf) span exporter, posting pre-encoded requests.

    Takes the SDK class's arguments (``endpoint`` — the full ``.../v1/traces``
    URL —, ``headers``, ``timeout``, ``compression``, ``max_request_size``, ...)
    and environment variables.
    """

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export SDK spans: encoded by the SDK encoder, sent like any payload."""
        ok = _post(self, "span", len(spans), lambda: encode_spans(spans).SerializePartialToString())
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def export_encoded(self, payload: bytes, count: int) -> bool:
        """As :meth:`EncodedGrpcSpanExporter.export_encoded`; also False when the payload
        exceeds ``max_request_size`` (nothing is sent then)."""
        return _post(self, "span", count, lambda: payload)


class EncodedHttpMetricExporter(_SdkHttpMetricExporter):
    """The SDK's OTLP/HTTP (protobuf) metric exporter, encoding with
    :func:`encode_metrics_request`.

    Takes the SDK class's arguments (``endpoint`` — the full ``.../v1/metrics``
    URL —, ``headers``, ``timeout``, ``compression``, ``preferred_temporality``,
    ``max_export_batch_size``, ``max_request_size``, ...) and environment variables.
    """

    TAKES_ATTR_SETS = True
    """Its encoder reads the probe metrics' attribute sets as they are (no dict copy)."""

    def export(
        self, metrics_data: MetricsData, timeout_millis: float | None = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        """Post ``metrics_data`` (split into ``max_export_batch_size`` points per
        request when set, stopping at the first failed batch, as the SDK does)."""
        if self._shutdown:
            _log.warning("Exporter already shutdown, ignoring batch")
            return MetricExportResult.FAILURE
        batches: Any = [metrics_data]
        if self._max_export_batch_size:
            # The SDK's gRPC exporter splits SDK data (this one splits protobuf
            # objects); its splitter only reads ``self._max_export_batch_size``.
            split: Any = _SdkGrpcMetricExporter._split_metrics_data
            batches = split(self, metrics_data)
        for batch in batches:
            count = count_data_points(batch)
            if not _post(self, "metrics", count, partial(encode_metrics_request, batch)):
                return MetricExportResult.FAILURE
        return MetricExportResult.SUCCESS


def _post(exporter: Any, what: str, count: int, encode: Callable[[], bytes]) -> bool:
    """Post one request through an SDK HTTP exporter's client, with its checks
    (shutdown, ``max_request_size``) and its export metrics. Never raises for a
    network or receiver failure."""
    if exporter._shutdown:
        _log.warning("Exporter already shutdown, ignoring batch")
        return False
    with exporter._metrics.export_operation(count) as result:
        try:
            payload = encode()
        except Exception as error:
            _log.error("Failed to encode %s batch: %s", what, error)
            result.error = error
            return False
        limit = exporter._max_request_size
        if _is_request_too_large(payload, limit):
            _log.warning(
                "Dropping %s batch: serialized size %d bytes exceeds max_request_size %d bytes.",
                what,
                len(payload),
                limit,
            )
            result.error = RequestPayloadTooLargeError(
                f"Serialized {what} request size {len(payload)} bytes exceeds "
                f"max_request_size {limit} bytes."
            )
            return False
        sent = exporter._client.export(payload)
        if not sent.success:
            result.error = sent.error
            if sent.status_code is not None:
                result.error_attrs = {HTTP_RESPONSE_STATUS_CODE: sent.status_code}
            return False
    return True
