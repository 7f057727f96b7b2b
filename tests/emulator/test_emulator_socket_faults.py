"""Every socket fault, observed by an independent client over a real socket."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from emulator_helpers import StartEmulator, new_channel, open_channel_ws

from otel_genesys.emulator import DelaySpec, Emulator, EmulatorConfig, FaultSpec

WSMsgType = aiohttp.WSMsgType
PING = '{"message":"ping"}'


async def _rtt_json(ws: aiohttp.ClientWebSocketResponse) -> float:
    started = time.perf_counter()
    await ws.send_str(PING)
    msg = await ws.receive(timeout=2)
    assert msg.type is WSMsgType.TEXT
    return time.perf_counter() - started


async def _rtt_control(ws: aiohttp.ClientWebSocketResponse, payload: bytes) -> float:
    started = time.perf_counter()
    await ws.ping(payload)
    msg = await ws.receive(timeout=2)
    assert msg.type is WSMsgType.PONG and msg.data == payload
    return time.perf_counter() - started


async def _silent(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> bool:
    try:
        msg = await ws.receive(timeout=seconds)
    except TimeoutError:
        return True
    raise AssertionError(f"expected silence, got {msg!r}")


async def test_fixed_delay_applies_to_json_and_control(emu: Emulator,
                                                       http: aiohttp.ClientSession) -> None:
    cid, ws = await open_channel_ws(http, emu)
    emu.faults.set_global(FaultSpec(pong_delay=DelaySpec.fixed(0.03)))
    assert await _rtt_json(ws) >= 0.029
    assert await _rtt_control(ws, b"c1") >= 0.029
    emu.faults.clear()
    assert await _rtt_json(ws) < 0.029
    await ws.close()
    c = emu.counters.channel(cid)
    assert c.pongs_delayed == 2 and c.pongs_sent == 3


async def test_seeded_uniform_delay_within_bounds(emu: Emulator,
                                                  http: aiohttp.ClientSession) -> None:
    _, ws = await open_channel_ws(http, emu)
    emu.faults.set_global(FaultSpec(pong_delay=DelaySpec.uniform(0.01, 0.02), seed=5))
    rtts = [await _rtt_json(ws) for _ in range(5)]
    assert all(0.0095 <= r < 1.0 for r in rtts)
    await ws.close()


async def test_per_channel_fault_overrides_global(emu: Emulator,
                                                  http: aiohttp.ClientSession) -> None:
    slow_id, slow = await open_channel_ws(http, emu)
    _, fast = await open_channel_ws(http, emu)
    emu.faults.set_channel(slow_id, FaultSpec(pong_delay=DelaySpec.fixed(0.04)))
    assert await _rtt_json(slow) >= 0.039
    assert await _rtt_json(fast) < 0.039
    await slow.close()
    await fast.close()


async def test_drop_all_pongs(emu: Emulator, http: aiohttp.ClientSession) -> None:
    cid, ws = await open_channel_ws(http, emu)
    emu.faults.set_channel(cid, FaultSpec(drop_probability=1.0))
    await ws.send_str(PING)
    await ws.ping(b"x")
    assert await _silent(ws, 0.15)
    await ws.close()
    c = emu.counters.channel(cid)
    assert (c.pings_json, c.pings_control, c.pongs_dropped, c.pongs_sent) == (1, 1, 2, 0)


async def test_drop_probability_is_seeded(emu: Emulator, http: aiohttp.ClientSession) -> None:
    cid, ws = await open_channel_ws(http, emu)
    emu.faults.set_channel(cid, FaultSpec(drop_probability=0.5, seed=11))
    for i in range(40):
        await ws.ping(b"%d" % i)
    got = 0
    while True:
        try:
            msg = await ws.receive(timeout=0.2)
        except TimeoutError:
            break
        got += msg.type is WSMsgType.PONG
    await ws.close()
    c = emu.counters.channel(cid)
    assert c.pongs_sent == got and c.pongs_dropped == 40 - got
    assert 5 < got < 35


async def test_blackhole_keeps_tcp_open_and_answers_nothing(
        start_emulator: StartEmulator, http: aiohttp.ClientSession) -> None:
    emu = await start_emulator(EmulatorConfig(heartbeat_interval_s=0.05))
    cid, ws = await open_channel_ws(http, emu)
    emu.faults.set_channel(cid, FaultSpec(blackhole=True))
    await ws.send_str(PING)
    await ws.ping(b"p")
    await ws.send_json({"message": "subscribe", "topics": ["v2.users.u.presence"],
                        "correlationId": "c"})
    # Heartbeats that were already on the wire may still arrive; then nothing.
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        try:
            msg = await ws.receive(timeout=0.1)
        except TimeoutError:
            continue
        assert msg.type is WSMsgType.TEXT and "Heartbeat" in msg.data
    assert await _silent(ws, 0.2)
    assert not ws.closed
    assert emu.counters.channel(cid).pongs_blackholed == 2
    emu.faults.clear_channel(cid)
    await ws.send_str(PING)
    msg = await ws.receive(timeout=2)
    assert msg.type is WSMsgType.TEXT
    await ws.close()


async def test_blackhole_ignores_close_frames(emu: Emulator, http: aiohttp.ClientSession) -> None:
    # The client gives up waiting for the close reply after 0.2 s.
    cid, ws = await open_channel_ws(http, emu, timeout=aiohttp.ClientWSTimeout(ws_close=0.2))
    emu.faults.set_channel(cid, FaultSpec(blackhole=True))
    started = time.monotonic()
    await ws.close()
    assert time.monotonic() - started >= 0.15
    assert emu.counters.channel(cid).closes_by_code == {}
    await asyncio.sleep(0.3)
    assert emu.counters.channel(cid).connections_open == 0


async def test_duplicate_pongs(emu: Emulator, http: aiohttp.ClientSession) -> None:
    cid, ws = await open_channel_ws(http, emu)
    emu.faults.set_channel(cid, FaultSpec(duplicate=2))
    await ws.ping(b"d1")
    got = [await ws.receive(timeout=2) for _ in range(3)]
    assert all(m.type is WSMsgType.PONG and m.data == b"d1" for m in got)
    await ws.send_str(PING)
    texts = [await ws.receive(timeout=2) for _ in range(3)]
    assert all(m.type is WSMsgType.TEXT for m in texts)
    assert await _silent(ws, 0.1)
    await ws.close()
    c = emu.counters.channel(cid)
    assert c.pongs_sent == 2 and c.pongs_duplicated == 4


async def test_unsolicited_pongs(emu: Emulator, http: aiohttp.ClientSession) -> None:
    cid, ws = await open_channel_ws(http, emu)
    emu.faults.set_channel(cid, FaultSpec(unsolicited_per_ping=2))
    await ws.ping(b"mine")
    got = [await ws.receive(timeout=2) for _ in range(3)]
    payloads = [m.data for m in got if m.type is WSMsgType.PONG]
    assert len(payloads) == 3 and payloads.count(b"mine") == 1
    assert all(p.startswith(b"emulator-unsolicited-") for p in payloads if p != b"mine")
    await ws.close()
    assert emu.counters.channel(cid).unsolicited_sent == 2


async def test_reset_after(emu: Emulator, http: aiohttp.ClientSession) -> None:
    cid, ws = await open_channel_ws(http, emu)
    emu.faults.set_channel(cid, FaultSpec(reset_after_s=0.05))
    msg = await ws.receive(timeout=2)
    # An RST: no close frame ever arrives, the socket just dies.
    assert msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR)
    assert emu.counters.channel(cid).resets == 1
    assert emu.counters.channel(cid).closes_by_code == {}


async def test_close_after_with_code_counts_from_when_set(emu: Emulator,
                                                          http: aiohttp.ClientSession) -> None:
    cid, ws = await open_channel_ws(http, emu)
    await asyncio.sleep(0.1)
    started = time.monotonic()
    emu.faults.set_channel(cid, FaultSpec(close_after_s=0.1, close_code=4002))
    msg = await ws.receive(timeout=2)
    assert msg.type is WSMsgType.CLOSE and msg.data == 4002
    assert time.monotonic() - started >= 0.09
    await ws.close()
    assert emu.counters.channel(cid).closes_by_code == {4002: 1}


async def test_unrelated_fault_change_keeps_pending_close(emu: Emulator,
                                                          http: aiohttp.ClientSession) -> None:
    cid, ws = await open_channel_ws(http, emu)
    emu.faults.set_channel(cid, FaultSpec(close_after_s=1.0, close_code=4003))
    await asyncio.sleep(0.5)
    emu.faults.set_channel(cid, FaultSpec(close_after_s=1.0, close_code=4003, duplicate=1))
    started = time.monotonic()
    msg = await ws.receive(timeout=3)
    # The close keeps its deadline (0.5 s from here); a restarted one would take 1.0 s.
    # The margin between the two is wide enough for a loaded CI machine's stalls.
    assert msg.data == 4003 and time.monotonic() - started < 0.8
    await ws.close()


async def test_heartbeat_stop(start_emulator: StartEmulator, http: aiohttp.ClientSession) -> None:
    emu = await start_emulator(EmulatorConfig(heartbeat_interval_s=0.05))
    cid, ws = await open_channel_ws(http, emu)
    assert "Heartbeat" in (await ws.receive(timeout=2)).data
    emu.faults.set_channel(cid, FaultSpec(heartbeat_stop=True))
    await asyncio.sleep(0.02)  # let a beat already in flight land
    while True:
        try:
            await ws.receive(timeout=0.01)
        except TimeoutError:
            break
    before = emu.counters.channel(cid).heartbeats_sent
    assert await _silent(ws, 0.25)
    assert emu.counters.channel(cid).heartbeats_sent == before
    await ws.send_str(PING)  # pongs still flow
    assert (await ws.receive(timeout=2)).type is WSMsgType.TEXT
    await ws.close()


@pytest.mark.parametrize("status", [401, 403, 429, 503])
async def test_handshake_refusal(emu: Emulator, http: aiohttp.ClientSession, status: int) -> None:
    channel = await new_channel(http, emu)
    emu.faults.set_channel(channel["id"], FaultSpec(handshake_status=status))
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(channel["connectUri"])
    assert info.value.status == status
    assert emu.counters.handshakes_refused_by_status == {status: 1}


async def test_slow_handshake(emu: Emulator, http: aiohttp.ClientSession) -> None:
    channel = await new_channel(http, emu)
    emu.faults.set_global(FaultSpec(handshake_delay_s=0.15))
    started = time.monotonic()
    ws = await http.ws_connect(channel["connectUri"])
    assert time.monotonic() - started >= 0.14
    await ws.close()


async def test_faults_from_config_apply_at_start(start_emulator: StartEmulator,
                                                 http: aiohttp.ClientSession) -> None:
    emu = await start_emulator(EmulatorConfig(faults=FaultSpec(duplicate=1)))
    _, ws = await open_channel_ws(http, emu)
    await ws.ping(b"z")
    assert [(await ws.receive(timeout=2)).data for _ in range(2)] == [b"z", b"z"]
    await ws.close()
