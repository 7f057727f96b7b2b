"""Shared builders for the probe-session tests."""

from __future__ import annotations

from typing import Any

from otel_genesys.core.outcome import ProbeMode, TargetInfo, TargetKind
from otel_genesys.core.probe import ProbeSession, ProbeSettings
from otel_genesys.core.stall import StallLog

MS = 1_000_000
WALL0 = 1_700_000_000_000_000_000

TARGET = TargetInfo(
    name="demo",
    kind=TargetKind.NOTIFICATION,
    server_address="streaming.mypurecloud.ie",
    server_port=443,
    url_scheme="wss",
    region="eu_west_1",
)


def session(
    mode: ProbeMode = ProbeMode.CONTROL,
    *,
    stalls: StallLog | None = None,
    nonce: bytes = b"nonce123",
    **settings: Any,
) -> ProbeSession:
    """A session with a fixed nonce and millisecond-friendly defaults."""
    base: dict[str, Any] = {
        "timeout_initial_ns": 1_000 * MS,
        "timeout_min_ns": 200 * MS,
        "timeout_max_ns": 10_000 * MS,
    }
    base.update(settings)
    return ProbeSession(TARGET, mode, ProbeSettings(**base), nonce=nonce, stalls=stalls)


def balanced(s: ProbeSession) -> bool:
    """The bookkeeping invariant every test re-checks."""
    c = s.counters
    return c.sent == c.ok + c.timeout + c.aborted + s.outstanding
