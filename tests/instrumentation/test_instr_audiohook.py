"""AudioHook servers: the RTT Genesys reports, the server's turnaround, malformed durations."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from instr_helpers import Instrumented

from otel_genesys.instrumentation import parse_iso_duration
from otel_genesys.instrumentation._telemetry import ERRORS
from otel_genesys.telemetry import names as n

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "audiohook_server.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audiohook_server_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("PT0.045S", 45_000_000),
        ("PT0,5S", 500_000_000),
        ("PT2S", 2_000_000_000),
        ("PT1M0.5S", 60_500_000_000),
        ("PT1H", 3_600_000_000_000),
        ("P1DT1S", 86_401_000_000_000),
        ("pt0.000001s", 1_000),
    ],
)
def test_iso_durations_parse_exactly(text: str, ns: int) -> None:
    assert parse_iso_duration(text) == ns


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "45ms", "0.045", "PT-1S", "P1Y", "PT1S2M", 45, None]
)
def test_malformed_iso_durations_raise_value_error(text: Any) -> None:
    with pytest.raises(ValueError):
        parse_iso_duration(text)


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=999))
def test_seconds_with_milliseconds_round_trip(seconds: int, millis: int) -> None:
    assert parse_iso_duration(f"PT{seconds}.{millis:03d}S") == seconds * 10**9 + millis * 10**6


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


def _ping(seq: int, rtt: object = None) -> str:
    params = {} if rtt is None else {"rtt": rtt}
    return json.dumps(
        {"version": "2", "id": "s-1", "type": "ping", "seq": seq, "serverseq": seq - 1,
         "position": "PT1S", "parameters": params}
    )  # fmt: skip


async def _genesys_side(
    port: int, pings: list[str], unanswered: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Play Genesys: open, ``unanswered`` frames, the pings (each awaiting its pong), close."""
    replies: list[dict[str, Any]] = []
    url = f"ws://127.0.0.1:{port}/audiohook"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.send_str(json.dumps({"version": "2", "id": "s-1", "type": "open", "seq": 0}))
        replies.append(await ws.receive_json())
        await ws.send_bytes(b"\x00" * 320)  # audio: ignored by everyone
        for text in unanswered:
            await ws.send_str(text)
        for text in pings:
            await ws.send_str(text)
            replies.append(await ws.receive_json())
        await ws.send_str(json.dumps({"version": "2", "id": "s-1", "type": "close", "seq": 99}))
        replies.append(await ws.receive_json())
    return replies


async def test_reported_rtt_and_turnaround_are_recorded(instrumented: Instrumented) -> None:
    instrumented.instrument()
    runner, port = await _serve(_example().make_app())
    try:
        replies = await _genesys_side(port, [_ping(1), _ping(2, "PT0.045S"), _ping(3, "PT0.120S")])
    finally:
        await runner.cleanup()
    assert [r["type"] for r in replies] == ["opened", "pong", "pong", "pong", "closed"]
    assert [r["clientseq"] for r in replies[1:4]] == [1, 2, 3]
    (rtt,) = instrumented.metric_points(n.METRIC_AUDIOHOOK_RTT)
    assert rtt.count == 2  # the first ping carries no rtt
    assert rtt.sum == pytest.approx(0.165)
    assert rtt.attributes[n.SERVER_PORT] == port
    (turnaround,) = instrumented.metric_points(n.METRIC_AUDIOHOOK_TURNAROUND)
    assert turnaround.count == 3
    assert 0 <= turnaround.sum < 3.0
    assert instrumented.metric_points(n.METRIC_AUDIOHOOK_INVALID_RTT) == []


async def test_malformed_rtt_is_counted_and_the_session_goes_on(
    instrumented: Instrumented,
) -> None:
    errors_before = ERRORS.get()
    instrumented.instrument()
    runner, port = await _serve(_example().make_app())
    try:
        replies = await _genesys_side(
            port,
            [_ping(1, "45ms"), _ping(2, 0.045), _ping(3, "PT0.010S")],
            unanswered=('{"type": "ping", broken',),
        )
    finally:
        await runner.cleanup()
    # The app answered everything as before (its own parser skips the broken frame).
    assert [r["type"] for r in replies[:4]] == ["opened", "pong", "pong", "pong"]
    (invalid,) = instrumented.metric_points(n.METRIC_AUDIOHOOK_INVALID_RTT)
    assert invalid.value == 2
    (rtt,) = instrumented.metric_points(n.METRIC_AUDIOHOOK_RTT)
    assert rtt.count == 1
    assert ERRORS.get() == errors_before  # a non-JSON frame is not a ping, not a failure


async def test_paths_outside_the_configured_prefixes_are_ignored(
    instrumented: Instrumented,
) -> None:
    instrumented.instrument(audiohook_paths=["/elsewhere"])
    runner, port = await _serve(_example().make_app())
    try:
        await _genesys_side(port, [_ping(1, "PT0.045S")])
    finally:
        await runner.cleanup()
    assert instrumented.metric_points(n.METRIC_AUDIOHOOK_RTT) == []
