"""Collector faults: exporting must never disturb probing.

A healthy run is measured first (its lateness and RTT p99 are the reference);
then five agents run side by side, each exporting over OTLP to its own receiver
that misbehaves in one way: refusing connections (stopped), black-holing
(accepts, never answers), answering slowly, answering 429, answering 503.

Expectations for every faulty collector: every probe ends OK (no timeout, no
abort); scheduling lateness p99 and RTT p99 stay within `LATENESS_SLACK_MS` of
the healthy run; what could not be exported is counted (export failures or
dropped spans); the recorder's hand-off queue and the spans waiting for export
never grow past their bounds, and against the black hole the span queue does
reach its bound and drops (counted) instead of growing; shutting telemetry
down stays within its deadline, and what it abandoned ends on its own.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import grpc
import pytest

from otel_genesys.agent.supervisor import Agent
from otel_genesys.core.outcome import Outcome, ProbeMode, ProbeOutcome
from otel_genesys.emulator import Emulator, EmulatorConfig
from otel_genesys.telemetry import Telemetry, TelemetrySettings, setup_telemetry
from otel_genesys.telemetry.export_health import GuardedSpanProcessor
from tests.chaos.chaos_harness import (
    HEARTBEAT_S,
    SECTIONS,
    monitor_config,
    notification_target,
)
from tests.support.otlp_receiver import Mode, OtlpReceiver

RUN_S = 2.0
LATENESS_SLACK_MS = 75.0
"""Allowed p99 worsening vs the healthy run (five agents and their exporters now share
the two cores; the healthy run had one; a shared CI machine adds its own noise). An
export path that blocked the event loop would show the exporter's timeout and retry
scale, a second or more, so the bound still separates the two."""
QUEUE_SIZE = 2048
SPAN_QUEUE_SIZE = 16
"""Small on purpose: a stalled exporter must overflow it within the run, and be counted."""
BLACKHOLE_EXPORT_TIMEOUT_S = 2.0
"""Each export to the black hole blocks this long: at most 16 spans leave per 2 s while
the agent makes ~20 a second, so the span queue hits its bound within the run."""
SHUTDOWN_LIMIT_S = 1.5
"""``Telemetry.shutdown(1.0)`` plus thread scheduling."""


class SlowReceiver(OtlpReceiver):
    """Answers every export correctly, but only after ``delay_s``."""

    delay_s = 0.3

    def _accept(
        self, signal: str, transport: str, raw: bytes, headers: tuple[tuple[str, str], ...]
    ) -> Mode:
        time.sleep(self.delay_s)
        return super()._accept(signal, transport, raw, headers)


@dataclass
class CollectorCell:
    """One agent exporting to one (mis)behaving receiver."""

    name: str
    exporter: str
    receiver: OtlpReceiver
    setup: Callable[[OtlpReceiver], None]
    expect_loss: bool
    export_timeout_s: float = 0.5
    expect_overflow: bool = False
    """The exporter drains slower than probes produce spans: the span queue must fill
    to its bound and then drop (counted), not grow."""
    telemetry: Telemetry | None = None
    outcomes: list[ProbeOutcome] = field(default_factory=list)
    max_queued: int = 0
    max_span_pending: int = 0
    shutdown_s: float = 0.0

    def endpoint(self) -> str:
        rx = self.receiver
        return rx.endpoint(self.exporter)

    def p99(self, values: list[int]) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1e6

    def lateness_p99_ms(self) -> float:
        return self.p99([o.lateness_ns for o in self.outcomes])

    def rtt_p99_ms(self) -> float:
        return self.p99([o.rtt_ns or 0 for o in self.outcomes])


def _settings(cell: CollectorCell) -> TelemetrySettings:
    return TelemetrySettings(
        exporter=cell.exporter,  # type: ignore[arg-type]
        endpoint=cell.endpoint(),
        export_interval_ns=200_000_000,
        export_timeout_s=cell.export_timeout_s,
        queue_size=QUEUE_SIZE,
        span_queue_size=SPAN_QUEUE_SIZE,
        drain_interval_s=0.02,
    )


async def _run(cells: list[CollectorCell], base_url: str) -> None:
    # The rest of the test session's heap out of the window: a full collection of it
    # (tens of ms late in a long pytest run) would stall every cell's loop alike and is
    # not a collector fault. `otel-genesys run` keeps full collections out with gc_tune.
    gc.collect()
    gc.freeze()
    try:
        await _run_cells(cells, base_url)
    finally:
        gc.unfreeze()


async def _run_cells(cells: list[CollectorCell], base_url: str) -> None:
    agents = []
    for cell in cells:
        cell.setup(cell.receiver)
        cell.telemetry = setup_telemetry(_settings(cell))
        target = notification_target(
            f"collector-{cell.name}",
            base_url,
            frozenset({ProbeMode.NOTIFICATION, ProbeMode.CONTROL}),
            monitor_config(),
        )
        agent = Agent([target], sink=cell.telemetry.recorder)
        agent.on_outcome(cell.outcomes.append)
        agents.append(agent)
    for agent in agents:
        await agent.start()
    deadline = time.perf_counter() + RUN_S
    while time.perf_counter() < deadline:
        for cell in cells:
            assert cell.telemetry is not None
            cell.max_queued = max(cell.max_queued, cell.telemetry.recorder.queued)
            cell.max_span_pending = max(cell.max_span_pending, _span_pending(cell.telemetry))
        await asyncio.sleep(0.05)
    for agent in agents:
        await agent.stop()

    async def shutdown(cell: CollectorCell) -> None:
        assert cell.telemetry is not None
        started = time.perf_counter()
        await asyncio.to_thread(cell.telemetry.shutdown, 1.0)
        cell.shutdown_s = time.perf_counter() - started

    await asyncio.gather(*(shutdown(cell) for cell in cells))
    # A shutdown that hit its deadline left its export running in the background (the
    # black hole's); let it end before the receivers go, so it leaves nothing behind.
    stopping = [t for t in threading.enumerate() if t.name == "otel-genesys-telemetry-stop"]
    await asyncio.to_thread(_join, stopping, BLACKHOLE_EXPORT_TIMEOUT_S + 1.0)
    assert not [t for t in stopping if t.is_alive()], "telemetry shutdown never finished"


def _join(threads: list[threading.Thread], limit_s: float) -> None:
    deadline = time.perf_counter() + limit_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.perf_counter()))


def _span_pending(telemetry: Telemetry) -> int:
    """Spans waiting in the export queue now (the gate in front of the SDK's batch queue)."""
    # The SDK keeps its processors private; the gate's count is what bounds the queue.
    processors = telemetry.tracer_provider._active_span_processor._span_processors
    return sum(p._pending for p in processors if isinstance(p, GuardedSpanProcessor))


def _summary(cells: list[CollectorCell]) -> list[str]:
    lines = [
        "| collector | exporter | probes | not ok | lateness p99 ms | RTT p99 ms "
        "| spans exported | spans dropped | export failures (spans/metrics) "
        "| max queued (records/spans) | shutdown s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cell in cells:
        assert cell.telemetry is not None
        h = cell.telemetry.health
        not_ok = sum(o.outcome is not Outcome.OK for o in cell.outcomes)
        lines.append(
            f"| {cell.name} | {cell.exporter} | {len(cell.outcomes)} | {not_ok} "
            f"| {cell.lateness_p99_ms():.1f} | {cell.rtt_p99_ms():.1f} | {h.spans_exported} "
            f"| {h.spans_dropped} | {h.span_export_failures} / {h.metric_export_failures} "
            f"| {cell.max_queued} / {cell.max_span_pending} | {cell.shutdown_s:.2f} |"
        )
    return lines


def _refuse(rx: OtlpReceiver) -> None:
    rx.stop()


def _hang(rx: OtlpReceiver) -> None:
    rx.hang()


def _fine(rx: OtlpReceiver) -> None:
    pass


def _fail_429(rx: OtlpReceiver) -> None:
    rx.fail(grpc_code=grpc.StatusCode.RESOURCE_EXHAUSTED, http_status=429)


def _fail_503(rx: OtlpReceiver) -> None:
    rx.fail(grpc_code=grpc.StatusCode.UNAVAILABLE, http_status=503)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    emu = Emulator(EmulatorConfig(heartbeat_interval_s=HEARTBEAT_S))
    await emu.start()
    yield emu
    await emu.stop()


async def test_chaos_collector_faults_never_disturb_probing(emulator: Emulator) -> None:
    receivers: list[OtlpReceiver] = []

    def rx(cls: type[OtlpReceiver] = OtlpReceiver) -> OtlpReceiver:
        receiver = cls(hang_max_s=3.0).start()
        receivers.append(receiver)
        return receiver

    try:
        healthy = CollectorCell("healthy", "otlp_grpc", rx(), _fine, expect_loss=False)
        await _run([healthy], emulator.base_url)
        faulty = [
            CollectorCell("refused", "otlp_grpc", rx(), _refuse, expect_loss=True),
            CollectorCell(
                "blackhole",
                "otlp_grpc",
                rx(),
                _hang,
                expect_loss=True,
                export_timeout_s=BLACKHOLE_EXPORT_TIMEOUT_S,
                expect_overflow=True,
            ),
            CollectorCell("slow", "otlp_grpc", rx(SlowReceiver), _fine, expect_loss=False),
            CollectorCell("http_429", "otlp_http", rx(), _fail_429, expect_loss=True),
            CollectorCell("grpc_503", "otlp_grpc", rx(), _fail_503, expect_loss=True),
        ]
        await _run(faulty, emulator.base_url)
    finally:
        for receiver in receivers:
            receiver.stop()

    SECTIONS["collector faults"] = _summary([healthy, *faulty])
    assert healthy.receiver.spans(), "the healthy collector received no span"
    ref_lateness = healthy.lateness_p99_ms()
    ref_rtt = healthy.rtt_p99_ms()
    problems: list[str] = []
    for cell in [healthy, *faulty]:
        assert cell.telemetry is not None
        health = cell.telemetry.health
        recorder = cell.telemetry.recorder
        not_ok = [o for o in cell.outcomes if o.outcome is not Outcome.OK]
        late = [o for o in not_ok if o.outcome is Outcome.ABORTED]
        # Pings outstanding when the agent stopped end ABORTED; nothing else may fail.
        if len(not_ok) - len(late) or len(late) > 2:
            problems.append(f"{cell.name}: {len(not_ok)} probes not OK")
        if len(cell.outcomes) < 30:
            problems.append(f"{cell.name}: only {len(cell.outcomes)} probes")
        if cell.lateness_p99_ms() > ref_lateness + LATENESS_SLACK_MS:
            problems.append(
                f"{cell.name}: lateness p99 {cell.lateness_p99_ms():.1f} ms vs healthy "
                f"{ref_lateness:.1f} ms"
            )
        if cell.rtt_p99_ms() > ref_rtt + LATENESS_SLACK_MS:
            problems.append(
                f"{cell.name}: RTT p99 {cell.rtt_p99_ms():.1f} ms vs healthy {ref_rtt:.1f} ms"
            )
        if cell.max_queued > QUEUE_SIZE:
            problems.append(f"{cell.name}: recorder queue reached {cell.max_queued}")
        if cell.expect_overflow and not health.spans_dropped:
            problems.append(f"{cell.name}: span queue never overflowed (bound not exercised)")
        if cell.max_span_pending > SPAN_QUEUE_SIZE:
            problems.append(f"{cell.name}: {cell.max_span_pending} spans waiting for export")
        if recorder.errors:
            problems.append(f"{cell.name}: {recorder.errors} recorder errors")
        counted = (
            health.span_export_failures
            + health.metric_export_failures
            + health.spans_dropped
            + recorder.dropped
        )
        if cell.expect_loss and counted == 0:
            problems.append(f"{cell.name}: nothing counted as failed or dropped")
        if not cell.expect_loss and counted:
            problems.append(f"{cell.name}: {counted} failures/drops on a working collector")
        if cell.shutdown_s > SHUTDOWN_LIMIT_S:
            problems.append(f"{cell.name}: telemetry shutdown took {cell.shutdown_s:.2f} s")
    assert problems == []
