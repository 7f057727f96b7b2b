"""A local Genesys Cloud stand-in with fault injection.

It serves the OAuth client-credentials grant, the Notification API (channels
REST and the streaming WebSocket) and the tutorial's realtime endpoint on one
port, and can misbehave on purpose (delayed, dropped, duplicated or
unsolicited pongs, blackholes, resets, closes, refused handshakes, token
outages) — globally or per channel, at start or live through
``/__emulator__/``. See ``docs/emulator.md``.

The agent may start it in-process; it never imports the agent.
"""

from __future__ import annotations

from otel_genesys.emulator.config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    ClientConfig,
    EmulatorConfig,
    RateLimit,
    config_from_mapping,
    load_config,
)
from otel_genesys.emulator.counters import EmulatorCounters, SocketCounters
from otel_genesys.emulator.faults import DelaySpec, FaultController, FaultSpec, parse_duration
from otel_genesys.emulator.server import Emulator

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "ClientConfig",
    "DelaySpec",
    "Emulator",
    "EmulatorConfig",
    "EmulatorCounters",
    "FaultController",
    "FaultSpec",
    "RateLimit",
    "SocketCounters",
    "config_from_mapping",
    "load_config",
    "parse_duration",
]
