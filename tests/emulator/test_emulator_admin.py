"""The admin API under /__emulator__/ (loopback only)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import aiohttp
import psutil
import pytest
from emulator_helpers import StartEmulator, assert_envelope, bearer, new_channel, open_channel_ws

from otel_genesys.emulator import Emulator
from otel_genesys.emulator.server import is_loopback_peer

WSMsgType = aiohttp.WSMsgType
ADMIN = "/__emulator__"


async def _call(http: aiohttp.ClientSession, emu: Emulator, method: str, path: str,
                body: Any = None) -> tuple[int, Any]:
    async with http.request(method, emu.base_url + ADMIN + path, json=body) as resp:
        return resp.status, await resp.json()


async def test_health_and_counters(emu: Emulator, http: aiohttp.ClientSession) -> None:
    assert await _call(http, emu, "GET", "/health") == (200, {"status": "ok"})
    cid, ws = await open_channel_ws(http, emu)
    await ws.send_str('{"message":"ping"}')
    await ws.receive(timeout=2)
    status, snap = await _call(http, emu, "GET", "/counters")
    assert status == 200
    assert snap["global"]["pongs_sent"] == 1 and snap["global"]["channels_created"] == 1
    assert snap["global"]["connections_open"] == 1
    assert snap["channels"][cid]["pings_json"] == 1
    await ws.close()


async def test_global_faults_put_patch_delete(emu: Emulator, http: aiohttp.ClientSession) -> None:
    status, view = await _call(http, emu, "PUT", "/faults",
                               {"pong_delay": "fixed:5ms", "drop_probability": 0.1, "seed": 3})
    assert status == 200
    assert view["global"]["pong_delay"] == {"distribution": "fixed", "value_s": 0.005,
                                            "max_s": 60.0}
    assert emu.faults.global_spec.drop_probability == 0.1
    status, view = await _call(http, emu, "PATCH", "/faults", {"duplicate": 1})
    assert view["global"]["duplicate"] == 1 and view["global"]["drop_probability"] == 0.1
    status, view = await _call(http, emu, "PUT", "/faults", {"duplicate": 2})
    assert view["global"]["drop_probability"] == 0.0  # PUT replaces
    status, view = await _call(http, emu, "GET", "/faults")
    assert view["global"]["duplicate"] == 2
    status, view = await _call(http, emu, "DELETE", "/faults")
    assert emu.faults.global_spec.is_healthy


async def test_invalid_faults_are_400(emu: Emulator, http: aiohttp.ClientSession) -> None:
    for body in ({"drop_probability": 7}, {"nonsense": True}, ["not", "an", "object"]):
        status, err = await _call(http, emu, "PUT", "/faults", body)
        assert status == 400
        assert_envelope(err, 400, "bad.request")
    async with http.put(emu.base_url + ADMIN + "/faults", data=b"{oops") as resp:
        assert resp.status == 400
    assert emu.faults.global_spec.is_healthy


async def test_channel_faults_live(emu: Emulator, http: aiohttp.ClientSession) -> None:
    cid, ws = await open_channel_ws(http, emu)
    status, view = await _call(http, emu, "PUT", f"/channels/{cid}/faults", {"duplicate": 1})
    assert status == 200 and view["override"]["duplicate"] == 1
    await ws.ping(b"a")
    assert [(await ws.receive(timeout=2)).data for _ in range(2)] == [b"a", b"a"]
    status, view = await _call(http, emu, "PATCH", f"/channels/{cid}/faults",
                               {"close_after_s": 0.05, "close_code": 4009})
    assert view["effective"]["duplicate"] == 1
    msg = await ws.receive(timeout=2)
    assert msg.type is WSMsgType.CLOSE and msg.data == 4009
    await ws.close()
    status, view = await _call(http, emu, "DELETE", f"/channels/{cid}/faults")
    assert view["override"] is None


async def test_close_socket_closing_and_reset(emu: Emulator, http: aiohttp.ClientSession) -> None:
    cid, ws = await open_channel_ws(http, emu)
    status, _ = await _call(http, emu, "POST", f"/channels/{cid}/close",
                            {"code": 4010, "after_s": 0.02, "reason": "bye"})
    assert status == 200
    msg = await ws.receive(timeout=2)
    assert msg.type is WSMsgType.CLOSE and msg.data == 4010 and msg.extra == "bye"
    await ws.close()

    cid, ws = await open_channel_ws(http, emu)
    status, _ = await _call(http, emu, "POST", f"/channels/{cid}/socket_closing", {"lead_s": 0.02})
    assert status == 200
    assert (await ws.receive_json(timeout=2))["topicName"] == "v2.system.socket_closing"
    assert (await ws.receive(timeout=2)).data == 1001
    await ws.close()

    cid, ws = await open_channel_ws(http, emu)
    status, _ = await _call(http, emu, "POST", f"/channels/{cid}/reset", {})
    assert status == 200
    assert (await ws.receive(timeout=2)).type in (WSMsgType.CLOSED, WSMsgType.ERROR)

    status, _ = await _call(http, emu, "POST", "/channels/streaming-0-none/close", {})
    assert status == 409
    status, _ = await _call(http, emu, "POST", f"/channels/{cid}/close", {"code": 1006})
    assert status == 400


async def test_reset_endpoint_and_listing(emu: Emulator, http: aiohttp.ClientSession) -> None:
    channel = await new_channel(http, emu)
    emu.faults.set_global(emu.faults.global_spec.__class__(duplicate=1))
    status, listing = await _call(http, emu, "GET", "/channels")
    assert [e["id"] for e in listing["entities"]] == [channel["id"]]
    status, _ = await _call(http, emu, "POST", "/reset")
    assert status == 200
    assert emu.faults.global_spec.is_healthy
    assert emu.counters.channels_created == 0 and emu.counters.tokens_issued == 0


async def test_token_endpoint(emu: Emulator, http: aiohttp.ClientSession) -> None:
    status, body = await _call(http, emu, "POST", "/tokens", {"client_id": "otel-genesys-demo"})
    assert status == 200
    async with http.get(emu.base_url + "/api/v2/notifications/channels",
                        headers=bearer(body["access_token"])) as resp:
        assert resp.status == 200
    status, _ = await _call(http, emu, "POST", "/tokens", {"client_id": "nobody"})
    assert status == 400


@pytest.mark.parametrize(
    ("peer", "loopback"),
    [(("127.0.0.1", 5), True), (("127.9.9.9", 5), True), (("::1", 5, 0, 0), True),
     (("::ffff:127.0.0.1", 5, 0, 0), True), (("192.0.2.7", 5), False), (("10.0.0.1", 1), False),
     (("::ffff:10.0.0.1", 5, 0, 0), False), (None, False), (("not-an-ip", 1), False)],
)
def test_is_loopback_peer(peer: object, loopback: bool) -> None:
    assert is_loopback_peer(peer) is loopback


def _non_loopback_ipv4() -> str | None:
    for addresses in psutil.net_if_addrs().values():
        for a in addresses:
            if a.family == socket.AF_INET and not ipaddress.ip_address(a.address).is_loopback:
                return str(a.address)
    return None


async def test_non_loopback_peers_get_403(start_emulator: StartEmulator,
                                          http: aiohttp.ClientSession) -> None:
    address = _non_loopback_ipv4()
    if address is None:
        pytest.skip("no non-loopback IPv4 address on this host")
    emu = Emulator()
    await emu.start("0.0.0.0", 0)
    try:
        async with http.get(f"http://{address}:{emu.port}{ADMIN}/counters") as resp:
            assert resp.status == 403
            assert_envelope(await resp.json(), 403, "not.authorized")
        async with http.get(f"http://127.0.0.1:{emu.port}{ADMIN}/counters") as resp:
            assert resp.status == 200
        # The public API is served to everyone.
        async with http.post(f"http://{address}:{emu.port}/api/v2/notifications/channels") as resp:
            assert resp.status == 401
    finally:
        await emu.stop()
