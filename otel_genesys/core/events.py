"""Audit and lifecycle records: what happened to a connection, as values.

The agent produces these; the telemetry recorder turns them into span events,
short lifecycle spans and structured log lines. Attribute values are plain
scalars and never carry secrets.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from otel_genesys.core.outcome import TargetInfo

AttrValue = str | int | float | bool


class AuditKind(enum.Enum):
    """Every kind of audit event; the value is the span event / log name."""

    THRESHOLD_BREACH = "genesys.threshold.breach"
    TIMEOUT = "genesys.probe.timeout"
    LATE_PONG = "genesys.pong.late"
    DUPLICATE_PONG = "genesys.pong.duplicate"
    UNSOLICITED_PONG = "genesys.pong.unsolicited"
    DRIFT_CORRECTION = "genesys.scheduler.drift_correction"
    RECONNECT = "genesys.connection.reconnect"
    TOKEN_REFRESH = "genesys.oauth.token_refresh"
    CHANNEL_ROLLOVER = "genesys.channel.rollover"
    SOCKET_CLOSING = "genesys.socket.closing"
    HEARTBEAT_MISSED = "genesys.heartbeat.missed"
    CONNECTION_LOST = "genesys.connection.lost"
    AGENT_STALL = "genesys.agent.stall"
    AUTH_FAILURE = "genesys.oauth.failure"
    PROTOCOL_ERROR = "genesys.protocol.error"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audit-trail entry for one target."""

    kind: AuditKind
    target: TargetInfo
    time_wall_ns: int
    attributes: tuple[tuple[str, AttrValue], ...] = ()
    sequence: int | None = None
    """The probe sequence this event belongs to, when it belongs to one."""


class LifecycleStep(enum.Enum):
    """Connection set-up steps, each exported as its own short span."""

    TOKEN_FETCH = "genesys.oauth.token"
    CHANNEL_CREATE = "genesys.channel.create"
    SUBSCRIBE = "genesys.channel.subscribe"
    HANDSHAKE = "genesys.websocket.handshake"


@dataclass(frozen=True, slots=True)
class LifecycleRecord:
    """A finished set-up step with its timing (wall clock, ns) and result."""

    step: LifecycleStep
    target: TargetInfo
    start_wall_ns: int
    end_wall_ns: int
    error_type: str | None = None
    attributes: tuple[tuple[str, AttrValue], ...] = ()
    phases: tuple[tuple[str, int], ...] = ()
    """Named sub-phase durations in ns (e.g. ``dns``, ``connect``, ``upgrade``)."""


class ConnectionState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    """Needs an operator (bad credentials, missing permissions); retried slowly."""
    STOPPED = "stopped"
