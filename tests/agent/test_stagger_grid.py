"""The stagger grid: targets on one step of it ping together, on the same slots for good.

Real sockets: an aiohttp server on 127.0.0.1 stamps each ping as it arrives,
and drops every connection once after its first ping so the reconnect is seen
to come back to its slot. The first ping of each link leaves its offset after
the connect (as without a grid); from the second on, the target pings on its
slot of the agent's grid.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import pytest
from aiohttp import WSMsgType, web

from otel_genesys.agent.supervisor import Agent
from otel_genesys.config import GenericTarget, MonitorConfig

INTERVAL_NS = 300_000_000
TARGETS = 6


class _Server:
    def __init__(self, *, drop_first: bool) -> None:
        self.arrivals: dict[str, list[int]] = defaultdict(list)
        """Per target (the URL's last segment), the server's clock at each ping but the
        first of each connection."""
        self.connects: dict[str, int] = defaultdict(int)
        self._drop_first = drop_first
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        name = request.match_info["name"]
        self.connects[name] += 1
        first_connection = self.connects[name] == 1
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        first_ping = True
        async for msg in ws:
            if msg.type is WSMsgType.PING:
                if not first_ping:
                    self.arrivals[name].append(time.perf_counter_ns())
                first_ping = False
                await ws.pong(msg.data)
                if first_connection and self._drop_first:
                    await ws.close()
        return ws

    async def __aenter__(self) -> _Server:
        app = web.Application()
        app.router.add_get("/ws/{name}", self._socket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"ws://127.0.0.1:{port}/ws"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


async def _run(server: _Server, grid_ns: int, pings: int) -> Agent:
    monitor = MonitorConfig(
        interval_ns=INTERVAL_NS,
        probe_frequency_limit_ns=INTERVAL_NS,
        stagger_grid_ns=grid_ns,
        reconnect_base_ns=1_000_000,
    )
    targets = [
        GenericTarget(name=f"t{i}", url=f"{server.url}/t{i}", first_message=None,
                      monitor=monitor)
        for i in range(TARGETS)
    ]
    agent = Agent(targets)
    await agent.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (
            len(server.arrivals) < TARGETS
            or min(len(v) for v in server.arrivals.values()) < pings
        ):
            await asyncio.sleep(0.02)
    finally:
        await agent.stop()
    return agent


def _phase(agent: Agent, arrival_ns: int) -> int:
    return (arrival_ns - agent.started_ns) % INTERVAL_NS


@pytest.mark.parametrize(
    ("grid_ns", "groups"),
    [
        (0, [[0], [1], [2], [3], [4], [5]]),  # every target its own offset, 50 ms apart
        (100_000_000, [[0, 1], [2, 3], [4, 5]]),  # two targets a step
        (150_000_000, [[0, 1, 2], [3, 4, 5]]),  # three a step
    ],
)
async def test_targets_on_one_step_ping_together_and_steps_stay_apart(
    grid_ns: int, groups: list[list[int]]
) -> None:
    async with _Server(drop_first=False) as server:
        agent = await _run(server, grid_ns, pings=3)
    for members in groups:
        # Every ping of a slot, all targets and rounds together: the same offset in the
        # interval, a few milliseconds apart at most on an idle loop.
        phases = [_phase(agent, t) for i in members for t in server.arrivals[f"t{i}"][:3]]
        slot = members[0] * INTERVAL_NS // TARGETS
        slot -= slot % grid_ns if grid_ns else 0
        assert all(slot <= p < slot + 20_000_000 for p in phases), (members, slot, phases)
    # Targets of one step leave in one wake-up: their first pings arrive together.
    for members in groups:
        firsts = [server.arrivals[f"t{i}"][0] for i in members]
        assert max(firsts) - min(firsts) < 10_000_000, firsts


async def test_a_reconnected_target_comes_back_to_its_slot() -> None:
    grid_ns = 100_000_000
    async with _Server(drop_first=True) as server:
        agent = await _run(server, grid_ns, pings=4)
    for i in range(TARGETS):
        name = f"t{i}"
        assert server.connects[name] >= 2, dict(server.connects)
        slot = i * INTERVAL_NS // TARGETS
        slot -= slot % grid_ns
        # Every ping after the reconnect's first: on the target's slot, as before the
        # drop (without the agent's grid the slots would count from the reconnect).
        phases = [_phase(agent, t) for t in server.arrivals[name]]
        assert all(slot <= p < slot + 20_000_000 for p in phases), (name, slot, phases)
