"""The handshake span carries its phases: DNS, TCP connect, HTTP upgrade."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web

from otel_genesys.agent.handshake_trace import handshake_trace_config, timing_phases
from otel_genesys.agent.supervisor import Agent
from otel_genesys.core.events import LifecycleStep
from otel_genesys.core.outcome import ProbeMode
from otel_genesys.emulator import Emulator
from tests.e2e.e2e_helpers import Collector, generic_target, notification_target, wait_until

UPGRADE_DELAY_S = 0.05


async def _echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()  # autoping: answers RFC 6455 pings
    await ws.prepare(request)
    async for _ in ws:
        pass
    return ws


async def _serve(handler: Any) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]


async def test_agent_handshake_span_carries_connect_and_upgrade() -> None:
    runner, port = await _serve(_echo)
    try:
        sink = Collector()
        agent = Agent([generic_target(f"ws://127.0.0.1:{port}/ws")], sink=sink)
        await agent.start()
        await wait_until(lambda: any(r.step is LifecycleStep.HANDSHAKE for r in sink.lifecycles))
        await agent.stop()
    finally:
        await runner.cleanup()
    record = next(r for r in sink.lifecycles if r.step is LifecycleStep.HANDSHAKE)
    phases = dict(record.phases)
    assert set(phases) == {"connect", "upgrade"}, phases  # an IP address: no DNS phase
    assert all(v >= 0 for v in phases.values())
    assert sum(phases.values()) <= record.end_wall_ns - record.start_wall_ns + 2_000_000


async def test_a_pooled_connection_reports_only_the_upgrade() -> None:
    # The emulator serves REST and streaming on one host: the handshake reuses the
    # keep-alive connection of the channel request, so no connect phase is invented.
    async with Emulator() as emu:
        sink = Collector()
        agent = Agent([notification_target(emu, modes={ProbeMode.CONTROL})], sink=sink)
        await agent.start()
        await wait_until(lambda: any(r.step is LifecycleStep.HANDSHAKE for r in sink.lifecycles))
        await agent.stop()
    record = next(r for r in sink.lifecycles if r.step is LifecycleStep.HANDSHAKE)
    assert [name for name, _ in record.phases] == ["upgrade"]


async def _slow_upgrade(request: web.Request) -> web.WebSocketResponse:
    await asyncio.sleep(UPGRADE_DELAY_S)  # the server thinks before answering 101
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    await ws.close()
    return ws


async def test_phases_split_dns_connect_and_a_slow_upgrade() -> None:
    runner, port = await _serve(_slow_upgrade)
    try:
        async with aiohttp.ClientSession(trace_configs=[handshake_trace_config()]) as session:
            # a host name (resolved) and a cold connection: every phase fires
            with timing_phases() as timer:
                ws = await session.ws_connect(f"http://localhost:{port}/ws")
            await ws.close()
            # outside the block nothing is recorded, and other requests never mix in
            other = await session.ws_connect(f"http://127.0.0.1:{port}/ws")
            await other.close()
    finally:
        await runner.cleanup()
    phases = dict(timer.phases())
    assert list(phases)[-1] == "upgrade"
    assert {"dns", "connect", "upgrade"} <= set(phases), phases
    # the server's 50 ms pause lands in the upgrade phase, not in connect
    assert phases["upgrade"] >= UPGRADE_DELAY_S * 1e9 * 0.9, phases
    assert phases["connect"] < phases["upgrade"], phases


async def test_without_trace_events_the_whole_handshake_is_the_upgrade() -> None:
    ticks = iter([0, 10, 30])
    with timing_phases(lambda: next(ticks)) as timer:
        pass
    assert timer.phases() == (("upgrade", 10),)
