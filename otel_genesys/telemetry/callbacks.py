"""In-process hooks for library users: the "APM callback" of the tutorial, done safely.

:class:`CallbackSink` is a :class:`~otel_genesys.core.sink.TelemetrySink` that
calls ``callback(outcome)`` for every :class:`ProbeOutcome`:

- ``inline=False`` (default): from its own worker thread, after the probe path
  has returned. The callback may be slow; the queue is bounded and overflow
  is dropped and counted in :attr:`CallbackSink.dropped`.
- ``inline=True``: directly on the caller's thread (the agent's event loop),
  before ``outcome()`` returns. Only for callbacks that take microseconds; a
  slow one delays the next probe.

Either way an exception in the callback is caught and counted in
:attr:`CallbackSink.errors`; it never reaches the agent. Combine it with the
recorder through :class:`~otel_genesys.core.sink.FanoutSink`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from otel_genesys.core.events import AuditEvent, ConnectionState, LifecycleRecord
from otel_genesys.core.outcome import Outcome, ProbeOutcome, TargetInfo
from otel_genesys.telemetry.offload import OffloadWorker

_log = logging.getLogger(__name__)

ApmTuple = tuple[float | None, float | None, float, bool]


def apm_tuple(outcome: ProbeOutcome) -> ApmTuple:
    """The tutorial's callback tuple.

    ``(latency_ms, jitter_ms, stability_rate, timeout_triggered)``:

    ``latency_ms`` is ``None`` unless the probe got its pong; ``jitter_ms`` is the
    consecutive-RTT jitter or ``None``; ``stability_rate`` is a percentage
    (0 to 100) over the sliding window; ``timeout_triggered`` is True only for a
    timeout (an aborted ping is not a timeout).
    """
    latency_ms = None if outcome.rtt_ns is None else outcome.rtt_ns / 1e6
    jitter_ms = None if outcome.jitter_ns is None else outcome.jitter_ns / 1e6
    return latency_ms, jitter_ms, outcome.stability * 100.0, outcome.outcome is Outcome.TIMEOUT


class CallbackSink:
    """Calls ``callback(outcome)`` per probe; errors isolated and counted (see module doc)."""

    def __init__(
        self,
        callback: Callable[[ProbeOutcome], object],
        *,
        inline: bool = False,
        max_queue: int = 10_000,
        drain_interval_s: float = 0.05,
    ) -> None:
        self._callback = callback
        self._inline = inline
        self.errors = 0
        """Callback invocations that raised."""
        self._worker: OffloadWorker[ProbeOutcome] | None = None
        if not inline:
            self._worker = OffloadWorker(
                self._run_batch,
                maxlen=max_queue,
                interval_s=drain_interval_s,
                wake_at=max(1, min(256, max_queue // 4)),
                name="otel-genesys-callbacks",
            )
            self._worker.start()

    @property
    def dropped(self) -> int:
        """Outcomes dropped because the callback queue was full (or after close)."""
        return 0 if self._worker is None else self._worker.dropped

    def _call(self, outcome: ProbeOutcome) -> None:
        try:
            self._callback(outcome)
        except Exception:
            self.errors += 1
            _log.debug("probe callback raised", exc_info=True)

    def _run_batch(self, batch: list[ProbeOutcome]) -> None:
        for outcome in batch:
            self._call(outcome)

    def outcome(self, outcome: ProbeOutcome) -> None:
        """Hand ``outcome`` to the callback (queued, or inline)."""
        if self._worker is None:
            self._call(outcome)
        else:
            self._worker.put(outcome)

    def event(self, event: AuditEvent) -> None:
        """Audit events are not passed to the callback."""

    def lifecycle(self, record: LifecycleRecord) -> None:
        """Lifecycle records are not passed to the callback."""

    def state(self, target: TargetInfo, state: ConnectionState) -> None:
        """State changes are not passed to the callback."""

    def heartbeat(self, target: TargetInfo) -> None:
        """Heartbeats are not passed to the callback."""

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every queued outcome has been given to the callback."""
        return True if self._worker is None else self._worker.flush(timeout_s)

    def close(self, timeout_s: float = 5.0) -> bool:
        """Deliver what is queued and stop the worker thread."""
        return True if self._worker is None else self._worker.stop(timeout_s)
