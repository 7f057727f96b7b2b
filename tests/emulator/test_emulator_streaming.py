"""The notification WebSocket: pongs, heartbeats, socket subscribe, lifecycle."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
import websockets
from emulator_helpers import StartEmulator, assert_envelope, get_token, new_channel, open_channel_ws

from otel_genesys.emulator import Emulator, EmulatorConfig

PONG = {"topicName": "channel.metadata", "eventBody": {"message": "pong"}}
HEARTBEAT = {"topicName": "channel.metadata", "eventBody": {"message": "WebSocket Heartbeat"}}
WSMsgType = aiohttp.WSMsgType


async def test_json_ping_gets_genesys_pong(emu: Emulator, http: aiohttp.ClientSession) -> None:
    cid, ws = await open_channel_ws(http, emu)
    for _ in range(3):
        await ws.send_str('{"message":"ping"}')
        assert await ws.receive_json(timeout=2) == PONG
    await ws.send_str(json.dumps({"message": "ping"}, indent=2))  # any JSON spelling
    assert await ws.receive_json(timeout=2) == PONG
    await ws.close()
    snap = emu.counters.snapshot()["channels"][cid]
    assert snap["pings_json"] == 4 and snap["pongs_sent"] == 4
    assert snap["client_closes_by_code"] == {"1000": 1}


async def test_control_ping_echoes_payload_with_websockets_client(
        emu: Emulator, http: aiohttp.ClientSession) -> None:
    channel = await new_channel(http, emu)
    async with websockets.connect(channel["connectUri"]) as ws:
        for payload in (b"seq-1", b"seq-2", b""):
            waiter = await ws.ping(payload)
            latency = await asyncio.wait_for(waiter, 2)
            assert latency >= 0
    snap = emu.counters.snapshot()["channels"][channel["id"]]
    assert snap["pings_control"] == 3 and snap["pongs_sent"] == 3


async def test_control_pong_is_exact_echo(emu: Emulator, http: aiohttp.ClientSession) -> None:
    _, ws = await open_channel_ws(http, emu)
    await ws.ping(b"\x00\x01payload")
    msg = await ws.receive(timeout=2)
    assert msg.type is WSMsgType.PONG and msg.data == b"\x00\x01payload"
    await ws.close()


async def test_heartbeats_come_at_the_configured_interval(
        start_emulator: StartEmulator, http: aiohttp.ClientSession) -> None:
    emu = await start_emulator(EmulatorConfig(heartbeat_interval_s=0.1))
    cid, ws = await open_channel_ws(http, emu)
    _, ws2 = await open_channel_ws(http, emu)
    started = time.monotonic()
    for _ in range(3):
        assert await ws.receive_json(timeout=2) == HEARTBEAT
    elapsed = time.monotonic() - started
    assert 0.15 < elapsed < 2.0
    assert await ws2.receive_json(timeout=2) == HEARTBEAT
    await ws.close()
    await ws2.close()
    assert emu.counters.channel(cid).heartbeats_sent >= 3
    assert EmulatorConfig().heartbeat_interval_s == 30.0


async def test_socket_subscribe(emu: Emulator, http: aiohttp.ClientSession) -> None:
    cid, ws = await open_channel_ws(http, emu)
    await ws.send_json({"message": "subscribe", "topics": ["v2.users.u1.presence"],
                        "correlationId": "corr-1"})
    assert await ws.receive_json(timeout=2) == {
        "correlationId": "corr-1", "topics": ["v2.users.u1.presence"], "result": "200",
        "status": "subscribed"}
    await ws.send_json({"message": "subscribe", "topics": ["not-a-topic"], "correlationId": "c2"})
    reply = await ws.receive_json(timeout=2)
    assert reply["correlationId"] == "c2" and reply["result"] != "200"
    await ws.close()
    channel = emu.channel_store.get(cid)
    assert channel is not None and list(channel.topics) == ["v2.users.u1.presence"]


async def test_other_text_is_ignored(emu: Emulator, http: aiohttp.ClientSession) -> None:
    cid, ws = await open_channel_ws(http, emu)
    await ws.send_str("not json")
    await ws.send_str('{"message":"hello"}')
    await ws.send_str('{"message":"ping"}')
    assert await ws.receive_json(timeout=2) == PONG
    await ws.close()
    assert emu.counters.channel(cid).other_messages == 2


async def test_unknown_channel_refused_403(emu: Emulator, http: aiohttp.ClientSession) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(f"ws://127.0.0.1:{emu.port}/channels/streaming-0-unknown")
    assert info.value.status == 403
    assert emu.counters.handshakes_refused_by_status == {403: 1}


async def test_channel_expiry_closes_socket_and_refuses_401(
        start_emulator: StartEmulator, http: aiohttp.ClientSession) -> None:
    emu = await start_emulator(EmulatorConfig(channel_lifetime_s=0.3))
    channel = await new_channel(http, emu)
    ws = await http.ws_connect(channel["connectUri"], autoping=False)
    msg = await ws.receive(timeout=3)
    assert msg.type is WSMsgType.CLOSE and msg.data == 1001
    await ws.close()
    assert emu.counters.channels_expired == 1
    assert channel["id"] not in emu.channels()
    async with http.get(channel["connectUri"].replace("ws://", "http://"), headers={
            "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as resp:
        assert resp.status == 401
        assert_envelope(await resp.json(), 401, "credentials.expired")


async def test_subscribing_extends_the_channel(start_emulator: StartEmulator,
                                               http: aiohttp.ClientSession) -> None:
    now = [0.0]
    emu = await start_emulator(EmulatorConfig(channel_lifetime_s=100), clock=lambda: now[0])
    token = await get_token(http, emu)
    cid = (await new_channel(http, emu, token))["id"]
    now[0] = 90.0
    url = f"{emu.base_url}/api/v2/notifications/channels/{cid}/subscriptions"
    async with http.put(url, json=[{"id": "v2.users.u.presence"}],
                        headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
    now[0] = 150.0
    assert cid in emu.channels()
    now[0] = 191.0
    assert cid not in emu.channels()


async def test_second_connection_replaces_the_first(emu: Emulator,
                                                    http: aiohttp.ClientSession) -> None:
    channel = await new_channel(http, emu)
    first = await http.ws_connect(channel["connectUri"], autoping=False)
    second = await http.ws_connect(channel["connectUri"], autoping=False)
    msg = await first.receive(timeout=2)
    assert msg.type is WSMsgType.CLOSE and msg.data == 1001
    await second.send_str('{"message":"ping"}')
    assert await second.receive_json(timeout=2) == PONG
    await first.close()
    await second.close()


async def test_socket_closing_then_1001(emu: Emulator, http: aiohttp.ClientSession) -> None:
    cid, ws = await open_channel_ws(http, emu)
    assert emu.announce_socket_closing(cid, lead_s=0.1)
    started = time.monotonic()
    first = await ws.receive_json(timeout=2)
    assert first["topicName"] == "v2.system.socket_closing"
    msg = await ws.receive(timeout=2)
    assert msg.type is WSMsgType.CLOSE and msg.data == 1001
    assert time.monotonic() - started >= 0.08
    await ws.close()
    assert emu.counters.channel(cid).socket_closing_sent == 1
    assert emu.counters.channel(cid).closes_by_code == {1001: 1}


async def test_scheduled_maintenance_close(start_emulator: StartEmulator,
                                           http: aiohttp.ClientSession) -> None:
    emu = await start_emulator(EmulatorConfig(maintenance_close_after_s=0.3,
                                              socket_closing_lead_s=0.1))
    _, ws = await open_channel_ws(http, emu)
    started = time.monotonic()
    assert (await ws.receive_json(timeout=2))["topicName"] == "v2.system.socket_closing"
    assert time.monotonic() - started >= 0.15
    msg = await ws.receive(timeout=2)
    assert msg.type is WSMsgType.CLOSE and msg.data == 1001
    await ws.close()


async def test_python_close_channel(emu: Emulator, http: aiohttp.ClientSession) -> None:
    cid, ws = await open_channel_ws(http, emu)
    assert emu.close_channel(cid, code=4001)
    msg = await ws.receive(timeout=2)
    assert msg.type is WSMsgType.CLOSE and msg.data == 4001
    await ws.close()
    assert not emu.close_channel(cid)
    assert emu.counters.snapshot()["global"]["closes_by_code"] == {"4001": 1}


async def test_stop_closes_open_sockets(start_emulator: StartEmulator,
                                        http: aiohttp.ClientSession) -> None:
    emu = await start_emulator()
    _, ws = await open_channel_ws(http, emu)
    assert emu.open_connections() == 1
    stopping = asyncio.create_task(emu.stop())
    msg = await ws.receive(timeout=3)
    assert msg.type is WSMsgType.CLOSE and msg.data == 1001
    await ws.close()
    await asyncio.wait_for(stopping, 5)
    assert emu.counters.total.connections_open == 0
