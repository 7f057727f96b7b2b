"""The tutorial's /v2/analytics/events/realtime endpoint."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest
import websockets
from emulator_helpers import StartEmulator, get_token

from otel_genesys.emulator import DelaySpec, Emulator, EmulatorConfig, FaultSpec

WSMsgType = aiohttp.WSMsgType


def _subscribe(token: str, connection_id: str = "monitor-prod-001") -> str:
    return json.dumps({"type": "subscribe", "token": token, "connectionId": connection_id,
                       "settings": {"pingInterval": "2s", "driftCompensation": {
                           "enabled": True, "maxDriftMs": 10, "adjustFactor": 0.95}}})


async def test_subscribe_then_pings(emu: Emulator, http: aiohttp.ClientSession) -> None:
    token = await get_token(http, emu)
    async with websockets.connect(emu.realtime_url) as ws:
        await ws.send(_subscribe(token))
        ack = json.loads(await ws.recv())
        assert ack == {"type": "subscribed", "connectionId": "monitor-prod-001"}
        for i in range(3):
            await (await ws.ping(b"n%d" % i))
    c = emu.counters.get("monitor-prod-001")
    assert c is not None and c.pings_control == 3 and c.pongs_sent == 3
    assert emu.counters.realtime_subscribed == 1


async def test_issue_token_and_per_connection_faults(emu: Emulator,
                                                     http: aiohttp.ClientSession) -> None:
    emu.faults.set_channel("slow-conn-01", FaultSpec(pong_delay=DelaySpec.fixed(0.04)))
    ws = await http.ws_connect(emu.realtime_url, autoping=False)
    await ws.send_str(_subscribe(emu.issue_token("otel-genesys-demo"), "slow-conn-01"))
    assert (await ws.receive_json(timeout=2))["type"] == "subscribed"
    started = time.perf_counter()
    await ws.ping(b"x")
    msg = await ws.receive(timeout=2)
    assert msg.type is WSMsgType.PONG and time.perf_counter() - started >= 0.039
    assert emu.close_channel("slow-conn-01", code=4005)
    msg = await ws.receive(timeout=2)
    assert msg.type is WSMsgType.CLOSE and msg.data == 4005
    await ws.close()


async def _expect_close(ws: aiohttp.ClientWebSocketResponse, code: int) -> None:
    msg = await ws.receive(timeout=3)
    assert msg.type is WSMsgType.CLOSE, msg
    assert msg.data == code
    await ws.close()


@pytest.mark.parametrize(
    "first",
    ["{not json", '["subscribe"]', '{"type":"hello"}',
     '{"type":"subscribe","token":"t","connectionId":"short"}',
     '{"type":"subscribe","token":"t","connectionId":"conn-0001","settings":"fast"}'],
)
async def test_malformed_subscribe_closes_1002(emu: Emulator, http: aiohttp.ClientSession,
                                               first: str) -> None:
    ws = await http.ws_connect(emu.realtime_url, autoping=False)
    await ws.send_str(first)
    await _expect_close(ws, 1002)
    assert emu.counters.total.closes_by_code == {1002: 1}
    assert emu.counters.realtime_rejected == 1


@pytest.mark.parametrize("token", [None, "unknown-token", 42])
async def test_bad_token_closes_1008(emu: Emulator, http: aiohttp.ClientSession,
                                     token: object) -> None:
    ws = await http.ws_connect(emu.realtime_url, autoping=False)
    body: dict[str, object] = {"type": "subscribe", "connectionId": "conn-0001", "settings": {}}
    if token is not None:
        body["token"] = token
    await ws.send_json(body)
    await _expect_close(ws, 1008)


async def test_expired_token_closes_1008(start_emulator: StartEmulator,
                                         http: aiohttp.ClientSession) -> None:
    now = [0.0]
    emu = await start_emulator(clock=lambda: now[0])
    token = emu.issue_token("otel-genesys-demo")
    now[0] = 10 * 86400.0
    ws = await http.ws_connect(emu.realtime_url, autoping=False)
    await ws.send_str(_subscribe(token))
    await _expect_close(ws, 1008)


async def test_oversize_closes_1009(emu: Emulator, http: aiohttp.ClientSession) -> None:
    ws = await http.ws_connect(emu.realtime_url, autoping=False)
    await ws.send_str(json.dumps({"type": "subscribe", "pad": "x" * 70000}))
    await _expect_close(ws, 1009)
    assert emu.counters.total.closes_by_code == {1009: 1}


async def test_just_under_the_limit_is_accepted(emu: Emulator) -> None:
    token = emu.issue_token("otel-genesys-demo")
    base = json.loads(_subscribe(token))
    base["settings"]["pad"] = ""
    base["settings"]["pad"] = "x" * (65536 - len(json.dumps(base)))
    text = json.dumps(base)
    assert len(text.encode()) == 65536
    async with websockets.connect(emu.realtime_url, max_size=None) as ws:
        await ws.send(text)
        assert json.loads(await ws.recv())["type"] == "subscribed"


async def test_no_subscribe_in_time_closes_1008(start_emulator: StartEmulator,
                                                http: aiohttp.ClientSession) -> None:
    emu = await start_emulator(EmulatorConfig(realtime_subscribe_timeout_s=0.15))
    ws = await http.ws_connect(emu.realtime_url, autoping=False)
    await ws.ping(b"early")  # answered even before the subscribe
    msg = await ws.receive(timeout=2)
    assert msg.type is WSMsgType.PONG and msg.data == b"early"
    await _expect_close(ws, 1008)


async def test_realtime_handshake_faults(emu: Emulator, http: aiohttp.ClientSession) -> None:
    emu.faults.set_global(FaultSpec(handshake_status=503))
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(emu.realtime_url)
    assert info.value.status == 503
