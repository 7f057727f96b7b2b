"""The aiohttp client hook against a real loopback server: passive, active, unchanged app."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from instr_helpers import EchoServer, Instrumented, closed_port, outcome_of, wait_until
from opentelemetry.instrumentation.utils import suppress_instrumentation

from otel_genesys.core.probe import ProbeSettings
from otel_genesys.genesys.protocol import PING_TEXT, PONG_TEXT
from otel_genesys.instrumentation._common import probe_of
from otel_genesys.instrumentation._telemetry import ERRORS
from otel_genesys.telemetry import names as n


async def test_control_pings_are_measured_and_matched_by_payload(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    instrumented.instrument()
    async with aiohttp.ClientSession() as http, http.ws_connect(echo_server.url()) as ws:
        for payload in (b"a", b"b", b"", b""):
            await ws.ping(payload)
        await ws.send_str("hello")
        msg = await ws.receive()
        assert msg.data == "hello"  # the pongs were consumed by autoping, as without us
        await wait_until(lambda: len(echo_server.pings) == 4)
    spans = instrumented.by_mode("control")
    assert [s.attributes[n.PROBE_OUTCOME] for s in spans] == ["ok"] * 4
    assert sorted(s.attributes[n.PROBE_SEQUENCE] for s in spans) == [1, 2, 3, 4]
    attrs = spans[0].attributes
    assert attrs[n.SERVER_ADDRESS] == "127.0.0.1"
    assert attrs[n.SERVER_PORT] == echo_server.port
    assert attrs[n.TARGET_KIND] == "generic"
    assert attrs[n.RTT] > 0
    assert echo_server.pings == [b"a", b"b", b"", b""]  # payloads untouched on the wire
    rtt = instrumented.metric_points(n.METRIC_RTT)
    assert sum(p.count for p in rtt) == 4


async def test_json_pings_are_matched_fifo_to_their_pong(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    instrumented.instrument()
    async with aiohttp.ClientSession() as http, http.ws_connect(echo_server.url()) as ws:
        await ws.send_str(PING_TEXT)
        await ws.send_json({"message": "ping"})  # spelled differently, still a ping
        await ws.send_str("other")
        seen = [(await ws.receive()).data for _ in range(3)]
    assert seen == [PONG_TEXT, PONG_TEXT, "other"]
    spans = instrumented.by_mode("notification")
    assert [s.attributes[n.PROBE_OUTCOME] for s in spans] == ["ok", "ok"]
    assert not instrumented.by_mode("control")


async def test_app_sees_the_same_messages_order_and_close_code(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    async def session() -> tuple[list[object], int | None]:
        got: list[object] = []
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(echo_server.url(), autoping=False)
            await ws.ping(b"x")
            for text in ("one", PING_TEXT, "two", "close:4001"):
                await ws.send_str(text)
            async for msg in ws:
                got.append((msg.type, msg.data))
            return got, ws.close_code

    before = await session()
    instrumented.instrument(active_interval="100ms")
    after = await session()
    assert after == before
    assert before[1] == 4001
    assert (aiohttp.WSMsgType.PONG, b"x") in before[0]  # autoping off: the app sees its pong


async def test_active_probes_run_and_never_reach_the_app(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    instrumented.instrument(active_interval="100ms")
    got: list[object] = []
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(echo_server.url(), autoping=False) as ws,
    ):
        # The app does not read while the probes run: their pongs wait in its queue.
        await wait_until(lambda: len(echo_server.pings) >= 3)
        await ws.send_str("done")
        msg = await ws.receive()
        got.append((msg.type, msg.data))
    assert got == [(aiohttp.WSMsgType.TEXT, "done")]
    spans = instrumented.by_mode("control")
    assert len([s for s in spans if s.attributes[n.PROBE_OUTCOME] == "ok"]) >= 2
    assert all(len(p) == 16 for p in echo_server.pings)  # the core's payloads


async def test_unanswered_ping_times_out_and_close_aborts(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    echo_server.answer_pings = False
    instrumented.instrument(probe_settings=ProbeSettings(fixed_timeout_ns=50_000_000))
    async with aiohttp.ClientSession() as http, http.ws_connect(echo_server.url()) as ws:
        await ws.ping(b"lost")
        await wait_until(lambda: len(instrumented.by_mode("control")) == 1)
        await ws.send_str(PING_TEXT)
        echo_server.answer_pings = True
        await ws.close()  # the JSON ping is still outstanding
    outcomes = sorted(
        (s.attributes[n.PROBE_MODE], s.attributes[n.PROBE_OUTCOME])
        for s in instrumented.probe_spans()
    )
    assert outcomes in (
        [("control", "timeout"), ("notification", "aborted")],
        [("control", "timeout"), ("notification", "ok")],  # pong beat the close
    )


async def test_heartbeat_pings_are_measured_while_the_app_is_not_reading(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    instrumented.instrument(probe_settings=ProbeSettings(fixed_timeout_ns=1_000_000_000))
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(echo_server.url(), heartbeat=0.2) as ws,
    ):
        await wait_until(lambda: len(echo_server.pings) >= 3)
        # Nothing was read yet, and the pongs were timed on arrival all the same.
        await wait_until(lambda: len(instrumented.by_mode("control")) >= 2)
        await ws.send_str("x")
        assert (await ws.receive()).data == "x"
    outcomes = [s.attributes[n.PROBE_OUTCOME] for s in instrumented.by_mode("control")]
    assert outcomes.count("ok") >= 2
    assert "timeout" not in outcomes


async def test_pongs_are_timed_on_arrival_not_when_the_app_reads(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    instrumented.instrument(probe_settings=ProbeSettings(fixed_timeout_ns=500_000_000))
    async with aiohttp.ClientSession() as http, http.ws_connect(echo_server.url()) as ws:
        await ws.ping(b"p")
        await ws.send_str(PING_TEXT)
        # The app reads nothing for longer than the probes' timeout.
        await asyncio.sleep(1.0)
        assert (await ws.receive()).data == PONG_TEXT
    spans = instrumented.probe_spans()
    assert sorted((s.attributes[n.PROBE_MODE], s.attributes[n.PROBE_OUTCOME]) for s in spans) == [
        ("control", "ok"),
        ("notification", "ok"),
    ]  # with read-time stamps both would have timed out


async def test_other_hosts_are_not_measured(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    instrumented.instrument(hosts=["ws.example.com"])
    async with aiohttp.ClientSession() as http, http.ws_connect(echo_server.url()) as ws:
        assert probe_of(ws) is None
        await ws.ping(b"a")
        await ws.send_str(PING_TEXT)
        await ws.receive()
    assert instrumented.probe_spans() == []


async def test_uninstrument_stops_all_telemetry(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    instrumented.instrument()
    instrumented.instrumentor.uninstrument()
    async with aiohttp.ClientSession() as http, http.ws_connect(echo_server.url()) as ws:
        assert probe_of(ws) is None
        await ws.ping(b"a")
        await ws.send_str(PING_TEXT)
        assert (await ws.receive()).data == PONG_TEXT
    assert instrumented.probe_spans() == []
    assert instrumented.metric_points(n.METRIC_RTT) == []


async def test_uninstrument_detaches_live_connections(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    instrumented.instrument()
    async with aiohttp.ClientSession() as http, http.ws_connect(echo_server.url()) as ws:
        assert probe_of(ws) is not None
        instrumented.instrumentor.uninstrument()
        assert probe_of(ws) is None
        await ws.send_str(PING_TEXT)
        assert (await ws.receive()).data == PONG_TEXT
    assert instrumented.probe_spans() == []


async def test_instrumenting_twice_is_a_no_op(
    instrumented: Instrumented, echo_server: EchoServer, caplog: pytest.LogCaptureFixture
) -> None:
    instrumented.instrument()
    instrumented.instrument()
    assert "already instrumented" in caplog.text
    async with aiohttp.ClientSession() as http, http.ws_connect(echo_server.url()) as ws:
        await ws.send_str(PING_TEXT)
        await ws.receive()
    assert len(instrumented.probe_spans()) == 1


async def test_suppress_instrumentation_is_respected(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    instrumented.instrument()
    async with aiohttp.ClientSession() as http:
        with suppress_instrumentation():
            ws = await http.ws_connect(echo_server.url())
        assert probe_of(ws) is None
        await ws.close()
        async with http.ws_connect(echo_server.url()) as ws2:
            with suppress_instrumentation():
                await ws2.send_str(PING_TEXT)
            await ws2.receive()
            await ws2.send_str(PING_TEXT)
            await ws2.receive()
    assert len(instrumented.probe_spans()) == 1


async def test_app_meets_the_same_exceptions(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    dead = closed_port()

    async def session() -> list[str]:
        seen: list[str] = []
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(echo_server.url())
            await ws.send_str("close:4003")
            msg = await ws.receive()
            seen.append(f"{msg.type.name} {ws.close_code}")
            for call in (lambda: ws.ping(b"late"), lambda: ws.send_str(PING_TEXT)):
                seen.append(await outcome_of(call()))
            seen.append(await outcome_of(http.ws_connect(f"ws://127.0.0.1:{dead}/x")))
        return seen

    errors = ERRORS.get()
    before = await session()
    instrumented.instrument()
    after = await session()
    assert after == before
    assert before[0] == "CLOSE 4003"
    assert any("Error" in s for s in before[1:])
    assert ERRORS.get() == errors


async def test_every_calling_form_of_send_str_reaches_the_wire_and_json_pings_are_timed(
    instrumented: Instrumented, echo_server: EchoServer
) -> None:
    """The send hook has aiohttp's own signature: positional, keyword and ``compress``
    calls (``send_json`` passes ``compress=`` by keyword) behave as without it."""
    instrumented.instrument()
    async with aiohttp.ClientSession() as http, http.ws_connect(echo_server.url()) as ws:
        await ws.send_str("positional")
        await ws.send_str(data="keyword")
        await ws.send_str("compress", None)
        await ws.send_str(data=PING_TEXT, compress=None)
        await ws.send_str(PING_TEXT, None)
        await ws.send_json({"message": "ping"})
        with pytest.raises(TypeError):
            await ws.send_str()  # type: ignore[call-arg]  # as aiohttp itself would
        seen = [(await ws.receive()).data for _ in range(6)]
    assert seen == ["positional", "keyword", "compress", PONG_TEXT, PONG_TEXT, PONG_TEXT]
    spans = instrumented.by_mode("notification")
    assert [s.attributes[n.PROBE_OUTCOME] for s in spans] == ["ok", "ok", "ok"]
