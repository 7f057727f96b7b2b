"""A hostile Genesys stand-in on 127.0.0.1 for fuzzing: it says whatever it is told to.

`HostileServer` serves ``/oauth/token``, ``POST /api/v2/notifications/channels``
and a notification WebSocket at ``/channels/<id>``. Each can be scripted:

- ``token_body``/``token_status``: what the token endpoint answers;
- ``channel_body``/``channel_status``: what channel creation answers;
- ``frames``: what the WebSocket sends right after the first upgrade (text,
  binary, ping/pong control frames, oversized messages …), before it settles
  into answering the agent's pings correctly. Later connections get no script,
  so a test can also check that the agent recovers (`script_done_ns`).

Pongs are counted (`json_pongs`, `control_pongs`, `scripted_pongs`) so a test can
check that the agent never counts more OK probes than it was given answers, and
the code of every close frame the client sent (else the socket's close code, 1006
when there was none) is kept in `client_close_codes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from otel_genesys.genesys.protocol import HEARTBEAT_TEXT, PING_TEXT, PONG_TEXT

GOOD_TOKEN = {"access_token": "fuzz-access-token", "token_type": "bearer", "expires_in": 3600}


@dataclass(frozen=True)
class Frame:
    """One scripted server frame: ``kind`` is text, binary, ping, pong or pause."""

    kind: str
    text: str = ""
    data: bytes = b""
    pause_s: float = 0.0


PONG = Frame("text", PONG_TEXT)
HEARTBEAT = Frame("text", HEARTBEAT_TEXT)


@dataclass
class HostileServer:
    """See the module docstring; `start` binds an ephemeral port on 127.0.0.1."""

    frames: list[Frame] = field(default_factory=list)
    token_body: bytes = json.dumps(GOOD_TOKEN).encode()
    token_status: int = 200
    channel_body: bytes | None = None
    channel_status: int = 200
    heartbeat_s: float = 0.05
    token_requests: int = 0
    channel_requests: int = 0
    connections: int = 0
    json_pongs: int = 0
    control_pongs: int = 0
    scripted_pongs: int = 0
    client_close_codes: list[int] = field(default_factory=list)
    script_done_ns: int | None = None
    """perf_counter_ns when the script was fully played (or cut short by a close)."""
    port: int = 0
    _runner: web.AppRunner | None = None
    _sockets: set[web.WebSocketResponse] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> HostileServer:
        app = web.Application()
        app.router.add_post("/oauth/token", self._token)
        app.router.add_post("/api/v2/notifications/channels", self._channel)
        app.router.add_get("/channels/{id}", self._socket)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=1001), 0.2)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        await request.read()
        return web.Response(
            status=self.token_status, body=self.token_body, content_type="application/json"
        )

    async def _channel(self, request: web.Request) -> web.Response:
        self.channel_requests += 1
        body = self.channel_body
        if body is None:
            n = self.channel_requests
            body = json.dumps(
                {"id": f"fuzz-{n}", "connectUri": f"ws://127.0.0.1:{self.port}/channels/fuzz-{n}"}
            ).encode()
        return web.Response(status=self.channel_status, body=body, content_type="application/json")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        # autoping off: control pongs are answered (and counted) below
        ws = web.WebSocketResponse(autoping=False, max_msg_size=0)
        await ws.prepare(request)
        self.connections += 1
        self._sockets.add(ws)
        frames = self.frames if self.connections == 1 else []
        script = asyncio.create_task(self._play(ws, frames))
        beat = asyncio.create_task(self._heartbeats(ws))
        client_code: int | None = None
        try:
            while True:
                msg = await ws.receive()
                if msg.type is aiohttp.WSMsgType.TEXT and msg.data == PING_TEXT:
                    await ws.send_str(PONG_TEXT)
                    self.json_pongs += 1
                elif msg.type is aiohttp.WSMsgType.PING:
                    await ws.pong(msg.data)
                    self.control_pongs += 1
                elif msg.type is aiohttp.WSMsgType.CLOSE:
                    # The code in the client's close frame. Not `ws.close_code`: aiohttp
                    # overwrites that with 1006 when its own close reply cannot be
                    # written, e.g. when the client has closed the TCP connection right
                    # after its close frame (RFC 6455 §7.1.7, what aiohttp does on a
                    # 1009) and this server's write of the rest of an oversized frame
                    # failed first. That depends on how this in-process server's tasks
                    # interleave, not on what the client sent.
                    client_code = int(msg.data)
                    break
                elif msg.type in (aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                    break
        except Exception:  # a torn connection is one of the things being tested
            pass
        finally:
            script.cancel()
            beat.cancel()
            for task in (script, beat):
                with contextlib.suppress(BaseException):
                    await task
            self._sockets.discard(ws)
            code = client_code if client_code is not None else ws.close_code
            if code is not None:
                self.client_close_codes.append(code)
        return ws

    async def _heartbeats(self, ws: web.WebSocketResponse) -> None:
        while not ws.closed:
            await asyncio.sleep(self.heartbeat_s)
            with contextlib.suppress(Exception):
                await ws.send_str(HEARTBEAT_TEXT)

    async def _play(self, ws: web.WebSocketResponse, frames: list[Frame]) -> None:
        try:
            await self._play_frames(ws, frames)
        finally:
            if self.script_done_ns is None:
                self.script_done_ns = time.perf_counter_ns()

    async def _play_frames(self, ws: web.WebSocketResponse, frames: list[Frame]) -> None:
        for frame in frames:
            if ws.closed:
                return
            try:
                if frame.kind == "text":
                    await ws.send_str(frame.text)
                    if frame.text == PONG_TEXT:
                        self.scripted_pongs += 1
                elif frame.kind == "binary":
                    await ws.send_bytes(frame.data)
                elif frame.kind == "ping":
                    await ws.ping(frame.data)
                elif frame.kind == "pong":
                    await ws.pong(frame.data)
                elif frame.kind == "pause":
                    await asyncio.sleep(frame.pause_s)
            except Exception:
                return
