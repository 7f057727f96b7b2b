"""PongTap: CONTROL pongs answered where aiohttp parses them, over real sockets.

Each test runs the real agent against an aiohttp server on 127.0.0.1 whose
behaviour around the pong is chosen: plain, text in the same write as the pong,
a malformed frame, a dropped connection, a close frame.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from otel_genesys.agent import pongtap
from otel_genesys.agent.pongtap import PongTap
from otel_genesys.agent.supervisor import Agent
from otel_genesys.core.outcome import Outcome, ProbeMode
from tests.e2e.e2e_helpers import (
    Collector,
    assert_each_ping_settled_once,
    generic_target,
    wait_until,
)
from tests.support.loopback import serve

Handler = Callable[[web.WebSocketResponse, aiohttp.WSMessage, int], Awaitable[bool]]
"""Called for each ping the server reads (with its count); False ends the socket."""


@asynccontextmanager
async def _server(on_ping: Handler) -> AsyncIterator[str]:
    pings = 0

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        nonlocal pings
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.PING:
                pings += 1
                if not await on_ping(ws, msg, pings):
                    break
        return ws

    app = web.Application()
    app.router.add_get("/ws", ws_handler)
    runner, port = await serve(app)
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        await runner.cleanup()


async def _pong(ws: web.WebSocketResponse, msg: aiohttp.WSMessage, _n: int) -> bool:
    await ws.pong(msg.data)
    return True


def _receive_counter(monkeypatch: pytest.MonkeyPatch) -> dict[aiohttp.WSMsgType, int]:
    seen: dict[aiohttp.WSMsgType, int] = {}
    original = aiohttp.ClientWebSocketResponse.receive

    async def counting(self: Any, timeout: float | None = None) -> Any:
        msg = await original(self, timeout)
        seen[msg.type] = seen.get(msg.type, 0) + 1
        return msg

    monkeypatch.setattr(aiohttp.ClientWebSocketResponse, "receive", counting)
    return seen


async def _run(url: str, until: Callable[[Collector, Agent], bool], **monitor: Any
               ) -> tuple[Collector, Agent]:  # fmt: skip
    sink = Collector()
    agent = Agent([generic_target(url, **monitor)], sink=sink)
    await agent.start()
    try:
        await wait_until(lambda: until(sink, agent), 10.0)
    finally:
        await agent.stop()
    return sink, agent


def _ok(sink: Collector) -> int:
    return len(sink.by(ProbeMode.CONTROL, Outcome.OK))


def _spy(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[tuple[Any, Any]]:
    """Record every call of ``owner.name`` as (arguments, result); behaviour unchanged."""
    calls: list[tuple[Any, Any]] = []
    original = getattr(owner, name)

    def spy(*args: Any) -> Any:
        result = original(*args)
        calls.append((args, result))
        return result

    monkeypatch.setattr(owner, name, spy)
    return calls


async def test_pongs_are_answered_by_the_tap_and_never_reach_receive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _receive_counter(monkeypatch)
    attached = _spy(monkeypatch, PongTap, "attach")
    async with _server(_pong) as url:
        sink, agent = await _run(url, lambda s, a: _ok(s) >= 10)
    taps = [tap for _args, tap in attached]
    assert len(taps) == 1 and taps[0] is not None
    assert taps[0].taken >= 10
    assert seen.get(aiohttp.WSMsgType.PONG, 0) == 0  # no reader wake-up for any pong
    assert sink.counts(ProbeMode.CONTROL)["timeout"] == 0
    assert_each_ping_settled_once(sink, agent)


async def test_without_the_tap_the_reader_answers_every_pong(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bench's ``reader`` lever: the path every pong took before the tap."""
    monkeypatch.setattr(pongtap, "ENABLED", False)
    seen = _receive_counter(monkeypatch)
    async with _server(_pong) as url:
        sink, agent = await _run(url, lambda s, a: _ok(s) >= 5)
    assert seen[aiohttp.WSMsgType.PONG] >= 5
    assert sink.counts(ProbeMode.CONTROL)["timeout"] == 0
    assert_each_ping_settled_once(sink, agent)


async def test_text_and_pong_in_one_write_are_both_handled_by_the_tap_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _receive_counter(monkeypatch)
    from otel_genesys.agent.monitor import ConnectionMonitor

    calls = _spy(monkeypatch, ConnectionMonitor, "_on_text")

    async def text_then_pong(ws: web.WebSocketResponse, msg: aiohttp.WSMessage, n: int) -> bool:
        ws._writer.transport.write(  # type: ignore[union-attr]
            _frame(0x1, f"note {n}".encode()) + _frame(0xA, bytes(msg.data))
        )
        return True

    async with _server(text_then_pong) as url:
        sink, agent = await _run(url, lambda s, a: _ok(s) >= 10)
    counts = sink.counts(ProbeMode.CONTROL)
    assert counts["timeout"] == 0 and counts["ok"] >= 10
    texts = [args[2] for args, _ in calls]
    assert texts[:3] == ["note 1", "note 2", "note 3"]
    assert seen.get(aiohttp.WSMsgType.TEXT, 0) == 0 and seen.get(aiohttp.WSMsgType.PONG, 0) == 0
    assert_each_ping_settled_once(sink, agent)


async def test_a_pong_behind_a_frame_for_the_reader_is_left_to_the_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Binary first then pong, in one chunk: the tap wakes the reader for the binary
    frame and leaves the pong behind it, so order and accounting hold."""
    seen = _receive_counter(monkeypatch)

    async def binary_then_pong(ws: web.WebSocketResponse, msg: aiohttp.WSMessage, n: int) -> bool:
        if n % 2:
            ws._writer.transport.write(  # type: ignore[union-attr]
                _frame(0x2, b"blob") + _frame(0xA, bytes(msg.data))
            )
        else:
            await ws.pong(msg.data)
        return True

    async with _server(binary_then_pong) as url:
        sink, agent = await _run(url, lambda s, a: _ok(s) >= 10)
    counts = sink.counts(ProbeMode.CONTROL)
    assert counts["timeout"] == 0 and counts["ok"] >= 10
    assert seen.get(aiohttp.WSMsgType.BINARY, 0) >= 4
    assert 1 <= seen.get(aiohttp.WSMsgType.PONG, 0) <= counts["ok"] // 2 + 1
    assert_each_ping_settled_once(sink, agent)


def _frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked server frame (FIN set)."""
    assert len(payload) < 126
    return struct.pack("!BB", 0x80 | opcode, len(payload)) + payload


@pytest.mark.parametrize(
    ("kind", "cause"),
    [
        ("garbage", "close_1002"),  # a reserved opcode: aiohttp's parser fails
        ("drop", None),  # the TCP connection ends with no close frame
        ("close", "close_1001"),  # a close frame right after a pong
    ],
)
async def test_what_ends_the_socket_while_the_reader_sleeps_reaches_it_at_once(
    kind: str, cause: str | None
) -> None:
    """Probing once a second, so the next ping is far away: the end of the socket must
    reach the sleeping reader through the tap, not wait for a send to fail."""
    loop = asyncio.get_running_loop()
    ended: list[float] = []

    async def end_on_second(ws: web.WebSocketResponse, msg: aiohttp.WSMessage, n: int) -> bool:
        await ws.pong(msg.data)
        if n != 2:
            return True
        await asyncio.sleep(0.05)  # the client's reader is back in the tap's wait
        transport = ws._writer.transport  # type: ignore[union-attr]
        ended.append(loop.time())
        if kind == "garbage":
            transport.write(_frame(0x3, b"??"))
            await asyncio.sleep(0.5)
        elif kind == "drop":
            transport.abort()
        else:
            await ws.close(code=1001)
        return False

    detected: list[float] = []

    def reconnected(_s: Collector, a: Agent) -> bool:
        if a.monitors[0].status.reconnects >= 1 and not detected:
            detected.append(loop.time())
        return bool(detected)

    async with _server(end_on_second) as url:
        sink, agent = await _run(url, reconnected, interval_ns=1_000_000_000)
    assert detected[0] - ended[0] < 0.5  # a send would only fail a second later
    status = agent.monitors[0].status
    if cause is not None:
        assert status.failures_by_cause.get(cause, 0) >= 1, status.failures_by_cause
    else:
        assert sum(status.failures_by_cause.values()) >= 1
    assert sink.counts(ProbeMode.CONTROL)["timeout"] == 0
    assert_each_ping_settled_once(sink, agent)


async def test_a_failing_pong_handler_ends_the_link_through_the_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An error while answering a pong in the tap surfaces in the reader, which ends
    the link as it would have had the reader answered it."""
    from otel_genesys.agent.monitor import ConnectionMonitor

    original = ConnectionMonitor._on_pong
    calls = [0]

    def flaky(self: Any, session: Any, payload: bytes | None, now: int) -> None:
        calls[0] += 1
        if calls[0] == 3:
            raise RuntimeError("boom")
        original(self, session, payload, now)

    monkeypatch.setattr(ConnectionMonitor, "_on_pong", flaky)
    async with _server(_pong) as url:
        _sink, agent = await _run(url, lambda s, a: a.monitors[0].status.reconnects >= 1
                                  and _ok(s) >= 4)  # fmt: skip
    assert sum(agent.monitors[0].status.failures_by_cause.values()) >= 1


def test_the_tap_works_with_aiohttps_pure_python_parser_too() -> None:
    """aiohttp without its C extensions (``AIOHTTP_NO_EXTENSIONS``, or a platform with no
    wheel) has a Python queue and parser: the tests above, run against those."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "AIOHTTP_NO_EXTENSIONS": "1"}
    here = Path(__file__)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(here),
         "-k", "not pure_python", "-x"],
        capture_output=True, text=True, env=env, cwd=here.parents[2], timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout


async def test_a_queue_that_does_not_behave_hands_every_link_to_the_reader(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Should a future aiohttp's queue not give up a queued message at once, the tap
    steps aside without failing the link: that pong and every later one (on this link
    and on new ones) go through the reader, and the switch is logged once."""
    monkeypatch.setattr(PongTap, "unusable", None)

    def refuse(queue: Any) -> Any:
        raise RuntimeError("the WebSocket queue had no message to read")

    monkeypatch.setattr(pongtap, "_take", refuse)
    seen = _receive_counter(monkeypatch)
    async with _server(_pong) as url:
        sink, agent = await _run(url, lambda s, a: _ok(s) >= 8)
    assert PongTap.unusable is not None and "no message" in PongTap.unusable
    assert agent.monitors[0].status.reconnects == 0  # the link never failed
    assert sink.counts(ProbeMode.CONTROL)["timeout"] == 0
    assert seen[aiohttp.WSMsgType.PONG] >= 8
    assert sum("did not behave as expected" in r.getMessage() for r in caplog.records) == 1
    assert_each_ping_settled_once(sink, agent)
