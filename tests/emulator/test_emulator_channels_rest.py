"""The Notification API's REST side: channels, subscriptions, error envelopes."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from emulator_helpers import StartEmulator, assert_envelope, bearer, get_token, new_channel

from otel_genesys.emulator import ClientConfig, Emulator, EmulatorConfig, RateLimit
from otel_genesys.secret import Secret

CHANNELS = "/api/v2/notifications/channels"


async def test_create_channel_points_back_here(emu: Emulator,
                                               http: aiohttp.ClientSession) -> None:
    channel = await new_channel(http, emu)
    assert set(channel) == {"connectUri", "id", "expires"}
    assert channel["connectUri"] == f"ws://127.0.0.1:{emu.port}/channels/{channel['id']}"
    assert re.fullmatch(r"streaming-0-[a-z0-9]{26}", channel["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", channel["expires"])
    assert emu.channels() == [channel["id"]]
    assert emu.counters.channels_created == 1


async def test_connect_uri_uses_the_request_host(emu: Emulator,
                                                 http: aiohttp.ClientSession) -> None:
    token = await get_token(http, emu)
    async with http.post(emu.base_url + CHANNELS,
                         headers={**bearer(token), "Host": "emu.example:1234"}) as resp:
        body = await resp.json()
    assert body["connectUri"].startswith("ws://emu.example:1234/channels/")


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, "authentication.required"), ({"Authorization": "Basic abc"}, "authentication.required"),
     (bearer("not-a-token"), "bad.credentials")],
)
async def test_bearer_is_checked(emu: Emulator, http: aiohttp.ClientSession,
                                 headers: dict[str, str], code: str) -> None:
    async with http.post(emu.base_url + CHANNELS, headers=headers) as resp:
        assert resp.status == 401
        body = await resp.json()
        assert_envelope(body, 401, code)
        assert resp.headers["ININ-Correlation-Id"] == body["contextId"]


async def test_list_head_and_get(emu: Emulator, http: aiohttp.ClientSession) -> None:
    token = await get_token(http, emu)
    a = await new_channel(http, emu, token)
    b = await new_channel(http, emu, token)
    async with http.get(emu.base_url + CHANNELS, headers=bearer(token)) as resp:
        ids = [c["id"] for c in (await resp.json())["entities"]]
    assert sorted(ids) == sorted([a["id"], b["id"]])
    async with http.head(f"{emu.base_url}{CHANNELS}/{a['id']}", headers=bearer(token)) as resp:
        assert resp.status == 200
    async with http.get(f"{emu.base_url}{CHANNELS}/{a['id']}", headers=bearer(token)) as resp:
        assert (await resp.json())["id"] == a["id"]
    async with http.head(f"{emu.base_url}{CHANNELS}/streaming-0-nope",
                         headers=bearer(token)) as resp:
        assert resp.status == 404


async def test_other_clients_channels_are_invisible(start_emulator: StartEmulator,
                                                    http: aiohttp.ClientSession) -> None:
    clients = (ClientConfig("a", Secret("pa")), ClientConfig("b", Secret("pb")))
    emu = await start_emulator(EmulatorConfig(clients=clients))
    channel = await new_channel(http, emu, await get_token(http, emu, client_id="a", secret="pa"))
    token_b = await get_token(http, emu, client_id="b", secret="pb")
    async with http.head(f"{emu.base_url}{CHANNELS}/{channel['id']}",
                         headers=bearer(token_b)) as resp:
        assert resp.status == 404
    async with http.get(emu.base_url + CHANNELS, headers=bearer(token_b)) as resp:
        assert (await resp.json())["entities"] == []


async def test_lru_eviction_spares_recently_used(start_emulator: StartEmulator,
                                                 http: aiohttp.ClientSession) -> None:
    emu = await start_emulator(EmulatorConfig(channels_per_client=3))
    token = await get_token(http, emu)
    first = await new_channel(http, emu, token)
    ws = await http.ws_connect(first["connectUri"], autoping=False)
    second = await new_channel(http, emu, token)
    third = await new_channel(http, emu, token)
    # A subscription change uses the first channel: the second is now the LRU one.
    status, _ = await _subs(http, emu, token, first["id"], "PUT", ["v2.users.u.presence"])
    assert status == 200
    fourth = await new_channel(http, emu, token)
    assert set(emu.channels()) == {first["id"], third["id"], fourth["id"]}
    assert second["id"] not in emu.channels()
    assert emu.counters.channels_evicted == 1
    await ws.send_str('{"message":"ping"}')
    msg = await ws.receive(timeout=2)
    assert msg.type is aiohttp.WSMsgType.TEXT  # the first channel's socket is still open
    await ws.close()


async def test_eviction_really_hits_the_least_recently_used(
        start_emulator: StartEmulator, http: aiohttp.ClientSession) -> None:
    emu = await start_emulator(EmulatorConfig(channels_per_client=2))
    token = await get_token(http, emu)
    old = await new_channel(http, emu, token)
    ws = await http.ws_connect(old["connectUri"], autoping=False)
    await new_channel(http, emu, token)
    await new_channel(http, emu, token)
    msg = await ws.receive(timeout=2)
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1001
    assert old["id"] not in emu.channels()
    await ws.close()


async def _subs(http: aiohttp.ClientSession, emu: Emulator, token: str, channel_id: str,
                method: str, topics: list[str] | None = None) -> tuple[int, Any]:
    url = f"{emu.base_url}{CHANNELS}/{channel_id}/subscriptions"
    body = None if topics is None else [{"id": t} for t in topics]
    async with http.request(method, url, json=body, headers=bearer(token)) as resp:
        return resp.status, (await resp.json() if resp.status != 204 else None)


async def test_subscriptions_put_post_get_delete(start_emulator: StartEmulator,
                                                 http: aiohttp.ClientSession) -> None:
    client = ClientConfig("c", Secret("p"), topics=("v2.users.*.presence",))
    emu = await start_emulator(EmulatorConfig(clients=(client,)))
    token = await get_token(http, emu, client_id="c", secret="p")
    cid = (await new_channel(http, emu, token))["id"]
    status, body = await _subs(http, emu, token, cid, "PUT",
                               ["v2.users.u1.presence", "v2.routing.queues.q1.conversations",
                                "bogus topic"])
    assert status == 200
    states = {e["id"]: e for e in body["entities"]}
    assert states["v2.users.u1.presence"] == {"id": "v2.users.u1.presence", "state": "Permitted"}
    rejected = states["v2.routing.queues.q1.conversations"]
    assert rejected["state"] == "Rejected" and rejected["missingPermissions"]
    assert states["bogus topic"]["state"] == "Rejected"
    status, _ = await _subs(http, emu, token, cid, "POST", ["v2.users.u2.presence"])
    assert status == 200
    status, body = await _subs(http, emu, token, cid, "GET")
    assert [e["id"] for e in body["entities"]] == ["v2.users.u1.presence", "v2.users.u2.presence"]
    status, _ = await _subs(http, emu, token, cid, "PUT", ["v2.users.u3.presence"])
    status, body = await _subs(http, emu, token, cid, "GET")
    assert [e["id"] for e in body["entities"]] == ["v2.users.u3.presence"]
    status, _ = await _subs(http, emu, token, cid, "DELETE")
    assert status == 204
    status, body = await _subs(http, emu, token, cid, "GET")
    assert body["entities"] == []


async def test_subscriptions_without_notifications_permission(
        start_emulator: StartEmulator, http: aiohttp.ClientSession) -> None:
    client = ClientConfig("np", Secret("p"), notifications=False)
    emu = await start_emulator(EmulatorConfig(clients=(client,)))
    token = await get_token(http, emu, client_id="np", secret="p")
    cid = (await new_channel(http, emu, token))["id"]
    status, body = await _subs(http, emu, token, cid, "PUT", ["v2.users.u1.presence"])
    assert status == 403
    assert_envelope(body, 403, "missing.permissions")


async def test_topic_limit(start_emulator: StartEmulator, http: aiohttp.ClientSession) -> None:
    emu = await start_emulator(EmulatorConfig(max_topics_per_channel=3))
    token = await get_token(http, emu)
    cid = (await new_channel(http, emu, token))["id"]
    topics = [f"v2.users.u{i}.presence" for i in range(3)]
    assert (await _subs(http, emu, token, cid, "PUT", topics))[0] == 200
    status, body = await _subs(http, emu, token, cid, "POST", ["v2.users.u9.presence"])
    assert status == 400
    assert_envelope(body, 400, "bad.request")
    assert EmulatorConfig().max_topics_per_channel == 1000


async def test_subscription_body_must_be_topic_list(emu: Emulator,
                                                    http: aiohttp.ClientSession) -> None:
    token = await get_token(http, emu)
    cid = (await new_channel(http, emu, token))["id"]
    url = f"{emu.base_url}{CHANNELS}/{cid}/subscriptions"
    for body in (b"{not json", b'{"id": "v2.x"}', b'[{"name": 1}]'):
        async with http.put(url, data=body, headers=bearer(token)) as resp:
            assert resp.status == 400
            assert_envelope(await resp.json(), 400, "bad.request")


async def test_api_rate_limit(start_emulator: StartEmulator, http: aiohttp.ClientSession) -> None:
    client = ClientConfig("r", Secret("p"), api_rate=RateLimit(2, 60.0))
    emu = await start_emulator(EmulatorConfig(clients=(client,)))
    token = await get_token(http, emu, client_id="r", secret="p")
    statuses = []
    for _ in range(3):
        async with http.get(emu.base_url + CHANNELS, headers=bearer(token)) as resp:
            statuses.append(resp.status)
            if resp.status == 429:
                assert "Retry-After" in resp.headers
                assert resp.headers["inin-ratelimit-allowed"] == "2"
                assert_envelope(await resp.json(), 429, "too.many.requests.retry.after")
    assert statuses == [200, 200, 429]


async def test_unknown_path_and_method_get_envelopes(emu: Emulator,
                                                     http: aiohttp.ClientSession) -> None:
    async with http.get(emu.base_url + "/api/v2/nothing/here") as resp:
        assert resp.status == 404
        assert_envelope(await resp.json(), 404, "not.found")
    async with http.delete(emu.base_url + CHANNELS) as resp:
        assert resp.status == 405
        assert_envelope(await resp.json(), 405, "method.not.allowed")
    async with http.get(emu.base_url + "/channels/streaming-0-x") as resp:  # not an upgrade
        assert resp.status == 400
        assert_envelope(await resp.json(), 400, "bad.request")


async def test_unexpected_exception_becomes_500_envelope(
        emu: Emulator, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    token = await get_token(http, emu)

    def boom(client_id: str) -> None:
        raise RuntimeError("kaboom-internal")

    monkeypatch.setattr(emu.channel_store, "of_client", boom)
    async with http.get(emu.base_url + CHANNELS, headers=bearer(token)) as resp:
        assert resp.status == 500
        text = await resp.text()
    assert "kaboom" not in text and "Traceback" not in text
    assert '"internal.server.error"' in text
    assert "kaboom-internal" in caplog.text  # logged on the server side instead
