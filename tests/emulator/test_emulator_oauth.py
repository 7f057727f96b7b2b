"""POST /oauth/token over a real socket."""

from __future__ import annotations

import aiohttp
import pytest
from emulator_helpers import FORM, StartEmulator, assert_envelope, basic, bearer, get_token

from otel_genesys.emulator import (
    ClientConfig,
    Emulator,
    EmulatorConfig,
    FaultSpec,
    RateLimit,
)
from otel_genesys.secret import Secret

GRANT = "grant_type=client_credentials"


async def _post(http: aiohttp.ClientSession, emu: Emulator, body: str = GRANT,
                headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
    hdrs = {"Authorization": basic(), **FORM} if headers is None else headers
    resp = await http.post(emu.base_url + "/oauth/token", data=body, headers=hdrs)
    await resp.read()
    return resp


async def test_issues_opaque_bearer_token(emu: Emulator, http: aiohttp.ClientSession) -> None:
    resp = await _post(http, emu)
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86400
    assert len(body["access_token"]) >= 40
    again = await (await _post(http, emu)).json()
    assert again["access_token"] != body["access_token"]
    assert emu.counters.tokens_issued == 2


@pytest.mark.parametrize(
    "authorization",
    [None, basic(secret="wrong"), basic(client_id="nobody"), "Basic !!!notbase64", "Bearer x"],
)
async def test_bad_client_is_invalid_client(emu: Emulator, http: aiohttp.ClientSession,
                                            authorization: str | None) -> None:
    headers = dict(FORM)
    if authorization:
        headers["Authorization"] = authorization
    resp = await _post(http, emu, headers=headers)
    assert resp.status == 401
    assert await resp.json() == {"error": "invalid_client", "description": "authentication failed",
                                 "error_description": "authentication failed"}
    assert emu.counters.token_errors_by_status == {401: 1}


async def test_bad_grant_and_body(emu: Emulator, http: aiohttp.ClientSession) -> None:
    resp = await _post(http, emu, body="grant_type=password")
    assert resp.status == 400
    assert (await resp.json())["error"] == "unsupported_grant_type"
    resp = await _post(http, emu, body="scope=x")
    assert resp.status == 400
    assert (await resp.json())["error"] == "invalid_request"
    resp = await _post(http, emu, headers={"Authorization": basic(),
                                           "Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["error"] == "invalid_request"


async def test_per_client_lifetime_and_rate_limit(start_emulator: StartEmulator,
                                                  http: aiohttp.ClientSession) -> None:
    client = ClientConfig("rl", Secret("pw"), token_lifetime_s=300,
                          token_rate=RateLimit(2, 60.0))
    emu = await start_emulator(EmulatorConfig(clients=(client,)))
    auth = {"Authorization": basic("rl", "pw"), **FORM}
    first = await _post(http, emu, headers=auth)
    assert (await first.json())["expires_in"] == 300
    assert (await _post(http, emu, headers=auth)).status == 200
    limited = await _post(http, emu, headers=auth)
    assert limited.status == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["inin-ratelimit-allowed"] == "2"
    assert limited.headers["inin-ratelimit-count"] == "2"
    assert "inin-ratelimit-reset" in limited.headers
    body = await limited.json()
    assert_envelope(body, 429, "too.many.requests.retry.after")
    assert body["message"].startswith("Rate limit exceeded the maximum. Retry the request in [")
    assert limited.headers["ININ-Correlation-Id"] == body["contextId"]


async def test_token_expiry_follows_the_injected_clock(start_emulator: StartEmulator,
                                                       http: aiohttp.ClientSession) -> None:
    now = [1000.0]
    client = ClientConfig("short", Secret("pw"), token_lifetime_s=300)
    emu = await start_emulator(EmulatorConfig(clients=(client,)), clock=lambda: now[0])
    token = await get_token(http, emu, client_id="short", secret="pw")
    url = emu.base_url + "/api/v2/notifications/channels"
    async with http.get(url, headers=bearer(token)) as resp:
        assert resp.status == 200
    now[0] += 301
    async with http.get(url, headers=bearer(token)) as resp:
        assert resp.status == 401
        assert_envelope(await resp.json(), 401, "credentials.expired")


async def test_fault_lifetime_override(emu: Emulator, http: aiohttp.ClientSession) -> None:
    emu.faults.set_global(FaultSpec(token_lifetime_s=42))
    assert (await (await _post(http, emu)).json())["expires_in"] == 42


async def test_fault_429_burst_then_recovers(emu: Emulator, http: aiohttp.ClientSession) -> None:
    emu.faults.set_global(FaultSpec(token_429_burst=2, token_retry_after_s=3))
    statuses = []
    for _ in range(3):
        resp = await _post(http, emu)
        statuses.append(resp.status)
        if resp.status == 429:
            assert resp.headers["Retry-After"] == "3"
            assert_envelope(await resp.json(), 429, "too.many.requests.retry.after")
    assert statuses == [429, 429, 200]
    assert emu.counters.token_rate_limited == 2


@pytest.mark.parametrize(("outage", "code"), [("503", "service.unavailable"),
                                              ("500", "internal.server.error")])
async def test_fault_outage_status(emu: Emulator, http: aiohttp.ClientSession, outage: str,
                                   code: str) -> None:
    emu.faults.set_global(FaultSpec(token_outage=outage))
    resp = await _post(http, emu)
    assert resp.status == int(outage)
    assert_envelope(await resp.json(), int(outage), code)
    emu.faults.clear()
    assert (await _post(http, emu)).status == 200


async def test_fault_outage_drops_the_connection(emu: Emulator,
                                                 http: aiohttp.ClientSession) -> None:
    emu.faults.set_global(FaultSpec(token_outage="drop"))
    with pytest.raises(aiohttp.ClientError):
        await _post(http, emu)
    assert emu.counters.token_dropped == 1
    assert emu.counters.tokens_issued == 0


async def test_secret_never_echoed(emu: Emulator, http: aiohttp.ClientSession) -> None:
    resp = await _post(http, emu, headers={"Authorization": basic(secret="hunter2-x"), **FORM})
    assert "hunter2-x" not in await resp.text()
