"""Probe spans written straight to OTLP protobuf bytes, without the SDK span machinery.

A probe span has a fixed shape: the same name, kind and attribute keys every
cycle, and for one target and probe mode the first seven or eight attributes
(target, kind, server, port, protocol, scheme, region, mode) never change.
:class:`ProbeSpanEncoder` encodes those once per ``(target, mode)`` and, per
span, writes only the ids, the times, the dynamic attributes, the status and
any audit events, using the protobuf wire format directly:

- varints for lengths, enums and ``int64`` values (negative ints as ten bytes);
- length-delimited fields for strings, bytes and sub-messages;
- little-endian ``fixed64`` for times and ``double`` values (:mod:`struct`).

The output is what the SDK would produce for the span the recorder builds
(``tracer.start_span(SPAN_PROBE, kind=CLIENT, attributes=probe_span_attrs(o))``,
``set_status`` when not OK, ``add_event`` per audit event, ``end``) and then
serialises with ``opentelemetry.exporter.otlp.proto.common.trace_encoder``:
fields in field-number order, the empty ``status`` message of an unset status,
``flags`` carrying ``SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`` for a root span,
and the SDK's span limits (events, event attributes, attribute value length).
The tests hold the two byte strings side by side.

Example::

    encoder = ProbeSpanEncoder(resource, "otel_genesys", "0.1.0")
    trace_id, span_id = new_ids()
    span = encoder.probe_span(outcome, trace_id=trace_id, span_id=span_id, end_ns=end)
    payload = encoder.request([span])  # an ExportTraceServiceRequest, ready to send
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from typing import Any, Final

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits

from otel_genesys.core.events import AuditEvent
from otel_genesys.core.outcome import Confidence, Outcome, ProbeMode, ProbeOutcome, TargetInfo
from otel_genesys.telemetry import names as n
from otel_genesys.telemetry.logs import scrub_value
from otel_genesys.telemetry.probe_metrics import target_metric_attrs
from otel_genesys.telemetry.wire import AV_INT as _AV_INT
from otel_genesys.telemetry.wire import KV_KEY as _KV_KEY
from otel_genesys.telemetry.wire import KV_VALUE as _KV_VALUE
from otel_genesys.telemetry.wire import VARINT_1 as _VARINT_1
from otel_genesys.telemetry.wire import clean_keys as _clean_keys
from otel_genesys.telemetry.wire import (
    encode_any_value,
    encode_double,
    encode_key_value,
    encode_string,
    encode_varint,
)
from otel_genesys.telemetry.wire import encode_attributes as _attributes
from otel_genesys.telemetry.wire import encode_int64 as _int64
from otel_genesys.telemetry.wire import fixed64_field as _fixed64_field
from otel_genesys.telemetry.wire import length_delimited as _ld
from otel_genesys.telemetry.wire import pack_double as _pack_double

__all__ = [
    "ProbeSpanEncoder",
    "encode_any_value",
    "encode_double",
    "encode_key_value",
    "encode_string",
    "encode_varint",
    "new_ids",
]

_pack_times = struct.Struct("<BQBQ").pack
_pack_ids = struct.Struct(">2sQQ2sQ").pack
_MASK64: Final = (1 << 64) - 1


# ------------------------------------------------------------------ message layout

# Span: trace_id 1, span_id 2, trace_state 3, parent_span_id 4, name 5, kind 6,
# start 7 (fixed64), end 8 (fixed64), attributes 9, dropped_attributes_count 10,
# events 11, dropped_events_count 12, links 13, dropped_links_count 14, status 15,
# flags 16 (fixed32).
_SPAN_ATTR: Final = b"\x4a"
_SPAN_EVENT: Final = b"\x5a"
_SPAN_DROPPED_EVENTS: Final = b"\x60"
_SPAN_STATUS: Final = b"\x7a"
_SPAN_KIND_CLIENT: Final = b"\x30\x03"  # SpanKind.CLIENT (2) + 1 in OTLP's enum
# A root span: the "is remote" bit of the (absent) parent is known, and false.
_SPAN_FLAGS: Final = b"\x85\x01" + struct.pack("<I", 0x100)
_STATUS_UNSET: Final = _SPAN_STATUS + b"\x00"  # the SDK always writes a status message
_STATUS_MESSAGE: Final = b"\x12"
_STATUS_CODE_ERROR: Final = b"\x18\x02"
# Span.Event: time 1 (fixed64), name 2, attributes 3, dropped_attributes_count 4.
_EVENT_TIME: Final = 0x09
_EVENT_NAME: Final = b"\x12"
_EVENT_ATTR: Final = b"\x1a"
_EVENT_DROPPED: Final = b"\x20"
# ExportTraceServiceRequest.resource_spans 1; ResourceSpans: resource 1,
# scope_spans 2, schema_url 3; ScopeSpans: scope 1, spans 2, schema_url 3;
# InstrumentationScope: name 1, version 2; Resource: attributes 1.
_REQ_RESOURCE_SPANS: Final = b"\x0a"
_RS_RESOURCE: Final = b"\x0a"
_RS_SCOPE_SPANS: Final = b"\x12"
_RS_SCHEMA_URL: Final = b"\x1a"
_SS_SCOPE: Final = b"\x0a"
_SS_SPAN: Final = b"\x12"
_RESOURCE_ATTR: Final = b"\x0a"


def _double_prefix(key: str) -> bytes:
    """Everything of a span attribute ``key = <double>`` up to the eight value bytes."""
    probe = _ld(_SPAN_ATTR, encode_key_value(key, 0.0))
    return probe[:-8]


def _key_field(key: str) -> bytes:
    return _ld(_KV_KEY, key.encode())


_P_TIMEOUT: Final = _double_prefix(n.PROBE_TIMEOUT)
_P_RTT: Final = _double_prefix(n.RTT)
_P_JITTER: Final = _double_prefix(n.JITTER_CONSECUTIVE)
_P_RFC3550: Final = _double_prefix(n.JITTER_RFC3550)
_P_PDV: Final = _double_prefix(n.PDV)
_P_STABILITY: Final = _double_prefix(n.STABILITY_WINDOW)
_P_LIFETIME: Final = _double_prefix(n.STABILITY_LIFETIME)
_K_SEQUENCE: Final = _key_field(n.PROBE_SEQUENCE)
_LATE_FORMAT: Final = "<{}sd{}sd{}sd".format(
    *(len(_double_prefix(k)) for k in (n.SCHEDULER_LATENESS, n.LOOP_LAG, n.GC_PAUSE))
)
_pack_late = struct.Struct(_LATE_FORMAT).pack
_P_LATENESS: Final = _double_prefix(n.SCHEDULER_LATENESS)
_P_LOOP_LAG: Final = _double_prefix(n.LOOP_LAG)
_P_GC_PAUSE: Final = _double_prefix(n.GC_PAUSE)


def new_ids() -> tuple[int, int]:
    """A random non-zero 128-bit trace id and 64-bit span id (as the SDK's
    ``RandomIdGenerator`` draws them)."""
    trace_id = random.getrandbits(128)
    while not trace_id:
        trace_id = random.getrandbits(128)
    span_id = random.getrandbits(64)
    while not span_id:
        span_id = random.getrandbits(64)
    return trace_id, span_id


class ProbeSpanEncoder:
    """Encodes probe spans to OTLP ``Span`` bytes and wraps them in export requests.

    ``resource`` and the scope (``scope_name``, ``scope_version``) are encoded
    once; so are the static attributes of every ``(target, mode)`` met (at most
    :attr:`STATIC_MAX` kept, oldest forgotten first). ``limits`` are the span
    limits the SDK would apply (default: :class:`SpanLimits` from the
    environment, as a ``TracerProvider`` reads them).

    Not thread-safe beyond the GIL's guarantees; meant for one telemetry worker.
    """

    STATIC_MAX = 16_384
    """Cached static-attribute prefixes (one per target and probe mode)."""

    def __init__(
        self,
        resource: Resource,
        scope_name: str,
        scope_version: str,
        *,
        limits: SpanLimits | None = None,
    ) -> None:
        limits = limits if limits is not None else SpanLimits()
        self._max_events: int | None = limits.max_events
        self._max_event_attrs: int | None = limits.max_event_attributes
        self._event_value_len: int | None = limits.max_attribute_length
        self._span_value_len: int | None = limits.max_span_attribute_length
        self._static: dict[tuple[TargetInfo, ProbeMode], bytes] = {}
        span_len = self._span_value_len
        self._outcome_attr = {
            o: _ld(_SPAN_ATTR, encode_key_value(n.PROBE_OUTCOME, o.value, span_len))
            for o in Outcome
        }
        self._confidence_attr = {
            c: _ld(_SPAN_ATTR, encode_key_value(n.CONFIDENCE, c.value, span_len))
            for c in Confidence
        }
        self._name_kind = _ld(b"\x2a", n.SPAN_PROBE.encode()) + _SPAN_KIND_CLIENT
        self._event_names: dict[Any, bytes] = {}

        resource_body = _attributes(_RESOURCE_ATTR, resource.attributes, None)
        scope_body = b""
        if scope_name:
            scope_body += encode_string(1, scope_name)
        if scope_version:
            scope_body += encode_string(2, scope_version)
        self._resource_field = _ld(_RS_RESOURCE, resource_body)
        self._scope_field = _ld(_SS_SCOPE, scope_body)
        schema_url = resource.schema_url
        self._schema_suffix = _ld(_RS_SCHEMA_URL, schema_url.encode()) if schema_url else b""

    # ---------------------------------------------------------------- spans

    def probe_span(
        self,
        o: ProbeOutcome,
        *,
        trace_id: int,
        span_id: int,
        end_ns: int,
        events: Sequence[AuditEvent] = (),
    ) -> bytes:
        """One serialized ``Span`` for probe outcome ``o``: start ``o.sent_wall_ns``,
        end ``end_ns``, attributes exactly ``probe_span_attrs(o)``, status ERROR
        (``o.error_type`` or the outcome) unless OK, one span event per audit event."""
        static = self._static.get((o.target, o.mode))
        if static is None:
            static = self._static_attrs(o.target, o.mode)
        start = o.sent_wall_ns
        parts = [
            _pack_ids(b"\x0a\x10", trace_id >> 64, trace_id & _MASK64, b"\x12\x08", span_id),
            self._name_kind,
            _pack_times(0x39, start, 0x41, end_ns) if start and end_ns else _times(start, end_ns),
            static,
        ]
        append = parts.append
        seq = _AV_INT + _int64(o.sequence)
        kv = _K_SEQUENCE + _KV_VALUE + _VARINT_1[len(seq)] + seq
        append(_SPAN_ATTR + encode_varint(len(kv)) + kv)
        ok = o.outcome is Outcome.OK
        append(self._outcome_attr[o.outcome])
        append(_P_TIMEOUT + _pack_double(o.timeout_ns / 1e9))
        if o.rtt_ns is not None:
            append(_P_RTT + _pack_double(o.rtt_ns / 1e9))
        if o.jitter_ns is not None:
            append(_P_JITTER + _pack_double(o.jitter_ns / 1e9))
        if o.jitter_rfc3550_ns is not None:
            append(_P_RFC3550 + _pack_double(o.jitter_rfc3550_ns / 1e9))
        if o.pdv_ns is not None:
            append(_P_PDV + _pack_double(o.pdv_ns / 1e9))
        stability = o.stability
        if type(stability) is float:
            append(_P_STABILITY + _pack_double(stability))
        else:
            append(self._span_attr(n.STABILITY_WINDOW, stability))
        stability = o.stability_lifetime
        if type(stability) is float:
            append(_P_LIFETIME + _pack_double(stability))
        else:
            append(self._span_attr(n.STABILITY_LIFETIME, stability))
        append(
            _pack_late(
                _P_LATENESS,
                o.lateness_ns / 1e9,
                _P_LOOP_LAG,
                o.loop_lag_ns / 1e9,
                _P_GC_PAUSE,
                o.gc_pause_ns / 1e9,
            )
        )
        append(self._confidence_attr[o.confidence])
        if o.breaches:
            append(self._span_attr(n.THRESHOLD_BREACHED, [b.threshold for b in o.breaches]))
        if ok:
            if events:
                append(self._events(events))
            append(_STATUS_UNSET)
        else:
            message = o.error_type or o.outcome.value
            append(self._span_attr(n.ERROR_TYPE, message))
            if events:
                append(self._events(events))
            status = _ld(_STATUS_MESSAGE, message.encode()) + _STATUS_CODE_ERROR
            append(_ld(_SPAN_STATUS, status))
        append(_SPAN_FLAGS)
        return b"".join(parts)

    def _span_attr(self, key: str, value: Any) -> bytes:
        try:
            return _ld(_SPAN_ATTR, encode_key_value(key, value, self._span_value_len))
        except ValueError:
            return b""

    def _static_attrs(self, target: TargetInfo, mode: ProbeMode) -> bytes:
        attrs = {**target_metric_attrs(target), n.PROBE_MODE: mode.value}
        encoded = _attributes(_SPAN_ATTR, attrs, self._span_value_len)
        cache = self._static
        while len(cache) >= self.STATIC_MAX:
            del cache[next(iter(cache))]
        cache[(target, mode)] = encoded
        return encoded

    def _events(self, events: Sequence[AuditEvent]) -> bytes:
        max_events = self._max_events
        dropped = 0
        if max_events is not None and len(events) > max_events:
            # The SDK keeps the newest events (a bounded deque) and counts the rest.
            dropped = len(events) - max_events
            events = events[dropped:]
        parts = [self._event(e) for e in events]
        if dropped:
            parts.append(_SPAN_DROPPED_EVENTS + encode_varint(dropped))
        return b"".join(parts)

    def _event(self, event: AuditEvent) -> bytes:
        name = self._event_names.get(event.kind)
        if name is None:
            name = self._event_names[event.kind] = _ld(
                _EVENT_NAME, n.audit_event_name(event.kind).encode()
            )
        body = [_fixed64_field(_EVENT_TIME, event.time_wall_ns), name]
        if event.attributes:
            # As the recorder builds them: a repeated key keeps its first place and
            # its last value; then the SDK drops empty keys, counting them.
            given = {str(k): scrub_value(v) for k, v in event.attributes}
            kept = dict(_clean_keys(given.items()))
            dropped = len(given) - len(kept)
            limit = self._max_event_attrs
            if limit is not None and len(kept) > limit:
                # The SDK's bounded attributes drop the oldest keys when full.
                excess = len(kept) - limit
                dropped += excess
                kept = dict(list(kept.items())[excess:])
            body.append(_attributes(_EVENT_ATTR, kept, self._event_value_len))
            if dropped:
                body.append(_EVENT_DROPPED + encode_varint(dropped))
        return _ld(_SPAN_EVENT, b"".join(body))

    # ---------------------------------------------------------------- requests

    def request(self, spans: Sequence[bytes]) -> bytes:
        """One serialized ``ExportTraceServiceRequest`` holding ``spans`` (each a
        :meth:`probe_span` result) under this encoder's resource and scope.
        No spans: an empty request (``b""``), as the SDK encodes none."""
        if not spans:
            return b""
        scope_spans = self._scope_field + b"".join(
            [_SS_SPAN + encode_varint(len(s)) + s for s in spans]
        )
        resource_spans = (
            self._resource_field
            + _RS_SCOPE_SPANS
            + encode_varint(len(scope_spans))
            + scope_spans
            + self._schema_suffix
        )
        return _REQ_RESOURCE_SPANS + encode_varint(len(resource_spans)) + resource_spans


def _times(start: int, end: int) -> bytes:
    return _fixed64_field(0x39, start) + _fixed64_field(0x41, end)
