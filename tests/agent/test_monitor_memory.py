"""Per-connection memory: what one `ConnectionMonitor` holds before its first socket.

One agent holds thousands of monitors, so every per-connection object counts:
shared immutable settings, no ``__dict__`` on the per-link records, rarely used
objects (the ``stopped`` event, the background-task set) made on first use, one
ring of RTT samples for the percentiles and the PDV, and two tasks per live
connection (the monitor, which runs the probe loop, and the reader).
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import aiohttp
import pytest

from otel_genesys.agent.monitor import ConnectionMonitor, Link, TargetStatus
from otel_genesys.agent.supervisor import Agent
from otel_genesys.config import GenericTarget, MonitorConfig
from otel_genesys.core.events import AuditKind
from otel_genesys.core.outcome import Outcome, ProbeMode
from otel_genesys.core.probe import RECENT_PINGS
from otel_genesys.core.sink import NullSink
from otel_genesys.emulator import Emulator, FaultSpec
from tests.e2e.e2e_helpers import Collector, notification_target, wait_until

MONITORS = 500
PER_MONITOR_LIMIT = 4 * 1024
"""Bytes per monitor of one CONTROL target, measured by tracemalloc: ~3.6 KiB now;
~4.9 KiB with a second ring for the PDV window, lists for the stability buckets and
a byte per probe of the count window; ~7.0 KiB with, besides, a ProbeSettings copy,
a 1 KiB CONTROL ping memory, an eager Event and an empty task set per monitor."""


def _targets(n: int) -> list[GenericTarget]:
    monitor = MonitorConfig()
    return [
        GenericTarget(
            name=f"t{i:05d}", url="ws://127.0.0.1:9/ws", first_message=None, monitor=monitor
        )
        for i in range(n)
    ]


async def test_a_monitor_stays_under_its_per_connection_budget() -> None:
    targets = _targets(MONITORS + 1)
    sink = NullSink()
    async with aiohttp.ClientSession() as session:
        ConnectionMonitor(targets[0], session=session, sink=sink)  # lazy imports, caches
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            monitors = [ConnectionMonitor(t, session=session, sink=sink) for t in targets[1:]]
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    per_monitor = (after - before) / len(monitors)
    assert per_monitor < PER_MONITOR_LIMIT, f"{per_monitor:.0f} bytes per monitor"


async def test_targets_with_equal_knobs_share_one_probe_settings() -> None:
    targets = _targets(3)
    async with aiohttp.ClientSession() as session:
        monitors = [ConnectionMonitor(t, session=session, sink=NullSink()) for t in targets]
    settings = {id(m.sessions[ProbeMode.CONTROL].settings) for m in monitors}
    assert len(settings) == 1


@pytest.mark.parametrize("cls", [Link, TargetStatus, ConnectionMonitor])
def test_per_connection_records_have_no_instance_dict(cls: type) -> None:
    assert "__slots__" in cls.__dict__
    assert "__dict__" not in dir(cls)


async def test_the_control_ping_memory_is_one_bit_per_recent_ping() -> None:
    async with aiohttp.ClientSession() as session:
        monitor = ConnectionMonitor(_targets(1)[0], session=session, sink=NullSink())
    probe = monitor.sessions[ProbeMode.CONTROL]
    assert len(probe._unanswered_bits) * 8 == RECENT_PINGS


async def test_stopped_is_set_when_asked_for_before_or_after_run_returns() -> None:
    targets = _targets(2)
    async with aiohttp.ClientSession() as session:
        early = ConnectionMonitor(targets[0], session=session, sink=NullSink())
        late = ConnectionMonitor(targets[1], session=session, sink=NullSink())
        waiting = early.stopped
        assert not waiting.is_set()
        tasks = [asyncio.create_task(m.run()) for m in (early, late)]
        await asyncio.sleep(0.05)  # nothing listens on port 9: both are backing off
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert waiting.is_set()
    assert late.stopped.is_set()  # made after run returned: already set


async def test_a_live_connection_costs_two_tasks_and_a_lost_link_wakes_the_probe_loop() -> None:
    async with Emulator() as emu:
        # The peer closes each socket 1 s after it opened.
        emu.faults.set_global(FaultSpec(close_after_s=1.0, close_code=1011))
        sink = Collector()
        # One probe every 30 s: after the first pong the loop sleeps until the next slot.
        target = notification_target(
            emu, modes={ProbeMode.CONTROL}, interval_ns=30_000_000_000,
            probe_frequency_limit_ns=30_000_000_000,
        )  # fmt: skip
        agent = Agent([target], sink=sink)
        loop = asyncio.get_running_loop()
        await agent.start()
        try:
            await wait_until(lambda: len(sink.by(outcome=Outcome.OK)) >= 1)
            connected_at = loop.time()
            names = sorted(t.get_name() for t in asyncio.all_tasks() if "-emu" in t.get_name())
            assert names == ["otel-genesys-monitor-emu", "otel-genesys-read-emu"]
            # The close must wake the sleeping loop, not wait for the next slot 30 s on.
            await wait_until(lambda: agent.monitors[0].status.reconnects >= 1, timeout_s=5.0)
            assert loop.time() - connected_at < 4.0
        finally:
            await agent.stop()
    assert sink.event_kinds()[AuditKind.CONNECTION_LOST] >= 1
