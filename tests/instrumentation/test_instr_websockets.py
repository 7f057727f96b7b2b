"""The websockets asyncio client hook against a real loopback server."""

from __future__ import annotations

import asyncio

import pytest
from instr_helpers import EchoServer, Instrumented, closed_port, outcome_of, wait_until
from opentelemetry.instrumentation.utils import suppress_instrumentation
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from otel_genesys.core.probe import ProbeSettings
from otel_genesys.genesys.protocol import PING_TEXT, PONG_TEXT
from otel_genesys.instrumentation._common import probe_of
from otel_genesys.instrumentation._telemetry import ERRORS
from otel_genesys.telemetry import names as n


async def test_app_and_keepalive_pings_are_measured(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    instrumented.instrument()
    async with connect(echo_server.url(), ping_interval=0.05) as ws:
        assert probe_of(ws) is not None
        waiter = await ws.ping(b"app")
        latency = await waiter
        assert latency >= 0  # the app's waiter still resolves with websockets' value
        await wait_until(lambda: len(echo_server.pings) >= 3)
        await ws.send("x")
        assert await ws.recv() == "x"
    spans = instrumented.by_mode("control")
    assert len(spans) >= 3
    assert {s.attributes[n.PROBE_OUTCOME] for s in spans} <= {"ok", "aborted"}
    assert sum(s.attributes[n.PROBE_OUTCOME] == "ok" for s in spans) >= 2
    assert b"app" in echo_server.pings


async def test_json_pings_are_matched_to_their_pong(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    instrumented.instrument()
    async with connect(echo_server.url(), ping_interval=None) as ws:
        await ws.send(PING_TEXT)
        await ws.send('{"message": "ping"}')
        await ws.send("other")
        seen = [await ws.recv() for _ in range(3)]
    assert seen == [PONG_TEXT, PONG_TEXT, "other"]
    spans = instrumented.by_mode("notification")
    assert [s.attributes[n.PROBE_OUTCOME] for s in spans] == ["ok", "ok"]


async def test_active_probes_and_unchanged_app(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    async def session() -> tuple[list[object], int | None]:
        got: list[object] = []
        async with connect(echo_server.url(), ping_interval=None) as ws:
            for text in ("one", PING_TEXT, "two"):
                await ws.send(text)
            await asyncio.sleep(0.35)
            await ws.send("close:4002")
            try:
                while True:
                    got.append(await ws.recv())
            except ConnectionClosed as exc:
                return got, exc.rcvd.code if exc.rcvd else None

    before = await session()
    pings_before = len(echo_server.pings)
    instrumented.instrument(active_interval="100ms")
    after = await session()
    assert after == before == (["one", PONG_TEXT, "two"], 4002)
    assert pings_before == 0 and len(echo_server.pings) >= 2
    ok = [s for s in instrumented.by_mode("control") if s.attributes[n.PROBE_OUTCOME] == "ok"]
    assert len(ok) >= 2


async def test_close_aborts_outstanding_pings(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    echo_server.answer_pings = False
    instrumented.instrument(probe_settings=ProbeSettings(fixed_timeout_ns=5_000_000_000))
    async with connect(echo_server.url(), ping_interval=None) as ws:
        waiter = await ws.ping(b"never")
    with pytest.raises(ConnectionClosed):
        await waiter  # the app's waiter fails exactly as without instrumentation
    spans = instrumented.by_mode("control")
    assert [s.attributes[n.PROBE_OUTCOME] for s in spans] == ["aborted"]


async def test_uninstrument_leaves_websockets_untouched(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    instrumented.instrument()
    instrumented.instrumentor.uninstrument()
    async with connect(echo_server.url(), ping_interval=None) as ws:
        assert probe_of(ws) is None
        await (await ws.ping())
        await ws.send(PING_TEXT)
        assert await ws.recv() == PONG_TEXT
    assert instrumented.probe_spans() == []


async def test_app_meets_the_same_exceptions(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    dead = closed_port()

    async def session() -> list[str]:
        seen: list[str] = []
        async with connect(echo_server.url(), ping_interval=None) as ws:
            echo_server.answer_pings = False
            await ws.ping(b"same")
            seen.append(await outcome_of(ws.ping(b"same")))  # a payload already in flight
            seen.append(await outcome_of(ws.ping(12)))  # type: ignore[arg-type]
            echo_server.answer_pings = True
            await ws.send("close:4004")
            seen.append(await outcome_of(ws.recv()))
            seen.append(await outcome_of(ws.send(PING_TEXT)))
            seen.append(await outcome_of(ws.ping()))
        seen.append(await outcome_of(connect(f"ws://127.0.0.1:{dead}/x", open_timeout=5)))
        return seen

    errors = ERRORS.get()
    before = await session()
    instrumented.instrument()
    after = await session()
    assert after == before
    assert before[0].startswith("ConcurrencyError") and before[1].startswith("TypeError")
    assert before[2].startswith("ConnectionClosedError: received 4004")
    assert ERRORS.get() == errors


async def test_suppress_instrumentation_is_respected(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    instrumented.instrument()
    with suppress_instrumentation():
        async with connect(echo_server.url(), ping_interval=None) as ws:
            assert probe_of(ws) is None
    async with connect(echo_server.url(), ping_interval=None) as ws:
        with suppress_instrumentation():
            await ws.send(PING_TEXT)
            await (await ws.ping())
        await ws.recv()
        await ws.send(PING_TEXT)
        await ws.recv()
    assert [s.attributes[n.PROBE_MODE] for s in instrumented.probe_spans()] == ["notification"]


async def test_every_calling_form_of_send_reaches_the_wire_and_json_pings_are_timed(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    """The send hook passes a plain ``send(text)`` on as a plain call and anything
    else (keyword ``message=``, ``text=``) as given."""
    instrumented.instrument()
    async with connect(echo_server.url(), ping_interval=None) as ws:
        await ws.send("positional")
        await ws.send(message="keyword")
        await ws.send("as text", text=True)
        await ws.send(message=PING_TEXT)
        await ws.send(PING_TEXT, text=True)
        seen = [await ws.recv() for _ in range(5)]
    assert seen == ["positional", "keyword", "as text", PONG_TEXT, PONG_TEXT]
    spans = instrumented.by_mode("notification")
    assert [s.attributes[n.PROBE_OUTCOME] for s in spans] == ["ok", "ok"]
