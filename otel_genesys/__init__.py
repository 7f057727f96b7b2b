"""otel-genesys: Genesys Cloud WebSocket ping/pong latency as OpenTelemetry data."""

from __future__ import annotations

from otel_genesys.core.events import AuditEvent, AuditKind, ConnectionState, LifecycleRecord
from otel_genesys.core.outcome import (
    Breach,
    Confidence,
    Outcome,
    ProbeMode,
    ProbeOutcome,
    TargetInfo,
    TargetKind,
)
from otel_genesys.errors import (
    AuthError,
    ChannelError,
    ConfigError,
    ConnectionLostError,
    HandshakeError,
    InvalidClientError,
    OtelGenesysError,
    PermissionDeniedError,
    ProbeTimeout,
    ProtocolError,
    RateLimitedError,
)
from otel_genesys.secret import Secret

__version__ = "0.1.0"

__all__ = [
    "AuditEvent",
    "AuditKind",
    "AuthError",
    "Breach",
    "ChannelError",
    "Confidence",
    "ConfigError",
    "ConnectionLostError",
    "ConnectionState",
    "HandshakeError",
    "InvalidClientError",
    "LifecycleRecord",
    "OtelGenesysError",
    "Outcome",
    "PermissionDeniedError",
    "ProbeMode",
    "ProbeOutcome",
    "ProbeTimeout",
    "ProtocolError",
    "RateLimitedError",
    "Secret",
    "TargetInfo",
    "TargetKind",
    "__version__",
]
