"""Telemetry in a separate export process: same data at the receiver, bounded, stoppable."""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

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


def test_a_record_that_cannot_be_pickled_costs_only_itself(
    otlp_receiver: OtlpReceiver,  # noqa: F811
) -> None:
    """Records cross the pipe in chunks; one record that cannot be pickled is dropped
    and counted alone, and the rest of its chunk (here: the first record to name a
    target) arrives. Targets travel as numbers, defined once (TargetRefs)."""
    from dataclasses import replace

    from tests.support.otlp_receiver import attributes_of
    from tests.support.outcomes import TARGET

    other = replace(TARGET, name="second")
    telemetry = start_isolated_telemetry(_settings(otlp_receiver))
    try:
        rec = telemetry.recorder
        assert rec.wait_ready(20.0)
        # One chunk: a first target's outcome and a record that cannot be pickled.
        with rec._worker.lock:  # the worker cannot encode the first record alone
            rec.outcome(make_outcome(sequence=1, target=other))
            rec.event(make_event(AuditKind.RECONNECT, target=other,
                                 attributes=(("cause", lambda: None),)))  # fmt: skip
        assert telemetry.force_flush(20.0)
        assert rec.unencodable == 1 and rec.dropped == 1 and rec.ship_errors == 0
        # Later chunks name it again (a fresh, equal object too) and TARGET twice.
        rec.outcome(make_outcome(sequence=2, target=other))
        rec.outcome(make_outcome(sequence=3, target=replace(other)))
        rec.outcome(make_outcome(sequence=1))
        assert telemetry.force_flush(20.0)
        rec.outcome(make_outcome(sequence=2))
        rec.outcome(make_outcome(sequence=4, target=other))
        assert telemetry.force_flush(20.0)
        assert otlp_receiver.wait_for(lambda r: len(r.spans()) >= 6, 10.0)
        seen = sorted(
            (attributes_of(s)[n.TARGET], attributes_of(s)[n.PROBE_SEQUENCE])
            for s in otlp_receiver.spans()
            if s.name == n.SPAN_PROBE
        )
        assert seen == [("demo", 1), ("demo", 2),
                        ("second", 1), ("second", 2), ("second", 3), ("second", 4)]  # fmt: skip
        assert rec.errors == 0 and telemetry.health.recorder_errors == 0
    finally:
        assert telemetry.shutdown(15.0)


def test_chunks_are_pickled_by_the_recording_thread_and_a_dropped_one_keeps_its_targets() -> (
    None
):
    """Over a real socket pair, without an export process: a full chunk is pickled by
    the thread that fills it (the shipping thread only writes), the oldest chunk of a
    full queue is dropped with each of its records counted, and the targets it was the
    first to name are still defined, ahead of the chunks that name them."""
    import pickle
    import socket
    import threading
    from dataclasses import replace
    from multiprocessing.connection import Connection

    from otel_genesys.telemetry import isolated
    from tests.support.outcomes import TARGET

    ours, theirs = socket.socketpair()
    conn, peer = Connection(ours.detach()), Connection(theirs.detach())
    rec = isolated.ForwardingRecorder(conn, queue_size=8, chunk_records=2, ship_interval_s=60.0)
    encoders: list[str] = []
    encode = rec._encode

    def spy(records: list[object]) -> object:
        encoders.append(threading.current_thread().name)
        return encode(records)

    rec._worker._encode = spy  # type: ignore[method-assign]
    first = replace(TARGET, name="first-only")
    try:
        with rec._worker._worker._drain_lock:  # the writer is held: chunks pile up
            rec.outcome(make_outcome(sequence=1, target=first))
            rec.outcome(make_outcome(sequence=2, target=first))
            for seq in range(1, 9):  # four chunks more: the first one is evicted
                rec.outcome(make_outcome(sequence=seq))
            assert encoders == [threading.current_thread().name] * 5
            assert rec.dropped == 2 and len(rec._worker) == 8
        assert rec._worker.flush(10.0)
        messages = []
        while peer.poll(1.0):
            messages.append(peer.recv_bytes())
            if len(messages) == 6:
                break
    finally:
        rec._worker.stop(1.0)
        peer.close()
        conn.close()
    isolated._TARGETS.clear()
    assert len(messages) == 6
    assert pickle.loads(messages[0]) == ("dropped", 2)  # for the export process to export
    kind, definitions = pickle.loads(messages[1])
    assert kind == "targets"
    isolated.define_targets(definitions)
    assert {t.name for t in isolated._TARGETS.values()} == {"first-only", TARGET.name}
    batches = [pickle.loads(m) for m in messages[2:]]
    assert [b[0] for b in batches] == ["batch"] * 4
    assert [o.sequence for b in batches for o in b[1]] == list(range(1, 9))
    assert all(o.target is batches[0][1][0].target == TARGET for b in batches for o in b[1])
    assert rec.dropped == 2 and rec.ship_errors == 0 and rec.unencodable == 0


def test_target_refs_define_each_target_once_and_forget_an_unsent_definition() -> None:
    import pickle
    from dataclasses import replace

    from otel_genesys.telemetry.isolated import _TARGETS, TargetRefs, define_targets
    from tests.support.outcomes import TARGET

    refs = TargetRefs()
    _TARGETS.clear()
    first = refs.dumps([TARGET, replace(TARGET)])
    assert b"streaming.mypurecloud.ie" not in first  # a number: defined out of band
    (definition,) = refs.take_definitions()
    assert refs.take_definitions() == []
    again = refs.dumps([TARGET])
    assert refs.take_definitions() == []  # defined once
    define_targets([definition])
    a, b = pickle.loads(first)
    assert a is b and a == TARGET and pickle.loads(again)[0] is a

    other = replace(TARGET, name="other")
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        refs.dumps([other, lambda: None])
    assert refs.take_definitions() == []  # the failed pickle defined nothing
    refs.dumps([other])
    taken = refs.take_definitions()
    refs.restore_definitions(taken)  # as if the message carrying them was not sent
    assert refs.take_definitions() == taken and taken[0][1][0] == "other"


def test_the_export_process_ends_a_held_span_a_cycle_later_with_no_further_message(
    otlp_receiver: OtlpReceiver,  # noqa: F811
) -> None:
    """The export process's main thread drives its recorder (no recorder thread):
    a probe span held for late audit events must still end one cycle later when
    nothing else arrives, and an audit event that came with it must be on it."""
    from dataclasses import replace

    settings = replace(_settings(otlp_receiver), span_export_delay_s=0.2)
    telemetry = start_isolated_telemetry(settings)
    try:
        rec = telemetry.recorder
        assert rec.wait_ready(20.0)
        with rec._worker.lock:  # both records in one chunk
            rec.outcome(make_outcome(sequence=7, outcome=Outcome.TIMEOUT))
            rec.event(make_event(AuditKind.LATE_PONG, sequence=7,
                                 attributes=((n.PROBE_MODE, "control"),)))  # fmt: skip
        # No flush and nothing more sent: only the export process's own cycle ends it.
        assert otlp_receiver.wait_for(
            lambda r: any(s.name == n.SPAN_PROBE for s in r.spans()), 10.0
        )
        (span,) = [s for s in otlp_receiver.spans() if s.name == n.SPAN_PROBE]
        assert [e.name for e in span.events] == [AuditKind.LATE_PONG.value]
    finally:
        assert telemetry.shutdown(15.0)


def test_records_wait_for_the_shipping_interval_but_an_audit_event_ships_at_once(
    otlp_receiver: OtlpReceiver,  # noqa: F811
) -> None:
    """At a low rate nothing wakes the forwarder before its interval (each wake-up costs
    a thread in both processes); an audit event does, and takes what is queued along."""
    from otel_genesys.telemetry.isolated import ship_interval_s

    settings = replace(_settings(otlp_receiver), export_interval_ns=2_000_000_000)
    interval = ship_interval_s(settings)
    assert interval == 1.0  # half the metric export period
    telemetry = start_isolated_telemetry(settings)
    try:
        rec = telemetry.recorder
        assert rec.wait_ready(30.0)
        rec._worker.flush(5.0)  # start a fresh interval
        shipped = rec._worker.errors, len(rec._worker)
        rec.outcome(make_outcome(sequence=1))
        time.sleep(interval * 0.3)
        assert len(rec._worker) == 1, shipped  # still queued: no wake-up for one record
        rec.event(make_event(AuditKind.RECONNECT, attributes=(("cause", "close_1006"),)))
        deadline = time.monotonic() + interval * 0.5
        while len(rec._worker) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(rec._worker) == 0  # the event woke the forwarder, the outcome went too
        assert telemetry.force_flush(10.0)
        assert otlp_receiver.wait_for(lambda r: len(r.spans()) >= 1, 10.0)
    finally:
        assert telemetry.shutdown(15.0)


def test_with_the_default_periods_records_ship_every_five_seconds_and_all_arrive(
    otlp_receiver: OtlpReceiver,  # noqa: F811
) -> None:
    """The shipped defaults (spans every 5 s, metrics every 10 s): a probe a second
    waits up to 5 s in the agent's process, then reaches the Collector with no flush."""
    from otel_genesys.telemetry.isolated import SHIP_INTERVAL_S, ship_interval_s

    settings = replace(_settings(otlp_receiver), export_interval_ns=10_000_000_000)
    assert ship_interval_s(settings) == SHIP_INTERVAL_S == 5.0
    telemetry = start_isolated_telemetry(settings)
    try:
        rec = telemetry.recorder
        assert rec.wait_ready(30.0)
        rec._worker.flush(5.0)  # start a fresh interval
        for seq in range(1, 4):
            rec.outcome(make_outcome(sequence=seq))
            time.sleep(0.5)
        assert len(rec._worker) == 3  # 1.5 s on: all three still in the agent's process
        # Shipped within the interval, their spans batched within 5 s more, then
        # exported by the export process's own cycle: nothing here flushes.
        assert otlp_receiver.wait_for(
            lambda r: sum(s.name == n.SPAN_PROBE for s in r.spans()) >= 3, 20.0
        )
        assert len(rec._worker) == 0
    finally:
        assert telemetry.shutdown(15.0)


def test_the_export_process_reports_health_only_when_it_changed(
    otlp_receiver: OtlpReceiver,  # noqa: F811
) -> None:
    telemetry = start_isolated_telemetry(_settings(otlp_receiver))
    try:
        rec = telemetry.recorder
        assert rec.wait_ready(30.0)
        rec.outcome(make_outcome(sequence=1))
        assert telemetry.force_flush(10.0)
        time.sleep(1.5)  # a span held for late audit events ends within a second
        assert telemetry.force_flush(10.0)  # ... and leaves now
        time.sleep(0.6)  # any report still due after the flush
        quiet_from = telemetry.health.reports
        time.sleep(2.0)  # four health periods with nothing new
        assert telemetry.health.reports == quiet_from
        for seq in range(2, 12):
            rec.outcome(make_outcome(sequence=seq))
        assert telemetry.force_flush(10.0)
        assert telemetry.health.reports > quiet_from  # the flush reply, with new counters
        assert telemetry.health.spans_exported >= 11
    finally:
        assert telemetry.shutdown(15.0)


def _nice_of_every_thread(pid: int) -> set[int]:
    """The nice value of each thread of ``pid`` (Linux keeps one per thread)."""
    values = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/stat", encoding="ascii") as f:
            stat = f.read()
        values.add(int(stat.rsplit(")", 1)[1].split()[16]))  # field 19: nice
    return values


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_the_export_process_and_all_its_threads_run_nicer_than_the_agent(
    otlp_receiver: OtlpReceiver,  # noqa: F811
) -> None:
    from otel_genesys.telemetry.isolated import EXPORT_NICE

    own = os.getpriority(os.PRIO_PROCESS, 0)
    for nice, expected in ((None, min(19, own + EXPORT_NICE)), (3, min(19, own + 3)), (0, own)):
        kwargs = {} if nice is None else {"nice": nice}
        telemetry = start_isolated_telemetry(_settings(otlp_receiver), **kwargs)
        try:
            assert telemetry.recorder.wait_ready(30.0)
            telemetry.recorder.outcome(make_outcome(sequence=1))
            assert telemetry.force_flush(10.0)  # the exporters' threads are up
            threads = _nice_of_every_thread(telemetry.process.pid)
            assert threads == {expected}, (nice, threads)
            assert len(os.listdir(f"/proc/{telemetry.process.pid}/task")) > 1
        finally:
            assert telemetry.shutdown(15.0)
    assert os.getpriority(os.PRIO_PROCESS, 0) == own  # the agent's own is untouched


def test_records_the_agents_process_dropped_are_exported_by_the_export_process(
    otlp_receiver: OtlpReceiver,  # noqa: F811
) -> None:
    """With the export process, a full queue on the agent's side (the export process
    fell behind) still shows in genesys.agent.telemetry.dropped{queue=recorder}."""
    from dataclasses import replace

    settings = replace(_settings(otlp_receiver), queue_size=8)
    telemetry = start_isolated_telemetry(settings)
    try:
        rec = telemetry.recorder
        assert rec.wait_ready(30.0)
        with rec._worker._worker._drain_lock:  # the export process cannot keep up
            for seq in range(1, 21):
                rec.outcome(make_outcome(sequence=seq))
        assert telemetry.force_flush(10.0)
        # At most 8 records wait in chunks: the last chunk (17-20, pickled at the flush)
        # pushed out 9-16, which had pushed out 1-8. Every one counted.
        assert rec.dropped == 16

        def exported(r: OtlpReceiver) -> list[int]:
            return [
                p.as_int
                for m in r.metrics()
                if m.name == n.METRIC_TELEMETRY_DROPPED
                for p in m.sum.data_points
                if any(a.key == n.TELEMETRY_QUEUE and a.value.string_value == "recorder"
                       for a in p.attributes)
            ]

        assert otlp_receiver.wait_for(lambda r: 16 in exported(r), 10.0), exported(otlp_receiver)
        assert otlp_receiver.wait_for(lambda r: len(r.spans()) >= 4, 10.0)
        assert sorted(s.name for s in otlp_receiver.spans()).count(n.SPAN_PROBE) == 4
    finally:
        assert telemetry.shutdown(15.0)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_run_starts_the_export_process_at_the_configured_priority(
    otlp_receiver: OtlpReceiver,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`telemetry.export_nice` from the configuration reaches the export process."""
    from otel_genesys.agent.runner import start_telemetry
    from otel_genesys.config import load_config
    from otel_genesys.telemetry.isolated import IsolatedTelemetry

    env = {
        "OTEL_GENESYS_TELEMETRY__ENDPOINT": otlp_receiver.endpoint("grpc"),
        "OTEL_GENESYS_TELEMETRY__EXPORTER": "otlp_grpc",
        "OTEL_GENESYS_TELEMETRY__EXPORT_NICE": "4",
    }
    monkeypatch.chdir(tmp_path)  # no settings.toml of the working directory
    config = load_config(None, env=env)
    assert config.telemetry.export_nice == 4
    own = os.getpriority(os.PRIO_PROCESS, 0)
    telemetry = start_telemetry(config, quiet=True, isolate=True)
    try:
        assert isinstance(telemetry, IsolatedTelemetry)
        assert telemetry.recorder.wait_ready(30.0)
        assert _nice_of_every_thread(telemetry.process.pid) == {min(19, own + 4)}
    finally:
        assert telemetry.shutdown(15.0)


def _cpus_of_every_thread(pid: int) -> set[frozenset[int]]:
    """The CPU mask of each thread of ``pid`` (Linux keeps one per thread)."""
    return {frozenset(os.sched_getaffinity(int(t))) for t in os.listdir(f"/proc/{pid}/task")}


def _cpus_here() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0


@pytest.mark.skipif(not os.path.isdir("/proc/self/task") or _cpus_here() < 2,
                    reason="needs Linux and two CPUs")
def test_export_cpus_pins_the_export_process_and_keeps_the_agent_off_them(
    otlp_receiver: OtlpReceiver,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`telemetry.export_cpus`: every thread of the export process on those CPUs, every
    thread of the agent's process on the others, and probes still reach the Collector."""
    from otel_genesys.agent.runner import start_telemetry
    from otel_genesys.config import load_config
    from otel_genesys.cpus import pin_to_cpus
    from otel_genesys.telemetry.isolated import IsolatedTelemetry

    allowed = frozenset(os.sched_getaffinity(0))
    export_cpu = max(allowed)
    env = {
        "OTEL_GENESYS_TELEMETRY__ENDPOINT": otlp_receiver.endpoint("grpc"),
        "OTEL_GENESYS_TELEMETRY__EXPORTER": "otlp_grpc",
        "OTEL_GENESYS_TELEMETRY__EXPORT_CPUS": str(export_cpu),
    }
    monkeypatch.chdir(tmp_path)
    config = load_config(None, env=env)
    assert config.telemetry.export_cpus == (export_cpu,)
    try:
        telemetry = start_telemetry(config, quiet=True, isolate=True)
        try:
            assert isinstance(telemetry, IsolatedTelemetry)
            assert telemetry.recorder.wait_ready(30.0)
            assert _cpus_of_every_thread(telemetry.process.pid) == {frozenset({export_cpu})}
            assert _cpus_of_every_thread(os.getpid()) == {allowed - {export_cpu}}
            for seq in range(1, 4):
                telemetry.recorder.outcome(make_outcome(sequence=seq))
            assert telemetry.force_flush(10.0)  # the exporters' threads are up, pinned too
            assert _cpus_of_every_thread(telemetry.process.pid) == {frozenset({export_cpu})}
            assert otlp_receiver.wait_for(
                lambda r: sum(s.name == n.SPAN_PROBE for s in r.spans()) >= 3, 10.0)
        finally:
            assert telemetry.shutdown(15.0)
    finally:
        pin_to_cpus(allowed)  # the rest of the test session runs on every CPU again
    assert _cpus_of_every_thread(os.getpid()) == {allowed}


def test_export_cpus_not_available_here_pin_nothing_and_say_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from otel_genesys.telemetry.isolated import plan_cpus

    assert plan_cpus(()) == ((), ())
    if not hasattr(os, "sched_getaffinity"):
        assert plan_cpus((0,)) == ((), ())
        return
    allowed = sorted(os.sched_getaffinity(0))
    with caplog.at_level(logging.WARNING):
        assert plan_cpus((4095,)) == ((), ())
    assert "CPU 4095 not available to this process" in caplog.text
    assert "not pinned" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert plan_cpus(allowed) == (tuple(allowed), ())
    assert "keeps them all" in caplog.text
    if len(allowed) > 1:
        assert plan_cpus(allowed[-1:]) == ((allowed[-1],), tuple(allowed[:-1]))
