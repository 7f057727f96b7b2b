"""Telemetry of the instrumentation: one `Recorder` (and a few extra instruments) per provider.

Probe outcomes of instrumented connections go through the same
:class:`~otel_genesys.telemetry.recorder.Recorder` as the agent's, so their
spans and metrics carry the same names. The instruments the recorder does not
have (AudioHook RTT and turnaround, the wrappers' own error count) are created
here, also once per meter provider; their names live in ``telemetry/names.py``.

Recorders live until process exit (an ``atexit`` hook drains them before the
SDK's own exit hook shuts the providers down, since ``atexit`` runs hooks in
reverse order of registration) or until :func:`shutdown_all`.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.trace import TracerProvider

import otel_genesys
from otel_genesys.telemetry import names as n
from otel_genesys.telemetry.recorder import Recorder


class ErrorCounts:
    """Failures inside the wrappers, per library; never raised into the application."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, library: str) -> None:
        """Count one swallowed failure."""
        with self._lock:
            self._counts[library] = self._counts.get(library, 0) + 1

    def get(self, library: str | None = None) -> int:
        """Failures of one library, or of all."""
        with self._lock:
            if library is None:
                return sum(self._counts.values())
            return self._counts.get(library, 0)

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        """Callback of ``genesys.agent.instrumentation.errors``."""
        with self._lock:
            items = list(self._counts.items())
        return [Observation(v, {n.INSTRUMENTATION_LIBRARY: k}) for k, v in items]


ERRORS = ErrorCounts()
"""The process-wide count behind the errors metric."""


@dataclass(eq=False)
class InstrumentationTelemetry:
    """The recorder and the extra instruments for one (tracer, meter) provider pair."""

    recorder: Recorder
    audiohook_rtt: object
    audiohook_turnaround: object
    audiohook_invalid: object
    tracer_provider: TracerProvider
    meter_provider: MeterProvider


_lock = threading.Lock()
_cache: dict[tuple[int, int], InstrumentationTelemetry] = {}
_atexit_registered = False


def telemetry_for(
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
    recorder: Recorder | None = None,
) -> InstrumentationTelemetry:
    """The (cached) telemetry for this provider pair; instruments are created only once.

    ``recorder``: one already built for these providers (by ``setup_telemetry``), to reuse.
    """
    global _atexit_registered
    key = (id(tracer_provider), id(meter_provider))
    with _lock:
        found = _cache.get(key)
        if found is not None:
            return found
        version = otel_genesys.__version__
        if recorder is None:
            recorder = Recorder(tracer_provider, meter_provider, version=version)
        meter = meter_provider.get_meter(n.INSTRUMENTATION_SCOPE, version)
        made = InstrumentationTelemetry(
            recorder=recorder,
            audiohook_rtt=meter.create_histogram(
                n.METRIC_AUDIOHOOK_RTT, n.UNIT_SECONDS,
                "Round-trip time Genesys reports in AudioHook pings",
                explicit_bucket_boundaries_advisory=n.BUCKETS_RTT,
            ),
            audiohook_turnaround=meter.create_histogram(
                n.METRIC_AUDIOHOOK_TURNAROUND, n.UNIT_SECONDS,
                "AudioHook server time from receiving a ping to sending its pong",
                explicit_bucket_boundaries_advisory=n.BUCKETS_LAG,
            ),
            audiohook_invalid=meter.create_counter(
                n.METRIC_AUDIOHOOK_INVALID_RTT, n.UNIT_PING,
                "AudioHook pings whose rtt parameter is not an ISO-8601 duration",
            ),
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )  # fmt: skip
        meter.create_observable_counter(
            n.METRIC_INSTRUMENTATION_ERRORS, [ERRORS.observe], n.UNIT_ERROR,
            "Failures inside the instrumentation's wrappers (swallowed)",
        )  # fmt: skip
        _cache[key] = made
        if not _atexit_registered:
            atexit.register(shutdown_all, 2.0)
            _atexit_registered = True
        return made


def flush_all(timeout_s: float = 5.0) -> bool:
    """Turn everything recorded so far into spans and metric points."""
    with _lock:
        items = list(_cache.values())
    return all([t.recorder.flush(timeout_s) for t in items])


def shutdown_all(timeout_s: float = 5.0) -> bool:
    """Drain and stop every recorder (process exit; tests). Later use builds new ones."""
    with _lock:
        items = list(_cache.values())
        _cache.clear()
    return all([t.recorder.close(timeout_s) for t in items])
