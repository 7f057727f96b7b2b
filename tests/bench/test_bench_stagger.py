"""The agent staggers its targets' first probes over one interval (a bench finding).

Without it every socket of a large agent pings in the same instant: the pongs
queue behind each other on the agent's own event loop and the agent reports
its queue as network latency (bench/results/REPORT.md, *Optimisations*).
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from bench.pong_server import make_app
from otel_genesys.agent.supervisor import Agent
from otel_genesys.config import GenericTarget, MonitorConfig
from otel_genesys.core.outcome import Outcome, ProbeOutcome

INTERVAL_NS = 400_000_000
TARGETS = 4


async def test_bench_first_probes_are_staggered_across_the_interval() -> None:
    runner = web.AppRunner(make_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert site._server is not None
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monitor = MonitorConfig(interval_ns=INTERVAL_NS, probe_frequency_limit_ns=INTERVAL_NS)
    targets = [
        GenericTarget(name=f"s{i}", url=f"ws://127.0.0.1:{port}/ws", first_message=None,
                      monitor=monitor)
        for i in range(TARGETS)
    ]
    agent = Agent(targets)
    first: dict[str, ProbeOutcome] = {}
    opened: dict[str, int | None] = {}

    def collect(o: ProbeOutcome) -> None:
        if o.target.name not in first:
            first[o.target.name] = o
            m = next(m for m in agent.monitors if m.target.name == o.target.name)
            opened[o.target.name] = m.status.connected_since_ns

    agent.on_outcome(collect)
    try:
        await agent.start()
        deadline = time.monotonic() + 10
        while len(first) < TARGETS and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    finally:
        await agent.stop()
        await runner.cleanup()
    assert len(first) == TARGETS, first
    assert all(o.outcome is Outcome.OK for o in first.values())
    offsets = [first[f"s{i}"].sent_ns - (opened[f"s{i}"] or 0) for i in range(TARGETS)]
    for i, offset in enumerate(offsets):
        # Target i of N waits i/N of an interval after its connect: never less.
        assert offset >= i * INTERVAL_NS // TARGETS, offsets
    # ...and the first target does not wait at all (a one-target agent probes at once).
    assert offsets[0] < INTERVAL_NS // 2, offsets
