"""CallbackSink, apm_tuple, console output and gc_tune."""

from __future__ import annotations

import gc
import io
import threading

from otel_genesys.core.events import AuditKind, LifecycleStep
from otel_genesys.core.outcome import Breach, Outcome, ProbeOutcome
from otel_genesys.core.sink import FanoutSink
from otel_genesys.telemetry import (
    CallbackSink,
    TelemetrySettings,
    apm_tuple,
    gc_tune,
    setup_telemetry,
)
from otel_genesys.telemetry.console import summarize
from tests.support.outcomes import make_event, make_lifecycle, make_outcome


def test_apm_tuple() -> None:
    assert apm_tuple(make_outcome(1, rtt_ms=12.5)) == (12.5, 0.03, 99.0, False)
    latency, jitter, _stability, timed_out = apm_tuple(make_outcome(2, Outcome.TIMEOUT))
    assert (latency, jitter, timed_out) == (None, None, True)
    assert apm_tuple(make_outcome(3, Outcome.ABORTED))[3] is False


def test_threaded_callback_isolates_errors() -> None:
    seen: list[tuple[int, str]] = []

    def callback(o):  # type: ignore[no-untyped-def]
        seen.append((o.sequence, threading.current_thread().name))
        if o.sequence == 2:
            raise ValueError("user bug")

    sink = CallbackSink(callback)
    fan = FanoutSink([sink])
    for seq in range(1, 5):
        fan.outcome(make_outcome(seq))
    fan.event(make_event(AuditKind.RECONNECT))
    assert sink.flush(5.0)
    assert [s for s, _ in seen] == [1, 2, 3, 4]
    assert {name for _, name in seen} == {"otel-genesys-callbacks"}
    assert sink.errors == 1
    assert fan.errors == 0
    assert sink.close(5.0)


def test_inline_callback_runs_before_returning() -> None:
    seen: list[int] = []

    def callback(o: ProbeOutcome) -> None:
        seen.append(o.sequence)
        raise ZeroDivisionError

    sink = CallbackSink(callback, inline=True)
    sink.outcome(make_outcome(7))
    assert seen == [7]
    assert sink.errors == 1


def test_console_prints_one_line_per_probe_and_a_summary() -> None:
    stream = io.StringIO()
    t = setup_telemetry(
        TelemetrySettings(exporter="console", drain_interval_s=0.01), console_stream=stream
    )
    assert t.routes == {"traces": "console", "metrics": "console", "logs": "none"}
    rec = t.recorder
    rec.outcome(make_outcome(1, rtt_ms=0.412))
    rec.outcome(make_outcome(2, Outcome.TIMEOUT, timeout_ms=1000))
    rec.outcome(
        make_outcome(3, rtt_ms=400, breaches=(Breach("latency", 400_000_000, 300_000_000, 1),))
    )
    rec.lifecycle(make_lifecycle(LifecycleStep.HANDSHAKE, phases=(("dns", 1_000_000),)))
    assert t.force_flush(5.0)
    t.shutdown(3.0)
    lines = stream.getvalue().splitlines()
    pings = [line for line in lines if " ping " in line]
    assert len(pings) == 3
    assert "demo/control #1 ok rtt=0.412ms" in pings[0]
    assert "#2 TIMEOUT after 1000.000ms" in pings[1]
    assert "breached=latency" in pings[2]
    assert any("genesys.websocket.handshake demo 40.000ms ok dns=1.000ms" in line for line in lines)
    summary = [line for line in lines if line.startswith("-- metrics demo/control")]
    assert summary and "ok=2" in summary[0] and "timeout=1" in summary[0]
    assert not any(line.lstrip().startswith("{") for line in lines)


def test_summarize_empty() -> None:
    from opentelemetry.sdk.metrics.export import MetricsData

    assert summarize(MetricsData(resource_metrics=[])) == []


def test_gc_tune_freezes_and_raises_thresholds() -> None:
    before = gc.get_threshold()
    try:
        previous = gc_tune((20_000, 15, 30))
        assert previous == before
        assert gc.get_threshold() == (20_000, 15, 30)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
