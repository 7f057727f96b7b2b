"""The aiohttp arrival tap when one network chunk carries several messages.

An app that reads a busy socket late gets many frames per ``feed_data``: the
tap must still find the pongs among them (and a JSON pong among texts while a
JSON ping waits), time them all with the chunk's arrival, and leave the app's
queue untouched. The real-socket tests cover one message per chunk; here the
parser is a stand-in that appends a given batch of messages per chunk.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from aiohttp import WSMessage, WSMsgType

from otel_genesys.core.outcome import Outcome, ProbeMode, ProbeOutcome
from otel_genesys.core.probe import ProbeSettings
from otel_genesys.core.sink import NullSink
from otel_genesys.genesys.protocol import PONG_TEXT
from otel_genesys.instrumentation._aiohttp_client import _ArrivalTap
from otel_genesys.instrumentation._conn import ConnectionProbe
from otel_genesys.instrumentation._telemetry import ErrorCounts
from tests.core.probe_helpers import TARGET


class _Outcomes(NullSink):
    def __init__(self) -> None:
        self.got: list[ProbeOutcome] = []

    def outcome(self, outcome: ProbeOutcome) -> None:
        self.got.append(outcome)


class _Parser:
    """Appends the next prepared batch of messages to the queue on every chunk."""

    def __init__(self, buffer: collections.deque[Any]) -> None:
        self.buffer = buffer
        self.chunks: list[list[WSMessage]] = []

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        for msg in self.chunks.pop(0):
            self.buffer.append((msg, len(msg.data or b"")))
        return False, b""


def _text(data: str) -> WSMessage:
    return WSMessage(WSMsgType.TEXT, data, None)


def _pong(data: bytes) -> WSMessage:
    return WSMessage(WSMsgType.PONG, data, None)


async def test_pongs_inside_a_chunk_of_app_messages_are_all_timed_at_its_arrival() -> None:
    sink = _Outcomes()
    now = [1_000_000_000]
    probe = ConnectionProbe(
        TARGET, ProbeSettings(fixed_timeout_ns=5_000_000_000), sink, ErrorCounts(), "aiohttp",
        loop=asyncio.get_running_loop(), clock=lambda: now[0],
    )  # fmt: skip
    try:
        buffer: collections.deque[Any] = collections.deque([(_text("old, unread"), 11)])
        parser = _Parser(buffer)
        tap = _ArrivalTap(parser, buffer, probe)
        probe.app_ping_sent(b"a", now[0])
        probe.app_ping_sent(b"b", now[0])
        probe.json_ping_sent(now[0])
        now[0] += 3_000_000  # everything below arrives 3 ms after the pings left

        parser.chunks.append([
            _text("event 1"), _pong(b"a"), _text("x" * 300), _text(PONG_TEXT), _text("event 2"),
            _pong(b"b"),
        ])  # fmt: skip
        tap.feed_data(b"chunk")
        # Then a chunk of app traffic only: nothing to time, nothing settled twice.
        parser.chunks.append([_text("event 3"), _text(PONG_TEXT)])
        now[0] += 1_000_000
        tap.feed_data(b"chunk")

        got = sorted((o.mode.value, o.sequence, o.outcome, o.rtt_ns) for o in sink.got)
        assert got == [
            (ProbeMode.CONTROL.value, 1, Outcome.OK, 3_000_000),
            (ProbeMode.CONTROL.value, 2, Outcome.OK, 3_000_000),
            (ProbeMode.NOTIFICATION.value, 1, Outcome.OK, 3_000_000),
        ]
        # The app's queue is left exactly as the parser built it.
        assert [m[0].data for m in buffer] == [
            "old, unread", "event 1", b"a", "x" * 300, PONG_TEXT, "event 2", b"b", "event 3",
            PONG_TEXT,
        ]  # fmt: skip
        assert not probe.json_pending
    finally:
        probe.close()
