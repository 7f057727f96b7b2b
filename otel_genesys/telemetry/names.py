"""Every span name, metric name, unit, attribute key and bucket boundary, in one place.

Nothing else in otel-genesys spells a telemetry name: the recorder, the console
printer, the docs table and the tests all read them from here, so renaming a
metric is a one-line change that every test notices.

Conventions (OpenTelemetry semantic conventions first):

- durations are seconds (unit ``s``) with explicit bucket advice in seconds;
- ratios are unit ``1``; counts use ``{thing}`` annotation units;
- attributes reuse semconv keys (``server.address``, ``server.port``,
  ``network.protocol.name``, ``url.scheme``, ``error.type``) before inventing
  ``genesys.*`` ones;
- no name is both a value and a namespace (``genesys.jitter.consecutive`` and
  ``genesys.jitter.rfc3550``, never ``genesys.jitter`` plus
  ``genesys.jitter.rfc3550``);
- metric attributes are low-cardinality: target name, region, server address
  and port, probe mode, outcome, threshold name. Never a channel id, a URL
  path with ids, a sequence number, or anything secret. Sequence numbers are
  span attributes only.
"""

from __future__ import annotations

from typing import Final

from otel_genesys.core.events import AuditKind, LifecycleStep

# --------------------------------------------------------------------------- scope

INSTRUMENTATION_SCOPE: Final = "otel_genesys"
"""Tracer and meter name (the OTel instrumentation scope)."""

DEFAULT_SERVICE_NAME: Final = "otel-genesys"
"""``service.name`` unless config, ``OTEL_SERVICE_NAME`` or ``OTEL_RESOURCE_ATTRIBUTES`` say."""

AUDIT_LOGGER: Final = "otel_genesys.audit"
"""The stdlib logger that receives one record per audit event."""

# --------------------------------------------------------------------------- spans

SPAN_PROBE: Final = "genesys.websocket.ping"
"""One span per ping/pong cycle, kind CLIENT, start = send, end = pong or deadline."""


def lifecycle_span_name(step: LifecycleStep) -> str:
    """Span name of a connection set-up step, e.g. ``genesys.websocket.handshake``."""
    return step.value


def audit_span_name(kind: AuditKind) -> str:
    """Name of the short span that carries an audit event not tied to a probe span."""
    return kind.value


def audit_event_name(kind: AuditKind) -> str:
    """Span event (and log ``event`` field) name of an audit kind."""
    return kind.value


# --------------------------------------------------------------------------- attributes: semconv

SERVER_ADDRESS: Final = "server.address"
"""Host name of the WebSocket server (semconv)."""
SERVER_PORT: Final = "server.port"
"""Port of the WebSocket server (semconv)."""
NETWORK_PROTOCOL_NAME: Final = "network.protocol.name"
"""Always :data:`WEBSOCKET` here (semconv)."""
WEBSOCKET: Final = "websocket"
URL_SCHEME: Final = "url.scheme"
"""``ws`` or ``wss`` (semconv)."""
ERROR_TYPE: Final = "error.type"
"""Low-cardinality error class (semconv); set on failed spans and failure counts."""

# --------------------------------------------------------------------------- attributes: genesys

TARGET: Final = "genesys.target"
"""Configured target name (metric + span)."""
TARGET_KIND: Final = "genesys.target_kind"
"""``notification`` or ``generic`` (metric + span)."""
REGION: Final = "genesys.region"
"""Genesys Cloud region, when known (metric + span)."""
PROBE_MODE: Final = "genesys.probe.mode"
"""``notification`` (JSON ping) or ``control`` (RFC 6455 ping frame) (metric + span)."""
PROBE_SEQUENCE: Final = "genesys.probe.sequence"
"""Per-connection ping number. Span only: unbounded cardinality."""
PROBE_OUTCOME: Final = "genesys.probe.outcome"
"""``ok``, ``timeout`` or ``aborted`` (metric + span)."""
PROBE_TIMEOUT: Final = "genesys.probe.timeout"
"""The deadline this ping was given, seconds (span)."""
RTT: Final = "genesys.rtt"
"""Round-trip time in seconds (span; the metric is :data:`METRIC_RTT`)."""
JITTER_CONSECUTIVE: Final = "genesys.jitter.consecutive"
"""|RTT(n) - RTT(n-1)| in seconds (span)."""
JITTER_RFC3550: Final = "genesys.jitter.rfc3550"
"""RFC 3550 smoothed jitter estimate in seconds (span)."""
PDV: Final = "genesys.pdv"
"""Windowed packet delay variation in seconds (span)."""
STABILITY_WINDOW: Final = "genesys.stability.window"
"""Share of probes within the latency limit over the sliding window (span, 0..1)."""
STABILITY_LIFETIME: Final = "genesys.stability.lifetime"
"""Same share since the monitor started (span, 0..1)."""
STABILITY_SCOPE: Final = "genesys.stability.scope"
"""Metric attribute of :data:`METRIC_STABILITY`: ``window`` or ``lifetime``."""
SCHEDULER_LATENESS: Final = "genesys.scheduler.lateness"
"""How late the ping left compared with its slot, seconds (span)."""
LOOP_LAG: Final = "genesys.agent.loop.lag"
"""Worst event-loop lag while the ping was outstanding, seconds (span)."""
GC_PAUSE: Final = "genesys.agent.gc.pause"
"""GC pause overlapping the ping window, seconds (span)."""
CONFIDENCE: Final = "genesys.confidence"
"""``trusted`` or ``degraded`` (span + RTT metric)."""
THRESHOLD_NAME: Final = "genesys.threshold.name"
"""``latency``, ``jitter`` or ``timeout`` (breach metric)."""
THRESHOLD_BREACHED: Final = "genesys.threshold.breached"
"""Names of the thresholds this probe breached (span, string array)."""
EVENT_CAUSE: Final = "cause"
"""The short attribute the agent puts on reconnect/rollover audit events: why it happened."""
RECONNECT_CAUSE: Final = "genesys.reconnect.cause"
"""Why a connection was re-established (metric). Read from the RECONNECT audit
event's ``cause`` attribute, falling back to its ``error.type``."""
PONG_ANOMALY: Final = "genesys.pong.anomaly"
"""``late``, ``duplicate`` or ``unsolicited`` (metric)."""
CONNECTION_STATE: Final = "genesys.connection.state"
"""A :class:`~otel_genesys.core.events.ConnectionState` value (metric)."""
SETUP_STEP: Final = "genesys.setup.step"
"""Lifecycle step of :data:`METRIC_SETUP_DURATION` (e.g. ``genesys.websocket.handshake``)."""
OAUTH_OUTCOME: Final = "genesys.oauth.outcome"
"""``ok`` or an ``error.type`` such as ``invalid_client`` (OAuth metrics)."""
AUDIT_KIND: Final = "genesys.audit.kind"
"""The audit kind carried by a log record exported over OTLP."""
TELEMETRY_QUEUE: Final = "genesys.telemetry.queue"
"""Which bounded queue dropped a record: ``recorder`` or ``spans``."""
TELEMETRY_SIGNAL: Final = "genesys.telemetry.signal"
"""``traces``, ``metrics`` or ``logs`` (export health metrics)."""


def phase_attribute(phase: str) -> str:
    """Span attribute holding one set-up sub-phase duration in seconds.

    >>> phase_attribute("dns")
    'genesys.phase.dns.duration'
    """
    return f"genesys.phase.{phase}.duration"


# --------------------------------------------------------------------------- units

UNIT_SECONDS: Final = "s"
UNIT_RATIO: Final = "1"
UNIT_PING: Final = "{ping}"
UNIT_BREACH: Final = "{breach}"
UNIT_RECONNECT: Final = "{reconnect}"
UNIT_CONNECTION: Final = "{connection}"
UNIT_HEARTBEAT: Final = "{heartbeat}"
UNIT_PONG: Final = "{pong}"
UNIT_REFRESH: Final = "{refresh}"
UNIT_REQUEST: Final = "{request}"
UNIT_RECORD: Final = "{record}"
UNIT_EXPORT: Final = "{export}"
UNIT_ERROR: Final = "{error}"

# --------------------------------------------------------------------------- metrics

METRIC_RTT: Final = "genesys.websocket.rtt"
"""Histogram, s: ping→pong round trip of OK probes; attrs target set + mode + confidence."""
METRIC_JITTER_CONSECUTIVE: Final = "genesys.websocket.jitter.consecutive"
"""Histogram, s: |RTT(n) - RTT(n-1)| (the tutorial's jitter)."""
METRIC_JITTER_RFC3550: Final = "genesys.websocket.jitter.rfc3550"
"""Histogram, s: RFC 3550 smoothed interarrival jitter after each sample."""
METRIC_PDV: Final = "genesys.websocket.pdv"
"""Histogram, s: windowed packet delay variation (high quantile minus minimum)."""
METRIC_STABILITY: Final = "genesys.websocket.stability"
"""Gauge, 1: last stability per target+mode; attr ``genesys.stability.scope``."""
METRIC_PROBES: Final = "genesys.websocket.probes"
"""Counter, {ping}: every probe, by ``genesys.probe.outcome`` (and ``error.type``)."""
METRIC_BREACHES: Final = "genesys.websocket.threshold.breaches"
"""Counter, {breach}: threshold breaches by ``genesys.threshold.name``."""
METRIC_RECONNECTS: Final = "genesys.websocket.reconnects"
"""Counter, {reconnect}: reconnects by ``genesys.reconnect.cause``."""
METRIC_CONNECTIONS: Final = "genesys.websocket.connections"
"""UpDownCounter, {connection}: targets per ``genesys.connection.state``."""
METRIC_LATENESS: Final = "genesys.websocket.scheduler.lateness"
"""Histogram, s: scheduled vs actual send time of every probe."""
METRIC_HEARTBEATS: Final = "genesys.websocket.heartbeats"
"""Counter, {heartbeat}: server heartbeats received."""
METRIC_PONG_ANOMALIES: Final = "genesys.websocket.pong.anomalies"
"""Counter, {pong}: late/duplicate/unsolicited pongs by ``genesys.pong.anomaly``."""
METRIC_DEGRADED: Final = "genesys.websocket.degraded_samples"
"""Counter, {ping}: probes whose confidence is ``degraded`` (agent stall/GC overlapped)."""
METRIC_SETUP_DURATION: Final = "genesys.websocket.setup.duration"
"""Histogram, s: each connection set-up step (token, channel, subscribe, handshake)."""
METRIC_OAUTH_DURATION: Final = "genesys.oauth.request.duration"
"""Histogram, s: every request to the OAuth token endpoint, by ``genesys.oauth.outcome``."""
METRIC_TOKEN_REFRESHES: Final = "genesys.oauth.token.refreshes"
"""Counter, {refresh}: access tokens obtained after the first, by outcome."""
METRIC_LOOP_LAG: Final = "genesys.agent.loop.lag"
"""Histogram, s: event-loop lag samples reported by the agent."""
METRIC_GC_PAUSE: Final = "genesys.agent.gc.pause"
"""Histogram, s: garbage-collection pauses reported by the agent."""
METRIC_TELEMETRY_DROPPED: Final = "genesys.agent.telemetry.dropped"
"""Observable counter, {record}: records dropped by a full queue, by ``genesys.telemetry.queue``."""
METRIC_EXPORT_FAILURES: Final = "genesys.agent.telemetry.export.failures"
"""Observable counter, {export}: failed export calls, by ``genesys.telemetry.signal``."""
METRIC_TELEMETRY_ERRORS: Final = "genesys.agent.telemetry.errors"
"""Observable counter, {error}: records the telemetry worker failed to turn into OTel data."""

# --------------------------------------------------------------------------- buckets (seconds)

BUCKETS_RTT: Final[tuple[float, ...]] = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025,
    0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""RTT from loopback (0.1 ms) to a struggling intercontinental path (10 s)."""

BUCKETS_JITTER: Final[tuple[float, ...]] = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
"""Jitter and PDV: differences of RTTs, so a decade finer at the low end."""

BUCKETS_LAG: Final[tuple[float, ...]] = (
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
)  # fmt: skip
"""Scheduler lateness, loop lag, GC pauses: healthy is < 1 ms, a stall is > 100 ms."""

BUCKETS_SETUP: Final[tuple[float, ...]] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
"""HTTP round trips of set-up steps and OAuth requests."""

# --------------------------------------------------------------------------- audit kinds → metrics

PONG_ANOMALY_KINDS: Final[dict[AuditKind, str]] = {
    AuditKind.LATE_PONG: "late",
    AuditKind.DUPLICATE_PONG: "duplicate",
    AuditKind.UNSOLICITED_PONG: "unsolicited",
}
"""Audit kinds counted by :data:`METRIC_PONG_ANOMALIES`, with their attribute value."""

WARNING_KINDS: Final[frozenset[AuditKind]] = frozenset(
    {
        AuditKind.THRESHOLD_BREACH,
        AuditKind.TIMEOUT,
        AuditKind.LATE_PONG,
        AuditKind.DUPLICATE_PONG,
        AuditKind.UNSOLICITED_PONG,
        AuditKind.HEARTBEAT_MISSED,
        AuditKind.CONNECTION_LOST,
        AuditKind.AGENT_STALL,
        AuditKind.AUTH_FAILURE,
        AuditKind.PROTOCOL_ERROR,
        AuditKind.SOCKET_CLOSING,
    }
)
"""Audit kinds logged at WARNING; every other kind is INFO."""

# =========================================================================== instrumentation
# Names added by the auto-instrumentation hook (otel_genesys.instrumentation). Probe
# spans and RTT metrics of instrumented connections reuse the names above; only what
# has no counterpart in the agent lives here.

INSTRUMENTATION_LIBRARY: Final = "genesys.instrumentation.library"
"""Which hook produced a point: ``aiohttp``, ``websockets`` or ``audiohook`` (metric)."""

METRIC_AUDIOHOOK_RTT: Final = "genesys.websocket.audiohook.rtt"
"""Histogram, s: the round trip Genesys reports in each AudioHook ping (``parameters.rtt``)."""
METRIC_AUDIOHOOK_TURNAROUND: Final = "genesys.websocket.audiohook.turnaround"
"""Histogram, s: an AudioHook server's own time from receiving a ping to sending its pong."""
METRIC_AUDIOHOOK_INVALID_RTT: Final = "genesys.websocket.audiohook.invalid_rtt"
"""Counter, {ping}: AudioHook pings whose ``parameters.rtt`` is not an ISO-8601 duration."""
METRIC_INSTRUMENTATION_ERRORS: Final = "genesys.agent.instrumentation.errors"
"""Observable counter, {error}: failures inside the instrumentation's own wrappers
(counted and swallowed: the instrumented application never sees them)."""
