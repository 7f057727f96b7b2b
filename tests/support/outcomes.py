"""Builders of ProbeOutcome / AuditEvent / LifecycleRecord values for tests."""

from __future__ import annotations

import time
from typing import Any

from otel_genesys.core.events import AuditEvent, AuditKind, LifecycleRecord, LifecycleStep
from otel_genesys.core.outcome import (
    Breach,
    Confidence,
    Outcome,
    ProbeMode,
    ProbeOutcome,
    TargetInfo,
    TargetKind,
)

TARGET = TargetInfo(
    name="demo",
    kind=TargetKind.NOTIFICATION,
    server_address="streaming.mypurecloud.ie",
    server_port=443,
    url_scheme="wss",
    region="eu_west_1",
)

BASE_WALL_NS = 1_700_000_000_000_000_000


def make_outcome(
    sequence: int = 1,
    outcome: Outcome = Outcome.OK,
    *,
    rtt_ms: float | None = 0.5,
    target: TargetInfo = TARGET,
    mode: ProbeMode = ProbeMode.CONTROL,
    breaches: tuple[Breach, ...] = (),
    confidence: Confidence = Confidence.TRUSTED,
    timeout_ms: float = 1000.0,
    **overrides: Any,
) -> ProbeOutcome:
    """An outcome with plausible defaults; non-OK outcomes get no RTT."""
    ok = outcome is Outcome.OK
    rtt_ns = int(rtt_ms * 1e6) if ok and rtt_ms is not None else None
    fields: dict[str, Any] = {
        "target": target,
        "mode": mode,
        "sequence": sequence,
        "outcome": outcome,
        "sent_ns": time.perf_counter_ns(),
        "sent_wall_ns": BASE_WALL_NS + sequence * 1_000_000_000,
        "rtt_ns": rtt_ns,
        "timeout_ns": int(timeout_ms * 1e6),
        "jitter_ns": 30_000 if ok else None,
        "jitter_rfc3550_ns": 20_000 if ok else None,
        "pdv_ns": 100_000 if ok else None,
        "stability": 0.99,
        "stability_lifetime": 0.995,
        "breaches": breaches,
        "lateness_ns": 150_000,
        "error_type": None if ok else outcome.value,
        "confidence": confidence,
    }
    fields.update(overrides)
    return ProbeOutcome(**fields)


def make_event(
    kind: AuditKind,
    *,
    sequence: int | None = None,
    target: TargetInfo = TARGET,
    attributes: tuple[tuple[str, Any], ...] = (),
    time_wall_ns: int | None = None,
) -> AuditEvent:
    """An audit event at (by default) the wall time of probe ``sequence``."""
    when = time_wall_ns or BASE_WALL_NS + (sequence or 0) * 1_000_000_000 + 500_000
    return AuditEvent(kind, target, when, attributes, sequence)


def make_lifecycle(
    step: LifecycleStep = LifecycleStep.HANDSHAKE,
    *,
    error_type: str | None = None,
    duration_ms: float = 40.0,
    phases: tuple[tuple[str, int], ...] = (),
    attributes: tuple[tuple[str, Any], ...] = (),
    target: TargetInfo = TARGET,
) -> LifecycleRecord:
    """A finished set-up step starting at BASE_WALL_NS."""
    return LifecycleRecord(
        step,
        target,
        BASE_WALL_NS,
        BASE_WALL_NS + int(duration_ms * 1e6),
        error_type,
        attributes,
        phases,
    )
