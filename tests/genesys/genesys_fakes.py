"""A scripted stand-in for Genesys's login and channels REST, on a real loopback socket.

Tests queue the answers the server gives (:meth:`FakeGenesys.script`) and read
back every request it saw. A fake clock and a fake sleep make backoff and
token lifetimes instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

CLIENT_ID = "3f1c8d2e-client-id"
SECRET_VALUE = "s3cr3t-Vq9Zx-DO-NOT-LEAK"
TOKEN_VALUE = "tok-AbC123xyz-DO-NOT-LEAK"


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer. ``body`` may be JSON-able, bytes or str."""

    status: int = 200
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    drop: bool = False
    """Abort the TCP connection instead of answering."""
    delay_s: float = 0.0


def token_reply(expires_in: Any = 86400, token: str = TOKEN_VALUE, **extra: Any) -> Reply:
    """A 200 from the token endpoint."""
    return Reply(200, {"access_token": token, "token_type": "bearer", "expires_in": expires_in,
                       **extra})


@dataclass(slots=True)
class Seen:
    """A request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeGenesys:
    """The server; ``default`` answers once the script runs out."""

    default: Reply = field(default_factory=token_reply)
    replies: deque[Reply] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    server: TestServer | None = None

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    @property
    def count(self) -> int:
        return len(self.seen)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.method, request.raw_path, dict(request.headers), body))
        reply = self.replies.popleft() if self.replies else self.default
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.drop:
            _abort(request)
            raise web.HTTPInternalServerError  # never reaches the client
        if isinstance(reply.body, bytes):
            data = reply.body
        elif isinstance(reply.body, str):
            data = reply.body.encode()
        elif reply.body is None:
            data = b""
        else:
            data = json.dumps(reply.body).encode()
        headers = dict(reply.headers)
        if reply.body is not None and not isinstance(reply.body, bytes | str):
            headers.setdefault("Content-Type", "application/json")
        return web.Response(status=reply.status, body=data, headers=headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.server = TestServer(app, host="127.0.0.1", port=0)
        await self.server.start_server()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class FakeClock:
    """Monotonic nanoseconds that only move when told."""

    def __init__(self, start_ns: int = 1_000_000_000_000) -> None:
        self.now = start_ns

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1_000_000_000)


class FakeSleep:
    """Records every delay and moves the fake clock instead of waiting."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)


class HalfRng:
    """An rng whose ``uniform(a, b)`` is the midpoint: makes jitter exactly checkable."""

    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2

    def randint(self, a: int, b: int) -> int:
        return (a + b) // 2
