"""The hand-off queue: bounded, never raises, never blocks, drops counted."""

from __future__ import annotations

import threading
import time

from otel_genesys.core.events import AuditKind, ConnectionState
from otel_genesys.telemetry import TelemetrySettings
from otel_genesys.telemetry.offload import OffloadWorker
from tests.support.fixtures import make_memory_telemetry
from tests.support.outcomes import TARGET, make_event, make_lifecycle, make_outcome
from tests.telemetry.helpers import collect, point_with


def test_worker_drains_in_order_on_its_own_thread() -> None:
    seen: list[tuple[int, str]] = []
    worker: OffloadWorker[int] = OffloadWorker(
        lambda batch: seen.extend((i, threading.current_thread().name) for i in batch),
        interval_s=0.01,
    )
    worker.start()
    for i in range(1000):
        worker.put(i)
    assert worker.flush(5.0)
    assert [i for i, _ in seen] == list(range(1000))
    assert {name for _, name in seen} == {"otel-genesys-telemetry"}
    assert worker.stop(5.0)


def test_overflow_drops_oldest_and_counts() -> None:
    seen: list[int] = []
    worker: OffloadWorker[int] = OffloadWorker(seen.extend, maxlen=10)
    for i in range(25):  # not started: nothing drains
        worker.put(i)
    assert worker.dropped == 15
    assert len(worker) == 10
    worker.stop(1.0)
    assert seen == list(range(15, 25))
    worker.put(99)
    assert worker.dropped == 16


def test_put_many_keeps_order_drops_the_oldest_counted_and_wakes_an_idle_worker() -> None:
    seen: list[int] = []
    worker: OffloadWorker[int] = OffloadWorker(seen.extend, maxlen=10)
    worker.put_many([0, 1, 2])
    worker.put_many(list(range(3, 15)))  # 15 for 10 places: the 5 oldest go, counted
    assert worker.dropped == 5 and len(worker) == 10
    worker.stop(1.0)
    assert seen == list(range(5, 15))
    worker.put_many([98, 99])  # closed: both dropped, counted
    assert worker.dropped == 7

    woken: list[float] = []
    idle: OffloadWorker[int] = OffloadWorker(
        lambda batch: woken.append(time.monotonic()) if batch else None,
        interval_s=0.01,
        idle_interval_s=30.0,
    )
    idle.start()
    try:
        time.sleep(0.1)  # idle now: its own next wake is 30 s away
        put_at = time.monotonic()
        idle.put_many([1, 2, 3])
        deadline = put_at + 5.0
        while not woken and time.monotonic() < deadline:
            time.sleep(0.002)
        assert woken and woken[0] - put_at < 1.0
    finally:
        assert idle.stop(2.0)


def test_handler_errors_are_isolated() -> None:
    calls: list[int] = []

    def handle(batch: list[int]) -> None:
        calls.extend(batch)
        if batch:
            raise RuntimeError("boom")

    worker: OffloadWorker[int] = OffloadWorker(handle, interval_s=0.01)
    worker.start()
    worker.put(1)
    worker.flush(5.0)
    worker.put(2)
    worker.flush(5.0)
    assert calls == [1, 2]
    assert worker.errors == 2
    assert worker.alive
    worker.stop(5.0)


def test_sink_never_raises_with_dead_worker_and_counts_drops() -> None:
    mt = make_memory_telemetry(
        TelemetrySettings(exporter="none", queue_size=100, drain_interval_s=0.01)
    )
    rec = mt.recorder
    assert rec.close(5.0)
    assert not rec.worker_alive
    before = rec.dropped
    rec.outcome(make_outcome(1))
    rec.event(make_event(AuditKind.RECONNECT))
    rec.lifecycle(make_lifecycle())
    rec.state(TARGET, ConnectionState.CONNECTED)
    rec.heartbeat(TARGET)
    rec.record_loop_lag(0.1)
    rec.record_gc_pause(0.1)
    rec.oauth_request(0.1, "ok")
    rec.token_refresh()
    assert rec.dropped == before + 9
    mt.telemetry.shutdown(5.0)


def test_queue_overflow_is_counted_and_exported_as_metric() -> None:
    mt = make_memory_telemetry(
        TelemetrySettings(exporter="none", queue_size=50, drain_interval_s=10.0)
    )
    try:
        rec = mt.recorder
        # The worker sleeps 10 s between drains and wakes at queue_size // 4 = 12
        # records: stall it with a handler that blocks so the queue truly fills.
        gate = threading.Event()
        original = rec._mat.handle

        def slow(batch):  # type: ignore[no-untyped-def]
            gate.wait(5.0)
            original(batch)

        rec._worker._handle = slow
        for seq in range(500):
            rec.outcome(make_outcome(seq))
        assert rec.dropped > 0
        gate.set()
        mt.flush()
        dropped = rec.dropped
        # Nothing vanishes unaccounted: every outcome is a span or a counted drop.
        assert len(mt.spans.get_finished_spans()) + dropped == 500
        m = collect(mt.reader)
        assert (
            point_with(
                m["genesys.agent.telemetry.dropped"], genesys__telemetry__queue="recorder"
            ).value
            == dropped
        )
    finally:
        mt.telemetry.shutdown(5.0)


def test_sink_calls_are_cheap() -> None:
    mt = make_memory_telemetry(TelemetrySettings(exporter="none", drain_interval_s=0.01))
    try:
        outcomes = [make_outcome(i) for i in range(5000)]
        rec = mt.recorder
        durations = []
        for o in outcomes:
            t0 = time.perf_counter_ns()
            rec.outcome(o)
            durations.append(time.perf_counter_ns() - t0)
        durations.sort()
        assert durations[int(len(durations) * 0.99)] < 5_000_000
    finally:
        mt.telemetry.shutdown(5.0)


def test_an_idle_worker_sleeps_until_a_record_arrives_then_drains_on_the_short_period() -> None:
    calls: list[tuple[float, int]] = []
    worker: OffloadWorker[int] = OffloadWorker(
        lambda batch: calls.append((time.monotonic(), len(batch))),
        interval_s=0.01,
        idle_interval_s=0.25,
    )
    worker.start()
    try:
        time.sleep(0.6)
        assert 1 <= len(calls) <= 5, calls  # at 0.01 s it would have been ~60
        put_at = time.monotonic()
        worker.put(1)  # the worker is idle: this put wakes it
        deadline = put_at + 2.0
        while not any(n for _, n in calls) and time.monotonic() < deadline:
            time.sleep(0.002)
        got = next(i for i, (_, n) in enumerate(calls) if n)
        assert calls[got][0] - put_at < 0.15, calls[got][0] - put_at
        while len(calls) <= got + 1 and time.monotonic() < deadline:
            time.sleep(0.002)
        # The wake after a batch comes one short interval later (held spans end there).
        gap = calls[got + 1][0] - calls[got][0]
        assert calls[got + 1][1] == 0 and gap < 0.15, (gap, calls[got:])
    finally:
        assert worker.stop(2.0)


def test_with_no_idle_interval_a_put_does_not_wake_the_worker() -> None:
    calls: list[int] = []
    worker: OffloadWorker[int] = OffloadWorker(
        lambda batch: calls.append(len(batch)), interval_s=0.3, wake_at=100
    )
    worker.start()
    try:
        time.sleep(0.05)
        worker.put(1)
        time.sleep(0.1)
        assert sum(calls) == 0  # waits for its interval (or wake_at records)
    finally:
        assert worker.stop(2.0)


def test_flush_does_not_wait_for_the_idle_interval() -> None:
    seen: list[int] = []
    worker: OffloadWorker[int] = OffloadWorker(seen.extend, interval_s=0.01, idle_interval_s=30.0)
    worker.start()
    try:
        time.sleep(0.05)  # idle now: the next wake is 30 s away
        worker.put(7)
        started = time.monotonic()
        assert worker.flush(5.0)
        assert seen == [7] and time.monotonic() - started < 1.0
    finally:
        assert worker.stop(2.0)
