"""Helpers shared by the emulator tests (an independent client, not the agent)."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from otel_genesys.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Emulator,
    EmulatorConfig,
)

FAST = EmulatorConfig(heartbeat_interval_s=30.0)


def basic(client_id: str = DEFAULT_CLIENT_ID, secret: str = DEFAULT_CLIENT_SECRET) -> str:
    """An ``Authorization: Basic`` header value."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def bearer(token: str) -> dict[str, str]:
    """An ``Authorization: Bearer`` header."""
    return {"Authorization": f"Bearer {token}"}


FORM = {"Content-Type": "application/x-www-form-urlencoded"}

StartEmulator = Callable[..., Awaitable[Emulator]]


async def get_token(http: aiohttp.ClientSession, emu: Emulator, **kw: str) -> str:
    """A token through the real OAuth endpoint."""
    async with http.post(emu.base_url + "/oauth/token", data="grant_type=client_credentials",
                         headers={"Authorization": basic(**kw), **FORM}) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    token: str = body["access_token"]
    return token


async def open_channel_ws(http: aiohttp.ClientSession, emu: Emulator, **kw: Any
                          ) -> tuple[str, aiohttp.ClientWebSocketResponse]:
    """A new channel and an aiohttp WebSocket connected to it (autoping off)."""
    channel = await new_channel(http, emu)
    ws = await http.ws_connect(channel["connectUri"], autoping=False, **kw)
    return channel["id"], ws


async def new_channel(http: aiohttp.ClientSession, emu: Emulator,
                      token: str | None = None) -> dict[str, Any]:
    """Create a channel through the REST API; returns its JSON."""
    token = token or await get_token(http, emu)
    async with http.post(emu.base_url + "/api/v2/notifications/channels",
                         headers=bearer(token)) as resp:
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
    return body


def assert_envelope(body: dict[str, Any], status: int, code: str) -> None:
    """The Genesys Platform API error envelope, every key present."""
    assert body["status"] == status
    assert body["code"] == code
    assert set(body) == {"message", "code", "status", "messageWithParams", "messageParams",
                         "contextId", "details", "errors"}
