"""Telemetry in a separate export process: same data at the receiver, bounded, stoppable."""

from __future__ import annotations

import logging
import os
import signal
import time

import pytest

from otel_genesys.core.events import AuditKind
from otel_genesys.core.outcome import Outcome
from otel_genesys.telemetry import TelemetrySettings
from otel_genesys.telemetry import names as n
from otel_genesys.telemetry.isolated import start_isolated_telemetry
from tests.support.fixtures import otlp_receiver  # noqa: F401
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.outcomes import make_event, make_outcome

SECRET = "isolated-client-secret-never-exported"


def _settings(receiver: OtlpReceiver, protocol: str = "grpc") -> TelemetrySettings:
    return TelemetrySettings(
        exporter="otlp_grpc" if protocol == "grpc" else "otlp_http",
        endpoint=receiver.endpoint(protocol),
        export_interval_ns=300_000_000,
        drain_interval_s=0.02,
    )


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_records_reach_the_receiver_through_the_export_process(
    otlp_receiver: OtlpReceiver,  # noqa: F811
    protocol: str,
) -> None:
    telemetry = start_isolated_telemetry(_settings(otlp_receiver, protocol), secrets=(SECRET,))
    try:
        rec = telemetry.recorder
        assert telemetry.process.pid != os.getpid()
        for seq in range(1, 51):
            rec.outcome(make_outcome(sequence=seq))
        rec.outcome(make_outcome(sequence=51, outcome=Outcome.TIMEOUT))
        rec.event(
            make_event(AuditKind.RECONNECT, attributes=(("cause", "close_1006"), ("attempt", 1)))
        )
        assert telemetry.force_flush(20.0)
        assert rec.wait_ready(1.0) or telemetry.routes  # ready arrived before the flush reply
        assert telemetry.routes["traces"] == protocol
        assert otlp_receiver.wait_for(lambda r: len(r.spans()) >= 51, 10.0)
        assert otlp_receiver.wait_for(lambda r: n.METRIC_RTT in r.metric_names(), 10.0)
        names = {s.name for s in otlp_receiver.spans()}
        assert n.SPAN_PROBE in names
        assert otlp_receiver.wait_for(lambda r: n.METRIC_RECONNECTS in r.metric_names(), 10.0)
        assert telemetry.health.reports >= 1 and telemetry.health.spans_exported >= 51
        assert rec.dropped == 0 and rec.errors == 0
    finally:
        assert telemetry.shutdown(15.0)
    assert telemetry.process.returncode == 0
    assert SECRET.encode() not in otlp_receiver.raw_bytes()


def test_the_child_ignores_ctrl_c_and_leaves_when_the_parent_goes(
    otlp_receiver: OtlpReceiver,  # noqa: F811
) -> None:
    telemetry = start_isolated_telemetry(_settings(otlp_receiver))
    assert telemetry.recorder.wait_ready(30.0)
    # Ctrl-C on a terminal signals the whole group: the agent decides when to stop.
    os.kill(telemetry.process.pid, signal.SIGINT)
    time.sleep(0.3)
    assert telemetry.process.poll() is None
    telemetry.recorder.outcome(make_outcome(sequence=1))
    telemetry.recorder.flush(10.0)
    # The parent vanishing (its end of the pipe closes) makes the child flush and exit.
    telemetry.recorder._worker.stop(1.0)
    telemetry.recorder._conn.close()
    assert telemetry.process.wait(15.0) == 0
    assert otlp_receiver.wait_for(lambda r: len(r.spans()) >= 1, 5.0)


def test_a_dead_export_process_costs_the_probe_path_nothing(
    otlp_receiver: OtlpReceiver,  # noqa: F811
) -> None:
    telemetry = start_isolated_telemetry(_settings(otlp_receiver))
    assert telemetry.recorder.wait_ready(30.0)
    telemetry.process.kill()
    telemetry.process.wait(5.0)
    rec = telemetry.recorder
    started = time.perf_counter()
    for seq in range(1, 2001):
        rec.outcome(make_outcome(sequence=seq))  # never blocks, never raises
    assert time.perf_counter() - started < 1.0
    rec.flush(2.0)
    assert rec.dropped >= 1  # counted, not silently lost
    assert not telemetry.shutdown(3.0)


def test_audit_and_export_process_logs_are_written_by_the_agents_process(
    otlp_receiver: OtlpReceiver,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    telemetry = start_isolated_telemetry(_settings(otlp_receiver), log_level="DEBUG")
    try:
        assert telemetry.recorder.wait_ready(30.0)
        telemetry.recorder.event(
            make_event(AuditKind.RECONNECT, attributes=(("cause", "close_1006"),))
        )
        assert telemetry.force_flush(10.0)
    finally:
        telemetry.shutdown(10.0)
    audit = [r for r in caplog.records if r.name == "otel_genesys.audit"]
    assert len(audit) == 1 and audit[0].process == os.getpid()  # once, and here
    forwarded = [r for r in caplog.records if getattr(r, "export_process", False)]
    assert any("export process" in r.getMessage() for r in forwarded)
    assert all(r.process == os.getpid() for r in forwarded)
