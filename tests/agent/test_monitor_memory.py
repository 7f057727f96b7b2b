"""Per-connection memory: what one `ConnectionMonitor` holds before its first socket.

One agent holds thousands of monitors, so every per-connection object counts:
shared immutable settings, no ``__dict__`` on the per-link records, rarely used
objects (the ``stopped`` event, the background-task set) made on first use.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import aiohttp
import pytest

from otel_genesys.agent.monitor import ConnectionMonitor, Link, TargetStatus
from otel_genesys.config import GenericTarget, MonitorConfig
from otel_genesys.core.outcome import ProbeMode
from otel_genesys.core.probe import RECENT_PINGS
from otel_genesys.core.sink import NullSink

MONITORS = 500
PER_MONITOR_LIMIT = 6 * 1024
"""Bytes per monitor of one CONTROL target, measured by tracemalloc: ~4.9 KiB now,
~7.0 KiB with a ProbeSettings copy, a 1 KiB CONTROL ping memory, an eager Event and
an empty task set per monitor."""


def _targets(n: int) -> list[GenericTarget]:
    monitor = MonitorConfig()
    return [
        GenericTarget(name=f"t{i:05d}", url="ws://127.0.0.1:9/ws", first_message=None,
                      monitor=monitor)
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


@pytest.mark.parametrize("cls", [Link, TargetStatus])
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
