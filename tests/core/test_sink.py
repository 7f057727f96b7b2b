"""FanoutSink: every sink gets every record; one sink's failure is counted, not raised."""

from __future__ import annotations

from otel_genesys.core.events import AuditKind
from otel_genesys.core.outcome import ProbeOutcome
from otel_genesys.core.sink import FanoutSink, NullSink
from tests.support.outcomes import make_event, make_outcome


class _Broken(NullSink):
    def outcome(self, outcome: ProbeOutcome) -> None:
        raise RuntimeError("sink bug")

    def event(self, event: object) -> None:  # type: ignore[override]
        raise RuntimeError("sink bug")


class _Keep(NullSink):
    def __init__(self) -> None:
        self.seen: list[object] = []

    def outcome(self, outcome: ProbeOutcome) -> None:
        self.seen.append(outcome)

    def event(self, event: object) -> None:  # type: ignore[override]
        self.seen.append(event)


def test_a_failing_sink_is_counted_and_the_sinks_after_it_still_get_every_record() -> None:
    first, last = _Keep(), _Keep()
    fan = FanoutSink([first, _Broken(), last])
    outcomes = [make_outcome(seq) for seq in range(1, 4)]
    for o in outcomes:
        fan.outcome(o)
    event = make_event(AuditKind.RECONNECT)
    fan.event(event)
    assert first.seen == last.seen == [*outcomes, event]
    assert fan.errors == 4
