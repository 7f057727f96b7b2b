"""Memory returns to its plateau: faults over and over, and the agent holds no more.

The emulator runs in its own process (so only the agent's allocations are
traced) and is driven through its admin API. Each round injects a fault that
costs a connection or probes, clears it, and waits for OK probes again; the
traced memory after the last round must match the memory after the warm-up
rounds within a small allowance.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import subprocess
import sys
import time
import tracemalloc
import urllib.parse
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import yarl
import yarl._parse
import yarl._quoters
import yarl._url

from otel_genesys.agent.supervisor import Agent
from otel_genesys.core.outcome import Outcome, ProbeOutcome
from otel_genesys.core.sink import NullSink
from tests.chaos.chaos_harness import MODES, SECTIONS, monitor_config, notification_target

WARMUP_ROUNDS = 6
MEASURED_ROUNDS = 8
GROWTH_LIMIT_BYTES = 32 * 1024
"""Allowance for allocator noise, interned strings and caches that fill once."""

ROUND_FAULTS: tuple[dict[str, Any], ...] = (
    {"reset_after_s": 0},
    {"close_after_s": 0, "close_code": 1011},
    {"drop_probability": 1.0},
    {"duplicate": 2, "unsolicited_per_ping": 2},
    {"close_after_s": 0, "close_code": 1001},
    {"pong_delay": "fixed:300ms"},
)


class CountingSink(NullSink):
    """Keeps counts, not objects: the test must not hold memory itself."""

    def __init__(self) -> None:
        self.ok = 0
        self.total = 0

    def outcome(self, outcome: ProbeOutcome) -> None:
        self.total += 1
        if outcome.outcome is Outcome.OK:
            self.ok += 1


@pytest.fixture
def emulator_process() -> Iterator[str]:
    """An emulator in a child process; yields its base URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "otel_genesys",
            "emulator",
            "--port",
            "0",
            "--heartbeat-interval",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, line
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _clear_url_caches() -> None:
    """Empty the bounded URL caches of yarl and urllib.

    Every reconnect dials a new channel URL; those caches (128 entries each)
    fill up over the first hundred reconnects and would look like growth.
    """
    urllib.parse.clear_cache()  # type: ignore[attr-defined]
    yarl.cache_clear()
    for module in (yarl._url, yarl._parse, yarl._quoters):  # bounded lru caches
        for value in vars(module).values():
            if isinstance(value, functools._lru_cache_wrapper):
                value.cache_clear()


_EXCLUDED = (
    # A ring of the last 1024 loop-lag/GC stalls (two ints each); a ticker fills it
    # over the first ten seconds, i.e. during this whole test: bounded, not growth.
    tracemalloc.Filter(False, "*/otel_genesys/core/stall.py"),
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, __file__),
)


def _traced() -> int:
    """Bytes traced now, minus bounded rings that are still filling."""
    _clear_url_caches()
    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(_EXCLUDED)
    return sum(stat.size for stat in snapshot.statistics("filename"))


async def test_chaos_memory_returns_to_plateau(
    emulator_process: str, caplog: pytest.LogCaptureFixture
) -> None:
    # pytest keeps every captured log record for its report: that would be the
    # test's growth, not the agent's. Reconnect warnings are not under test here.
    caplog.set_level(logging.ERROR, logger="otel_genesys")
    base = emulator_process
    sink = CountingSink()
    targets = [
        notification_target(f"mem-{i}-{name}", base, modes, monitor_config())
        for i, (name, modes) in enumerate(MODES.items())
    ]
    agent = Agent(targets, sink=sink)
    admin = f"{base}/__emulator__/faults"
    async with aiohttp.ClientSession() as http:

        async def round_(spec: dict[str, Any]) -> None:
            async with http.put(admin, json=spec) as resp:
                assert resp.status == 200, await resp.text()
            await asyncio.sleep(0.1)
            async with http.delete(admin) as resp:
                assert resp.status in (200, 204)
            before = sink.ok
            deadline = time.perf_counter() + 3.0
            while sink.ok < before + 2 * len(targets) and time.perf_counter() < deadline:
                await asyncio.sleep(0.02)
            assert sink.ok >= before + 2 * len(targets), "no recovery after the fault"

        await agent.start()
        tracemalloc.start()
        try:
            for i in range(WARMUP_ROUNDS):
                await round_(ROUND_FAULTS[i % len(ROUND_FAULTS)])
            plateau = _traced()
            for i in range(MEASURED_ROUNDS):
                await round_(ROUND_FAULTS[(WARMUP_ROUNDS + i) % len(ROUND_FAULTS)])
            after = _traced()
        finally:
            tracemalloc.stop()
            await agent.stop()
    SECTIONS["memory plateau"] = [
        f"{len(targets)} agents, {WARMUP_ROUNDS} warm-up + {MEASURED_ROUNDS} measured fault "
        f"rounds, {sink.total} outcomes: traced {plateau / 1024:.1f} KiB after warm-up, "
        f"{after / 1024:.1f} KiB after; growth {(after - plateau) / 1024:+.1f} KiB "
        f"(limit {GROWTH_LIMIT_BYTES // 1024} KiB)"
    ]
    assert sink.total > 100
    assert after - plateau <= GROWTH_LIMIT_BYTES, (plateau, after)
