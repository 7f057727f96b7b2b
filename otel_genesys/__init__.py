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

_LAZY = {
    "Agent": ("otel_genesys.agent.supervisor", "Agent"),
    "load_config": ("otel_genesys.config", "load_config"),
    "setup_telemetry": ("otel_genesys.telemetry", "setup_telemetry"),
    "TelemetrySettings": ("otel_genesys.telemetry", "TelemetrySettings"),
}


def __getattr__(name: str) -> object:
    # The agent, config and telemetry pull in aiohttp, dynaconf and the OTel SDK;
    # import them only when asked so `import otel_genesys` stays light.
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'otel_genesys' has no attribute {name!r}")

__all__ = [
    "Agent",
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
    "TelemetrySettings",
    "__version__",
    "load_config",
    "setup_telemetry",
]
