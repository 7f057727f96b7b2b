"""``/__emulator__/overshoots``: the per-pong timer overshoot, in send order, over HTTP."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from emulator_helpers import open_channel_ws

from otel_genesys.emulator import Emulator

OVERSHOOTS = "/__emulator__/overshoots"


async def _get(http: aiohttp.ClientSession, emu: Emulator, query: str = "") -> dict[str, Any]:
    async with http.get(emu.base_url + OVERSHOOTS + query) as resp:
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body


async def _set_delay(http: aiohttp.ClientSession, emu: Emulator, body: dict[str, Any]) -> None:
    async with http.put(emu.base_url + "/__emulator__/faults", json=body) as resp:
        assert resp.status == 200, await resp.text()


async def _ping_pong(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[tuple[float, float]]:
    """``n`` control pings one at a time; (sent, pong received) on the monotonic clock."""
    out = []
    for i in range(n):
        sent = time.monotonic()
        await ws.ping(b"p%d" % i)
        msg = await ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.PONG and msg.data == b"p%d" % i
        out.append((sent, time.monotonic()))
    return out


async def test_emulator_overshoots_per_pong_in_send_order(
        emu: Emulator, http: aiohttp.ClientSession) -> None:
    _, ws = await open_channel_ws(http, emu)
    try:
        # Undelayed pongs leave inline: no timer, nothing recorded.
        await _ping_pong(ws, 2)
        empty = await _get(http, emu)
        assert empty == {"first": 0, "next": 0, "lost": 0, "overshoot_ms": [],
                         "delay_ms": [], "received_s": []}

        await _set_delay(http, emu, {"pong_delay": "fixed:20ms"})
        first = await _ping_pong(ws, 3)
        await _set_delay(http, emu, {"pong_delay": "fixed:5ms"})
        second = await _ping_pong(ws, 2)
        body = await _get(http, emu)
        assert (body["first"], body["next"], body["lost"]) == (0, 5, 0)
        assert body["delay_ms"] == [20.0, 20.0, 20.0, 5.0, 5.0]
        assert all(o >= 0 for o in body["overshoot_ms"])
        # Entry i is the pong of ping i: the emulator read it between our send and our
        # receive (same monotonic clock on one host), and the pong came back no earlier
        # than delay + overshoot after that.
        for (sent, got), recv, delay, over in zip(first + second, body["received_s"],
                                                  body["delay_ms"], body["overshoot_ms"],
                                                  strict=True):
            assert sent <= recv <= got
            assert got - recv >= (delay + over) / 1e3 - 1e-4
        # The raw list and the counters' summary describe the same pongs.
        async with http.get(emu.base_url + "/__emulator__/counters") as resp:
            summary = (await resp.json())["global"]["delay_overshoot_ms"]
        assert summary["count"] == 5
        assert summary["max"] == round(max(body["overshoot_ms"]), 4)

        tail = await _get(http, emu, "?since=3")
        assert (tail["first"], tail["next"]) == (3, 5)
        assert tail["delay_ms"] == [5.0, 5.0]
        assert tail["overshoot_ms"] == body["overshoot_ms"][3:]
        beyond = await _get(http, emu, "?since=9")
        assert (beyond["first"], beyond["next"], beyond["overshoot_ms"]) == (5, 5, [])
    finally:
        await ws.close()


async def test_emulator_overshoots_reset_restarts_numbering(
        emu: Emulator, http: aiohttp.ClientSession) -> None:
    _, ws = await open_channel_ws(http, emu)
    try:
        await _set_delay(http, emu, {"pong_delay": "fixed:2ms"})
        await _ping_pong(ws, 2)
        async with http.delete(emu.base_url + OVERSHOOTS) as resp:
            assert resp.status == 200
            assert await resp.json() == {"cleared": 2}
        assert (await _get(http, emu))["next"] == 0
        # Other counters are left alone by DELETE.
        async with http.get(emu.base_url + "/__emulator__/counters") as resp:
            assert (await resp.json())["global"]["pongs_delayed"] == 2
        await _ping_pong(ws, 1)
        after = await _get(http, emu)
        assert (after["first"], after["next"], after["delay_ms"]) == (0, 1, [2.0])
        # POST /reset clears them as well.
        async with http.post(emu.base_url + "/__emulator__/reset") as resp:
            assert resp.status == 200
        assert (await _get(http, emu))["next"] == 0
        async with http.get(emu.base_url + OVERSHOOTS + "?since=-1") as resp:
            assert resp.status == 400
        async with http.get(emu.base_url + OVERSHOOTS + "?since=x") as resp:
            assert resp.status == 400
    finally:
        await ws.close()


def test_emulator_overshoots_log_is_bounded_and_reports_losses() -> None:
    from otel_genesys.emulator.counters import _MAX_OVERSHOOTS, EmulatorCounters

    counters = EmulatorCounters()
    total = counters.total
    for i in range(_MAX_OVERSHOOTS + 5):
        counters.channel("c").delay_overshoot(i * 1e-6, 0.005, float(i))
    body = total.overshoots_since(0)
    assert (body["first"], body["next"], body["lost"]) == (5, _MAX_OVERSHOOTS + 5, 5)
    assert len(body["overshoot_ms"]) == _MAX_OVERSHOOTS
    assert body["received_s"][0] == 5.0
    assert total.overshoots_since(_MAX_OVERSHOOTS + 3)["received_s"] == [
        float(_MAX_OVERSHOOTS + 3), float(_MAX_OVERSHOOTS + 4)]
