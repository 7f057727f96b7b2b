"""Helpers for end-to-end tests: agent ↔ emulator (↔ OTLP receiver) over real sockets."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from otel_genesys.agent.supervisor import Agent
from otel_genesys.config import (
    DriftConfig,
    GenericTarget,
    MonitorConfig,
    NotificationTarget,
    OAuthClient,
)
from otel_genesys.core.events import AuditEvent, AuditKind, ConnectionState, LifecycleRecord
from otel_genesys.core.outcome import Outcome, ProbeMode, ProbeOutcome, TargetInfo
from otel_genesys.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator
from otel_genesys.secret import Secret

FAST = MonitorConfig(
    interval_ns=100_000_000,
    probe_frequency_limit_ns=100_000_000,
    timeout_ns=300_000_000,
    reconnect_base_ns=50_000_000,
    reconnect_cap_ns=300_000_000,
    operator_retry_ns=1_000_000_000,
    drift=DriftConfig(enabled=True),
    lag_limit_ns=50_000_000,
)
"""Fast probing for tests: 10 Hz, fixed 300 ms timeout, quick reconnects."""

BOTH = frozenset({ProbeMode.NOTIFICATION, ProbeMode.CONTROL})


def notification_target(
    emu: Emulator,
    *,
    name: str = "emu",
    modes: Iterable[ProbeMode] = BOTH,
    secret: str = DEFAULT_CLIENT_SECRET,
    **monitor: Any,
) -> NotificationTarget:
    return NotificationTarget(
        name=name,
        region=None,
        base_url=emu.base_url,
        oauth=OAuthClient(DEFAULT_CLIENT_ID, Secret(secret)),
        topics=(),
        modes=frozenset(modes),
        monitor=dataclasses.replace(FAST, **monitor),
    )


def generic_target(
    url: str, *, name: str = "generic", first_message: str | None = None, **monitor: Any
) -> GenericTarget:
    return GenericTarget(
        name=name,
        url=url,
        first_message=first_message,
        monitor=dataclasses.replace(FAST, **monitor),
    )


class Collector:
    """A TelemetrySink that keeps everything (tests only)."""

    def __init__(self) -> None:
        self.outcomes: list[ProbeOutcome] = []
        self.events: list[AuditEvent] = []
        self.lifecycles: list[LifecycleRecord] = []
        self.states: list[tuple[str, ConnectionState]] = []
        self.heartbeats = 0

    def outcome(self, outcome: ProbeOutcome) -> None:
        self.outcomes.append(outcome)

    def event(self, event: AuditEvent) -> None:
        self.events.append(event)

    def lifecycle(self, record: LifecycleRecord) -> None:
        self.lifecycles.append(record)

    def state(self, target: TargetInfo, state: ConnectionState) -> None:
        self.states.append((target.name, state))

    def heartbeat(self, target: TargetInfo) -> None:
        self.heartbeats += 1

    def by(
        self, mode: ProbeMode | None = None, outcome: Outcome | None = None
    ) -> list[ProbeOutcome]:
        return [
            o
            for o in self.outcomes
            if (mode is None or o.mode is mode) and (outcome is None or o.outcome is outcome)
        ]

    def counts(self, mode: ProbeMode) -> Counter[str]:
        return Counter(o.outcome.value for o in self.outcomes if o.mode is mode)

    def event_kinds(self) -> Counter[AuditKind]:
        return Counter(e.kind for e in self.events)

    def attrs(self, kind: AuditKind) -> list[dict[str, Any]]:
        return [dict(e.attributes) for e in self.events if e.kind is kind]


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(0.02)


def assert_each_ping_settled_once(collector: Collector, agent: Agent) -> None:
    """After stop: every ping sent ended in exactly one outcome, none twice."""
    for monitor in agent.monitors:
        for mode, session in monitor.sessions.items():
            c = session.counters
            assert session.outstanding == 0
            assert c.sent == c.ok + c.timeout + c.aborted
            seqs = [
                o.sequence
                for o in collector.outcomes
                if o.mode is mode and o.target.name == monitor.target.name
            ]
            assert len(seqs) == len(set(seqs)) == c.sent
