"""The recorder: the one place that turns outcomes and audit events into OTel data.

:class:`Recorder` implements :class:`~otel_genesys.core.sink.TelemetrySink`. Its
sink methods only append the (already immutable) value to a bounded queue and
return; the telemetry worker thread (:mod:`otel_genesys.telemetry.offload`)
later hands batches to :class:`_Materializer`, which does all the work:

- one CLIENT span ``genesys.websocket.ping`` per sampled probe cycle, placed
  with explicit start/end times from the outcome. With an OTLP exporter it is
  encoded straight to OTLP bytes (:mod:`~otel_genesys.telemetry.probe_spans`,
  exported by :mod:`~otel_genesys.telemetry.span_batcher`); otherwise (console,
  a custom exporter) it is an SDK span;
- audit events that name a probe (``AuditEvent.sequence``) become span events
  on that cycle's span; others get a short span of their own;
- lifecycle records become short spans of their own (never one long span);
- every probe feeds the metrics (100 %, unsampled), aggregated in-house by
  :class:`~otel_genesys.telemetry.probe_metrics.ProbeMetrics` and handed to
  the SDK's metric readers at collection;
- every audit event is logged on ``otel_genesys.audit``.

Why not the SDK for the per-probe part: measured on this project's 2-core
machine, the SDK's span object and OTLP encoder cost ~150 µs a span and its
instruments ~75-100 µs for the 6-7 points of one probe (attributes cleaned and
hashed on every call); at thousands of connections that was most of the
agent's CPU. Everything rare (set-up steps, audit spans, reconnects, OAuth)
still goes through the SDK.

Probe spans are held open for one extra drain cycle (~``drain_interval_s``)
so that audit events queued just after their outcome still land on them.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider

from otel_genesys.core.events import (
    AuditEvent,
    AuditKind,
    ConnectionState,
    LifecycleRecord,
)
from otel_genesys.core.outcome import (
    Outcome,
    ProbeMode,
    ProbeOutcome,
    TargetInfo,
)
from otel_genesys.telemetry import names as n
from otel_genesys.telemetry.export_health import ExportHealth
from otel_genesys.telemetry.logs import scrub_value
from otel_genesys.telemetry.offload import IDLE_INTERVAL_S, OffloadWorker
from otel_genesys.telemetry.probe_metrics import ProbeMetrics, target_metric_attrs
from otel_genesys.telemetry.probe_spans import ProbeSpanEncoder, new_ids
from otel_genesys.telemetry.sampling import SpanSampler
from otel_genesys.telemetry.span_batcher import EncodedSpanBatcher

_audit_log = logging.getLogger(n.AUDIT_LOGGER)
_probe_log = logging.getLogger("otel_genesys.probe")
_log = logging.getLogger(__name__)

Attrs = dict[str, Any]


# ------------------------------------------------------------------ queued records
# Outcomes, audit events and lifecycle records are queued as they are (frozen
# values); the rest get a tiny frozen record so the queue holds values only.


@dataclass(frozen=True, slots=True)
class _StateRec:
    target: TargetInfo
    state: ConnectionState


@dataclass(frozen=True, slots=True)
class _HeartbeatRec:
    target: TargetInfo


@dataclass(frozen=True, slots=True)
class _LoopLagRec:
    seconds: float


@dataclass(frozen=True, slots=True)
class _GcPauseRec:
    seconds: float


@dataclass(frozen=True, slots=True)
class _OAuthRec:
    duration_s: float
    outcome: str
    region: str | None


@dataclass(frozen=True, slots=True)
class _RefreshRec:
    outcome: str
    region: str | None


@dataclass(frozen=True, slots=True)
class _FlushRec:
    """End every held span now (flush/shutdown)."""


_FLUSH = _FlushRec()

_Record = (
    ProbeOutcome
    | AuditEvent
    | LifecycleRecord
    | _StateRec
    | _HeartbeatRec
    | _LoopLagRec
    | _GcPauseRec
    | _OAuthRec
    | _RefreshRec
    | _FlushRec
)


# ------------------------------------------------------------------ attributes


def probe_span_attrs(o: ProbeOutcome) -> Attrs:
    """All attributes of a probe span (semconv first, then ``genesys.*``)."""
    attrs = target_metric_attrs(o.target)
    attrs[n.PROBE_MODE] = o.mode.value
    attrs[n.PROBE_SEQUENCE] = o.sequence
    attrs[n.PROBE_OUTCOME] = o.outcome.value
    attrs[n.PROBE_TIMEOUT] = o.timeout_ns / 1e9
    if o.rtt_ns is not None:
        attrs[n.RTT] = o.rtt_ns / 1e9
    if o.jitter_ns is not None:
        attrs[n.JITTER_CONSECUTIVE] = o.jitter_ns / 1e9
    if o.jitter_rfc3550_ns is not None:
        attrs[n.JITTER_RFC3550] = o.jitter_rfc3550_ns / 1e9
    if o.pdv_ns is not None:
        attrs[n.PDV] = o.pdv_ns / 1e9
    attrs[n.STABILITY_WINDOW] = o.stability
    attrs[n.STABILITY_LIFETIME] = o.stability_lifetime
    attrs[n.SCHEDULER_LATENESS] = o.lateness_ns / 1e9
    attrs[n.LOOP_LAG] = o.loop_lag_ns / 1e9
    attrs[n.GC_PAUSE] = o.gc_pause_ns / 1e9
    attrs[n.CONFIDENCE] = o.confidence.value
    if o.breaches:
        attrs[n.THRESHOLD_BREACHED] = [b.threshold for b in o.breaches]
    if o.outcome is not Outcome.OK:
        attrs[n.ERROR_TYPE] = o.error_type or o.outcome.value
    return attrs


def _event_attrs(pairs: Iterable[tuple[str, Any]]) -> Attrs:
    return {str(k): scrub_value(v) for k, v in pairs}


_ProbeKey = tuple[TargetInfo, ProbeMode, int]
_EventKey = tuple[TargetInfo, "ProbeMode | None", int]
_MODES = (ProbeMode.CONTROL, ProbeMode.NOTIFICATION)


def _event_mode(event: AuditEvent) -> ProbeMode | None:
    """The probe mode an event names in its attributes (pong anomalies do), else None."""
    for name, value in event.attributes:
        if name == n.PROBE_MODE:
            try:
                return ProbeMode(value)
            except ValueError:
                return None
    return None


def _add_span_event(span: trace.Span, event: AuditEvent) -> None:
    attrs = _event_attrs(event.attributes)
    span.add_event(n.audit_event_name(event.kind), attrs, timestamp=event.time_wall_ns)


# ------------------------------------------------------------------ instruments


def log_audit(event: AuditEvent, attrs: Attrs | None = None) -> None:
    """Write one audit event to the ``otel_genesys.audit`` log (the governance trail)."""
    level = logging.WARNING if event.kind in n.WARNING_KINDS else logging.INFO
    if not _audit_log.isEnabledFor(level):
        return
    extra_attrs = dict(attrs if attrs is not None else _event_attrs(event.attributes))
    if event.sequence is not None:
        extra_attrs[n.PROBE_SEQUENCE] = event.sequence
    _audit_log.log(
        level,
        event.kind.name.lower().replace("_", " "),
        extra={
            "target": event.target.name,
            "event": n.audit_event_name(event.kind),
            "attributes": extra_attrs,
        },
    )


class _Instruments:
    """Every instrument, created once per meter provider."""

    def __init__(self, meter_provider: MeterProvider, version: str) -> None:
        meter = meter_provider.get_meter(n.INSTRUMENTATION_SCOPE, version)
        self.meter = meter
        self.setup = meter.create_histogram(
            n.METRIC_SETUP_DURATION, n.UNIT_SECONDS, "Duration of connection set-up steps",
            explicit_bucket_boundaries_advisory=n.BUCKETS_SETUP,
        )  # fmt: skip
        self.oauth = meter.create_histogram(
            n.METRIC_OAUTH_DURATION, n.UNIT_SECONDS, "Duration of OAuth token requests",
            explicit_bucket_boundaries_advisory=n.BUCKETS_SETUP,
        )  # fmt: skip
        self.loop_lag = meter.create_histogram(
            n.METRIC_LOOP_LAG, n.UNIT_SECONDS, "Event-loop lag observed by the agent",
            explicit_bucket_boundaries_advisory=n.BUCKETS_LAG,
        )  # fmt: skip
        self.gc_pause = meter.create_histogram(
            n.METRIC_GC_PAUSE, n.UNIT_SECONDS, "Garbage-collection pauses in the agent",
            explicit_bucket_boundaries_advisory=n.BUCKETS_LAG,
        )  # fmt: skip
        self.reconnects = meter.create_counter(
            n.METRIC_RECONNECTS, n.UNIT_RECONNECT, "Reconnects by cause"
        )
        self.heartbeats = meter.create_counter(
            n.METRIC_HEARTBEATS, n.UNIT_HEARTBEAT, "Server heartbeats received"
        )
        self.pong_anomalies = meter.create_counter(
            n.METRIC_PONG_ANOMALIES, n.UNIT_PONG, "Late, duplicate or unsolicited pongs"
        )
        self.token_refreshes = meter.create_counter(
            n.METRIC_TOKEN_REFRESHES, n.UNIT_REFRESH, "OAuth access tokens refreshed"
        )
        self.connections = meter.create_up_down_counter(
            n.METRIC_CONNECTIONS, n.UNIT_CONNECTION, "Targets per connection state"
        )


# ------------------------------------------------------------------ the worker side


@dataclass(slots=True)
class _Held:
    """An SDK probe span waiting one drain cycle for its audit events."""

    span: trace.Span
    end_ns: int
    cycle: int

    def add_event(self, event: AuditEvent) -> None:
        _add_span_event(self.span, event)

    def finish(self) -> trace.SpanContext:
        self.span.end(end_time=self.end_ns)
        return self.span.get_span_context()


_SAMPLED = trace.TraceFlags(trace.TraceFlags.SAMPLED)


@dataclass(slots=True)
class _HeldEncoded:
    """A probe span that will be encoded straight to OTLP bytes when released."""

    outcome: ProbeOutcome
    trace_id: int
    span_id: int
    end_ns: int
    cycle: int
    batcher: EncodedSpanBatcher
    encoder: ProbeSpanEncoder
    events: list[AuditEvent]

    def add_event(self, event: AuditEvent) -> None:
        if len(self.events) < MAX_SPAN_EVENTS:
            self.events.append(event)

    def finish(self) -> tuple[int, int]:
        self.batcher.put(
            self.encoder.probe_span(
                self.outcome,
                trace_id=self.trace_id,
                span_id=self.span_id,
                end_ns=self.end_ns,
                events=self.events,
            )
        )
        return (self.trace_id, self.span_id)  # a SpanContext only if an audit span needs it


_Ended = trace.SpanContext | tuple[int, int]
"""An ended probe span: its context (SDK span) or its (trace id, span id) (encoded span)."""


def _span_context(ended: _Ended | None) -> trace.SpanContext | None:
    if isinstance(ended, tuple):
        return trace.SpanContext(ended[0], ended[1], False, _SAMPLED)
    return ended


MAX_SPAN_EVENTS = 128
"""Audit events kept on one encoded probe span (the SDK's default span event limit)."""


class _Materializer:
    """Turns queued records into spans, metric points and log records (worker thread only)."""

    RECENT_MAX = 4_096
    """Ended probe spans remembered for late audit events (bounded LRU)."""
    PENDING_MAX = 4_096
    """Audit events waiting one cycle for their outcome (bounded)."""

    def __init__(
        self,
        tracer: trace.Tracer,
        inst: _Instruments,
        sampler: SpanSampler,
        *,
        wall_clock: Callable[[], int] = time.time_ns,
        probe_metrics: ProbeMetrics,
        probe_spans: EncodedSpanBatcher | None = None,
    ) -> None:
        self._tracer = tracer
        self._inst = inst
        self._sampler = sampler
        self.probe_metrics = probe_metrics
        self._batcher = probe_spans
        self._encoder: ProbeSpanEncoder | None = (
            cast(ProbeSpanEncoder, probe_spans.encoder) if probe_spans is not None else None
        )
        self._wall = wall_clock
        self._cycle = 0
        # Keyed by (target, mode, sequence): each probe mode numbers its pings from 1,
        # so a target probed in both modes has two pings with every sequence number.
        self._held: dict[_ProbeKey, _Held | _HeldEncoded] = {}
        self._recent: collections.OrderedDict[_ProbeKey, _Ended | None] = (
            collections.OrderedDict()
        )
        self._pending: dict[_EventKey, tuple[int, list[AuditEvent]]] = {}
        self._states: dict[TargetInfo, ConnectionState] = {}
        self._target_attrs: dict[TargetInfo, Attrs] = {}
        self._mode_attrs: dict[tuple[TargetInfo, ProbeMode], Attrs] = {}
        self._dispatch: dict[type, Callable[[Any], None]] = {
            ProbeOutcome: self._outcome,
            AuditEvent: self._event,
            LifecycleRecord: self._lifecycle,
            _StateRec: self._state,
            _HeartbeatRec: self._heartbeat,
            _LoopLagRec: lambda r: inst.loop_lag.record(r.seconds),
            _GcPauseRec: lambda r: inst.gc_pause.record(r.seconds),
            _OAuthRec: self._oauth,
            _RefreshRec: self._refresh,
        }
        self.errors = 0
        """Records that raised while being turned into OTel data."""
        self.log_audit = True
        """Write audit events to the log here (off in an export process: the agent's
        own process logs them, so they reach its terminal, live view and log files)."""

    # ---------------------------------------------------------------- batch entry

    def handle(self, batch: list[_Record]) -> None:
        """Process one drained batch; called on every worker wake, possibly empty."""
        self._cycle += 1
        flush = False
        for record in batch:
            if record is _FLUSH:
                flush = True
                continue
            try:
                self._dispatch[type(record)](record)
            except Exception:
                self.errors += 1
                _log.debug("telemetry record failed", exc_info=True)
        self._release(everything=flush)

    def _release(self, *, everything: bool) -> None:
        """End held spans from earlier cycles; give up waiting for absent outcomes."""
        if self._held:
            for key in [k for k, h in self._held.items() if everything or h.cycle < self._cycle]:
                self._remember(key, self._held.pop(key).finish())
        if self._pending:
            late = [k for k, p in self._pending.items() if everything or p[0] < self._cycle]
            for waited in late:
                _, events = self._pending.pop(waited)
                for event in events:
                    self._audit_span(event, parent=None)

    @property
    def holding(self) -> bool:
        """Probe spans or audit events are waiting for a later cycle."""
        return bool(self._held or self._pending)

    def _remember(self, key: _ProbeKey, ctx: _Ended | None) -> None:
        recent = self._recent
        recent[key] = ctx
        recent.move_to_end(key)
        while len(recent) > self.RECENT_MAX:
            recent.popitem(last=False)

    # ---------------------------------------------------------------- attributes

    def _tattrs(self, target: TargetInfo) -> Attrs:
        attrs = self._target_attrs.get(target)
        if attrs is None:
            attrs = self._target_attrs[target] = target_metric_attrs(target)
        return attrs

    def _mattrs(self, target: TargetInfo, mode: ProbeMode) -> Attrs:
        key = (target, mode)
        attrs = self._mode_attrs.get(key)
        if attrs is None:
            attrs = self._mode_attrs[key] = {**self._tattrs(target), n.PROBE_MODE: mode.value}
        return attrs

    # ---------------------------------------------------------------- probe outcomes

    def _outcome(self, o: ProbeOutcome) -> None:
        self.probe_metrics.record(o)
        if _probe_log.isEnabledFor(logging.DEBUG):
            _probe_log.debug(
                "probe %s",
                o.outcome.value,
                extra={
                    "target": o.target.name,
                    "event": n.SPAN_PROBE,
                    "attributes": {
                        "sequence": o.sequence,
                        "rtt_s": o.rtt_s,
                        "stability": o.stability,
                        "breaches": len(o.breaches),
                    },
                },
            )

        key = (o.target, o.mode, o.sequence)
        if not self._sampler.keep(o):
            self._remember(key, None)
            self._pending.pop(key, None)
            self._pending.pop((o.target, None, o.sequence), None)
            return
        start = o.sent_wall_ns
        if o.rtt_ns is not None:
            end = start + o.rtt_ns
        elif o.outcome is Outcome.TIMEOUT:
            end = start + o.timeout_ns
        else:
            # An aborted ping has no end time of its own: it ended when the socket
            # did, which is at most its deadline and at most "now".
            end = max(start, min(start + o.timeout_ns, self._wall()))
        held: _Held | _HeldEncoded
        if self._batcher is not None and self._encoder is not None:
            trace_id, span_id = new_ids()
            held = _HeldEncoded(
                o, trace_id, span_id, end, self._cycle, self._batcher, self._encoder, []
            )
        else:
            span = self._tracer.start_span(
                n.SPAN_PROBE,
                kind=SpanKind.CLIENT,
                start_time=start,
                attributes=probe_span_attrs(o),
            )
            if o.outcome is not Outcome.OK:
                span.set_status(Status(StatusCode.ERROR, o.error_type or o.outcome.value))
            held = _Held(span, end, self._cycle)
        previous = self._held.pop(key, None)
        if previous is not None:
            self._remember(key, previous.finish())
        self._held[key] = held
        for early in (key, (o.target, None, o.sequence)):
            waiting = self._pending.pop(early, None)
            if waiting is not None:
                for event in waiting[1]:
                    held.add_event(event)

    # ---------------------------------------------------------------- audit events

    def _event(self, event: AuditEvent) -> None:
        inst = self._inst
        kind = event.kind
        attrs = _event_attrs(event.attributes)
        if self.log_audit:
            log_audit(event, attrs)
        if kind is AuditKind.RECONNECT:
            cause = attrs.get(n.EVENT_CAUSE) or attrs.get(n.ERROR_TYPE) or "unknown"
            inst.reconnects.add(1, {**self._tattrs(event.target), n.RECONNECT_CAUSE: str(cause)})
        anomaly = n.PONG_ANOMALY_KINDS.get(kind)
        if anomaly is not None:
            inst.pong_anomalies.add(1, {**self._tattrs(event.target), n.PONG_ANOMALY: anomaly})

        if event.sequence is None:
            self._audit_span(event, parent=None)
            return
        mode = _event_mode(event)
        key: _EventKey = (event.target, mode, event.sequence)
        found = (
            (event.target, mode, event.sequence)
            if mode is not None
            else self._probe_key(event.target, event.sequence)
        )
        held = self._held.get(found) if found is not None else None
        if held is not None:
            held.add_event(event)
        elif found is not None and found in self._recent:
            ctx = _span_context(self._recent[found])
            if ctx is not None:
                self._audit_span(event, parent=ctx)
            # ctx None: the cycle was not sampled; the log line is the record.
        else:
            cycle, events = self._pending.get(key, (self._cycle, []))
            if len(self._pending) >= self.PENDING_MAX and key not in self._pending:
                self._audit_span(event, parent=None)
                return
            events.append(event)
            self._pending[key] = (cycle, events)

    def _probe_key(self, target: TargetInfo, sequence: int) -> _ProbeKey | None:
        """For an event that names no probe mode: the probe of either mode with this
        sequence, held or recently ended (CONTROL first), else ``None``."""
        for mode in _MODES:
            key = (target, mode, sequence)
            if key in self._held or key in self._recent:
                return key
        return None

    def _audit_span(self, event: AuditEvent, parent: trace.SpanContext | None) -> None:
        context = trace.set_span_in_context(trace.NonRecordingSpan(parent)) if parent else None
        attrs = self._tattrs(event.target)
        if event.sequence is not None:
            attrs = {**attrs, n.PROBE_SEQUENCE: event.sequence}
        span = self._tracer.start_span(
            n.audit_span_name(event.kind),
            context=context,
            kind=SpanKind.INTERNAL,
            start_time=event.time_wall_ns,
            attributes=attrs,
        )
        _add_span_event(span, event)
        span.end(end_time=event.time_wall_ns)

    # ---------------------------------------------------------------- lifecycle etc.

    def _lifecycle(self, record: LifecycleRecord) -> None:
        attrs = {**self._tattrs(record.target), **_event_attrs(record.attributes)}
        for phase, duration_ns in record.phases:
            attrs[n.phase_attribute(phase)] = duration_ns / 1e9
        if record.error_type:
            attrs[n.ERROR_TYPE] = record.error_type
        span = self._tracer.start_span(
            n.lifecycle_span_name(record.step),
            kind=SpanKind.CLIENT,
            start_time=record.start_wall_ns,
            attributes=attrs,
        )
        if record.error_type:
            span.set_status(Status(StatusCode.ERROR, record.error_type))
        span.end(end_time=max(record.end_wall_ns, record.start_wall_ns))
        metric_attrs = {**self._tattrs(record.target), n.SETUP_STEP: record.step.value}
        if record.error_type:
            metric_attrs[n.ERROR_TYPE] = record.error_type
        duration = max(record.end_wall_ns - record.start_wall_ns, 0) / 1e9
        self._inst.setup.record(duration, metric_attrs)

    def _state(self, rec: _StateRec) -> None:
        previous = self._states.get(rec.target)
        if previous is rec.state:
            return
        attrs = self._tattrs(rec.target)
        if previous is not None:
            self._inst.connections.add(-1, {**attrs, n.CONNECTION_STATE: previous.value})
        self._inst.connections.add(1, {**attrs, n.CONNECTION_STATE: rec.state.value})
        self._states[rec.target] = rec.state

    def _heartbeat(self, rec: _HeartbeatRec) -> None:
        self._inst.heartbeats.add(1, self._tattrs(rec.target))

    def _oauth(self, rec: _OAuthRec) -> None:
        attrs: Attrs = {n.OAUTH_OUTCOME: rec.outcome}
        if rec.region:
            attrs[n.REGION] = rec.region
        self._inst.oauth.record(rec.duration_s, attrs)

    def _refresh(self, rec: _RefreshRec) -> None:
        attrs: Attrs = {n.OAUTH_OUTCOME: rec.outcome}
        if rec.region:
            attrs[n.REGION] = rec.region
        self._inst.token_refreshes.add(1, attrs)


# ------------------------------------------------------------------ the public face


class QueuedSink:
    """The probe-path half of a recorder: every sink call appends one record to a
    bounded :class:`OffloadWorker` queue and returns, never blocking or raising.

    :class:`Recorder` drains it into the OTel SDK in a thread of this process;
    :class:`~otel_genesys.telemetry.isolated.ForwardingRecorder` ships it to a
    separate export process.
    """

    _worker: OffloadWorker[Any]

    def submit_many(self, records: list[Any]) -> None:
        """Queue a batch of records built elsewhere, in order (the export process's intake)."""
        self._worker.put_many(records)

    # ---------------------------------------------------------------- TelemetrySink

    def outcome(self, outcome: ProbeOutcome) -> None:
        """Queue one probe outcome (span + metric points happen on the worker)."""
        self._worker.put(outcome)

    def event(self, event: AuditEvent) -> None:
        """Queue one audit event (span event or short span, metric, log line)."""
        self._worker.put(event)

    def lifecycle(self, record: LifecycleRecord) -> None:
        """Queue one finished set-up step (its own short span, set-up duration metric)."""
        self._worker.put(record)

    def state(self, target: TargetInfo, state: ConnectionState) -> None:
        """Queue a connection state change (``genesys.websocket.connections``)."""
        self._worker.put(_StateRec(target, state))

    def heartbeat(self, target: TargetInfo) -> None:
        """Queue one server heartbeat (``genesys.websocket.heartbeats``)."""
        self._worker.put(_HeartbeatRec(target))

    # ---------------------------------------------------------------- extras

    def record_loop_lag(self, seconds: float) -> None:
        """Queue one event-loop lag sample (``genesys.agent.loop.lag``)."""
        self._worker.put(_LoopLagRec(seconds))

    def record_gc_pause(self, seconds: float) -> None:
        """Queue one GC pause (``genesys.agent.gc.pause``)."""
        self._worker.put(_GcPauseRec(seconds))

    def oauth_request(self, duration_s: float, outcome: str, *, region: str | None = None) -> None:
        """Queue one OAuth token request; ``outcome`` is ``ok`` or an ``error.type``."""
        self._worker.put(_OAuthRec(duration_s, outcome, region))

    def token_refresh(self, outcome: str = "ok", *, region: str | None = None) -> None:
        """Count one token refresh (``genesys.oauth.token.refreshes``)."""
        self._worker.put(_RefreshRec(outcome, region))

    # ---------------------------------------------------------------- control

    @property
    def dropped(self) -> int:
        """Records dropped because the hand-off queue was full (or after close)."""
        return self._worker.dropped

    @property
    def errors(self) -> int:
        """Records or batches the worker failed to process."""
        return self._worker.errors

    @property
    def queued(self) -> int:
        """Records waiting for the worker right now."""
        return len(self._worker)

    @property
    def worker_alive(self) -> bool:
        return self._worker.alive


class Recorder(QueuedSink):
    """The telemetry sink the agent calls on its probe path.

    Every method appends one record to a bounded queue and returns; none blocks
    or raises, even when the worker is stopped or the Collector is down. Extra
    methods beyond :class:`~otel_genesys.core.sink.TelemetrySink`:
    :meth:`record_loop_lag`, :meth:`record_gc_pause`, :meth:`oauth_request`,
    :meth:`token_refresh`.

    Counters: reconnects come from ``RECONNECT`` audit events (their ``cause``
    attribute, else ``error.type``, becomes ``genesys.reconnect.cause``); pong
    anomalies from ``LATE_PONG``/``DUPLICATE_PONG``/``UNSOLICITED_PONG``
    events; token refreshes only from :meth:`token_refresh` (the
    ``TOKEN_REFRESH`` audit event is the trail, not the count).
    """

    def __init__(
        self,
        tracer_provider: TracerProvider,
        meter_provider: MeterProvider,
        *,
        span_ratio: float = 1.0,
        queue_size: int = 65_536,
        drain_interval_s: float = 0.05,
        health: ExportHealth | None = None,
        version: str = "0",
        wall_clock: Callable[[], int] = time.time_ns,
        start: bool = True,
        log_audit: bool = True,
        probe_spans: EncodedSpanBatcher | None = None,
    ) -> None:
        self.health = health if health is not None else ExportHealth()
        self.upstream_dropped = 0
        """In the export process: records the agent's process dropped before they
        reached this one (its queue and the pipe), as it last reported."""
        self._inst = _Instruments(meter_provider, version)
        tracer = tracer_provider.get_tracer(n.INSTRUMENTATION_SCOPE, version)
        sampler = SpanSampler(span_ratio)
        self.probe_metrics = ProbeMetrics()
        if isinstance(meter_provider, SdkMeterProvider):
            self.probe_metrics.bind(meter_provider, n.INSTRUMENTATION_SCOPE, version)
        else:
            self.probe_metrics.use_instruments(meter_provider, n.INSTRUMENTATION_SCOPE, version)
        self._spans = probe_spans
        self._mat = _Materializer(
            tracer,
            self._inst,
            sampler,
            wall_clock=wall_clock,
            probe_metrics=self.probe_metrics,
            probe_spans=probe_spans,
        )
        self._mat.log_audit = log_audit
        self._worker: OffloadWorker[_Record] = OffloadWorker(
            self._mat.handle,
            maxlen=queue_size,
            interval_s=drain_interval_s,
            idle_interval_s=max(drain_interval_s, IDLE_INTERVAL_S),
            wake_at=max(1, min(1_024, queue_size // 4)),
        )
        meter = self._inst.meter
        meter.create_observable_counter(
            n.METRIC_TELEMETRY_DROPPED, [self._observe_dropped], n.UNIT_RECORD,
            "Telemetry records dropped because a bounded queue was full",
        )  # fmt: skip
        meter.create_observable_counter(
            n.METRIC_EXPORT_FAILURES, [self._observe_failures], n.UNIT_EXPORT,
            "Failed export calls per signal",
        )  # fmt: skip
        meter.create_observable_counter(
            n.METRIC_TELEMETRY_ERRORS, [self._observe_errors], n.UNIT_ERROR,
            "Records the telemetry worker failed to turn into OTel data",
        )  # fmt: skip
        if start:
            self._worker.start()

    @property
    def errors(self) -> int:
        """Records or batches the worker failed to process."""
        return self._worker.errors + self._mat.errors + self.probe_metrics.errors

    def pump(self) -> int:
        """Process what is queued now, in the calling thread; returns how many records.

        For a recorder built with ``start=False`` whose owner drives it: the export
        process hands each batch over as it arrives, with no queue hop to a thread
        of its own. Each call is one worker cycle: spans held by an earlier call end.
        """
        return self._worker.drain_once()

    @property
    def holding(self) -> bool:
        """True while probe spans or audit events wait for a later cycle (:meth:`pump`)."""
        return self._mat.holding

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Process everything queued so far, end every held span and export encoded spans."""
        deadline = time.monotonic() + timeout_s
        self._worker.put(_FLUSH)
        ok = self._worker.flush(timeout_s)
        if self._spans is not None:
            ok = self._spans.flush(max(0.0, deadline - time.monotonic())) and ok
        return ok

    def close(self, timeout_s: float = 5.0) -> bool:
        """Drain, end held spans and stop the worker. Later sink calls are dropped, counted."""
        deadline = time.monotonic() + timeout_s
        self._worker.put(_FLUSH)
        ok = self._worker.stop(timeout_s)
        if self._spans is not None:
            ok = self._spans.shutdown(max(0.0, deadline - time.monotonic())) and ok
        return ok

    # ---------------------------------------------------------------- observable callbacks

    def _observe_dropped(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(
                self._worker.dropped + self.upstream_dropped, {n.TELEMETRY_QUEUE: "recorder"}
            ),
            Observation(self.health.spans_dropped, {n.TELEMETRY_QUEUE: "spans"}),
        ]

    def _observe_failures(self, _options: CallbackOptions) -> Iterable[Observation]:
        h = self.health
        return [
            Observation(h.span_export_failures, {n.TELEMETRY_SIGNAL: "traces"}),
            Observation(h.metric_export_failures, {n.TELEMETRY_SIGNAL: "metrics"}),
            Observation(h.log_export_failures, {n.TELEMETRY_SIGNAL: "logs"}),
        ]

    def _observe_errors(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self.errors)]
