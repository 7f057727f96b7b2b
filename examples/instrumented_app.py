"""A plain Genesys notification consumer — no OpenTelemetry in it — to run under
``opentelemetry-instrument``::

    pip install 'otel-genesys[instruments]'
    otel-genesys emulator --port 8089 &            # or a real org: see the variables below
    OTEL_GENESYS_INSTRUMENT_HOSTS=127.0.0.1 OTEL_TRACES_EXPORTER=console \\
        opentelemetry-instrument python examples/instrumented_app.py

It gets a token (client credentials), creates a notification channel, connects
to its ``connectUri``, sends ``{"message":"ping"}`` every ``APP_PING_INTERVAL``
seconds, reads every message, and stops after ``APP_DURATION`` seconds. The
instrumentation measures the pings' round trips without a line of code here.

Environment (defaults target the emulator's demo client):

- ``GENESYS_BASE_URL`` (``http://127.0.0.1:8089``): login and API on one host, as the
  emulator serves them; or ``GENESYS_LOGIN_URL`` + ``GENESYS_API_URL`` for a real org
  (``https://login.mypurecloud.ie``, ``https://api.mypurecloud.ie``);
- ``GENESYS_CLIENT_ID`` / ``GENESYS_CLIENT_SECRET`` (``otel-genesys-demo`` / ``demo-secret``);
- ``APP_CLIENT``: ``aiohttp`` (default) or ``websockets``;
- ``APP_DURATION`` (``5``), ``APP_PING_INTERVAL`` (``0.5``), in seconds.

Prints one summary line (pings sent, pongs seen, messages); never the secret or token.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time

import aiohttp

PING = '{"message":"ping"}'


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


async def create_channel() -> str:
    """Token, then channel; returns the channel's connectUri."""
    base = _env("GENESYS_BASE_URL", "http://127.0.0.1:8089").rstrip("/")
    login = _env("GENESYS_LOGIN_URL", base).rstrip("/")
    api = _env("GENESYS_API_URL", base).rstrip("/")
    pair = f"{_env('GENESYS_CLIENT_ID', 'otel-genesys-demo')}:"
    pair += _env("GENESYS_CLIENT_SECRET", "demo-secret")
    basic = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{login}/oauth/token", data={"grant_type": "client_credentials"}, headers=basic
        ) as r:
            if r.status != 200:
                raise SystemExit(f"token request failed: HTTP {r.status}")
            token = (await r.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with http.post(f"{api}/api/v2/notifications/channels", headers=headers) as r:
            if r.status != 200:
                raise SystemExit(f"channel creation failed: HTTP {r.status}")
            return str((await r.json())["connectUri"])


class Tally:
    """What the app saw."""

    def __init__(self) -> None:
        self.pings = 0
        self.pongs = 0
        self.messages = 0

    def saw(self, text: str) -> None:
        self.messages += 1
        try:
            body = json.loads(text).get("eventBody") or {}
        except (ValueError, AttributeError):
            return
        if isinstance(body, dict) and body.get("message") == "pong":
            self.pongs += 1


async def run_aiohttp(uri: str, duration: float, interval: float, tally: Tally) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(uri) as ws:

        async def pinger() -> None:
            while True:
                await ws.send_str(PING)
                tally.pings += 1
                await asyncio.sleep(interval)

        task = asyncio.create_task(pinger())
        deadline = time.monotonic() + duration
        try:
            while (left := deadline - time.monotonic()) > 0:
                try:
                    msg = await ws.receive(timeout=left)
                except TimeoutError:
                    break
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                tally.saw(msg.data)
        finally:
            task.cancel()


async def run_websockets(uri: str, duration: float, interval: float, tally: Tally) -> None:
    from websockets.asyncio.client import connect

    async with connect(uri, ping_interval=interval) as ws:

        async def pinger() -> None:
            while True:
                await ws.send(PING)
                tally.pings += 1
                await asyncio.sleep(interval)

        task = asyncio.create_task(pinger())
        try:
            async with asyncio.timeout(duration):
                async for text in ws:
                    tally.saw(str(text))
        except TimeoutError:
            pass
        finally:
            task.cancel()


async def main() -> int:
    duration = float(_env("APP_DURATION", "5"))
    interval = float(_env("APP_PING_INTERVAL", "0.5"))
    client = _env("APP_CLIENT", "aiohttp")
    uri = await create_channel()
    tally = Tally()
    if client == "websockets":
        await run_websockets(uri, duration, interval, tally)
    else:
        await run_aiohttp(uri, duration, interval, tally)
    print(f"client={client} pings={tally.pings} pongs={tally.pongs} messages={tally.messages}")
    return 0 if tally.pongs else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
