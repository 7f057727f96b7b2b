"""The one interface through which the agent hands data to telemetry.

The agent calls these methods on the probe path; an implementation must return
quickly and must never raise (see telemetry.recorder). ``NullSink`` drops
everything; ``FanoutSink`` calls several sinks and isolates their failures.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from otel_genesys.core.events import AuditEvent, ConnectionState, LifecycleRecord
from otel_genesys.core.outcome import ProbeOutcome, TargetInfo


class TelemetrySink(Protocol):
    def outcome(self, outcome: ProbeOutcome) -> None: ...
    def event(self, event: AuditEvent) -> None: ...
    def lifecycle(self, record: LifecycleRecord) -> None: ...
    def state(self, target: TargetInfo, state: ConnectionState) -> None: ...
    def heartbeat(self, target: TargetInfo) -> None: ...


class NullSink:
    """A sink that drops everything."""

    def outcome(self, outcome: ProbeOutcome) -> None:
        pass

    def event(self, event: AuditEvent) -> None:
        pass

    def lifecycle(self, record: LifecycleRecord) -> None:
        pass

    def state(self, target: TargetInfo, state: ConnectionState) -> None:
        pass

    def heartbeat(self, target: TargetInfo) -> None:
        pass


class FanoutSink:
    """Forwards to several sinks; a failing sink is counted, never propagated."""

    def __init__(self, sinks: Iterable[TelemetrySink]) -> None:
        self.sinks = tuple(sinks)
        self.errors = 0
        # Called once per ping: each sink's method is looked up here, not per call.
        self._outcomes = tuple(sink.outcome for sink in self.sinks)

    def _each(self, method: str, *args: object) -> None:
        for sink in self.sinks:
            try:
                getattr(sink, method)(*args)
            except Exception:
                self.errors += 1

    def outcome(self, outcome: ProbeOutcome) -> None:
        for call in self._outcomes:
            try:
                call(outcome)
            except Exception:
                self.errors += 1

    def event(self, event: AuditEvent) -> None:
        self._each("event", event)

    def lifecycle(self, record: LifecycleRecord) -> None:
        self._each("lifecycle", record)

    def state(self, target: TargetInfo, state: ConnectionState) -> None:
        self._each("state", target, state)

    def heartbeat(self, target: TargetInfo) -> None:
        self._each("heartbeat", target)
