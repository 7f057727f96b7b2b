"""One open WebSocket on the emulator and the faults applied to what it sends.

aiohttp does the handshake and parses incoming frames (with ``autoping`` and
``autoclose`` off, so every ping and close reaches us); outgoing pongs,
heartbeats and JSON messages are framed here and written straight to the
transport. That keeps delayed pongs precise (a ``loop.call_at`` callback
writes the frame itself, no task hop) and lets blackhole/drop/delay/duplicate
apply to RFC 6455 control pongs exactly as to JSON pongs.

Per-socket state is a slotted object with a few timer handles; heartbeats for
every socket are driven by one shared :class:`HeartbeatScheduler`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import socket
import struct
from typing import Any

from aiohttp import web

from otel_genesys.emulator.counters import SocketCounters
from otel_genesys.emulator.faults import FaultController, FaultSpec

OP_TEXT = 0x1
OP_PONG = 0xA

PONG_MESSAGE = {"topicName": "channel.metadata", "eventBody": {"message": "pong"}}
HEARTBEAT_MESSAGE = {
    "topicName": "channel.metadata",
    "eventBody": {"message": "WebSocket Heartbeat"},
}
SOCKET_CLOSING_TOPIC = "v2.system.socket_closing"

# A client that stops reading must not make the emulator buffer without bound.
_MAX_WRITE_BUFFER = 4 * 1024 * 1024


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, unfragmented server-to-client frame (RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, n))
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


def text_frame(message: object) -> bytes:
    """A text frame carrying ``message`` as compact JSON."""
    return encode_frame(OP_TEXT, json.dumps(message, separators=(",", ":")).encode())


JSON_PONG_FRAME = text_frame(PONG_MESSAGE)
HEARTBEAT_FRAME = text_frame(HEARTBEAT_MESSAGE)

_unsolicited_ids = itertools.count(1)


class SocketConn:
    """The emulator's side of one WebSocket: what it sends and which faults apply.

    ``key`` is the fault/counter target: the channel id, or the realtime
    ``connectionId`` once known.
    """

    __slots__ = (
        "_close_handle",
        "_maint_handle",
        "_reset_handle",
        "_timing",
        "alive",
        "close_task",
        "closing",
        "counters",
        "faults",
        "key",
        "loop",
        "transport",
        "ws",
    )

    def __init__(
        self,
        key: str,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport,
        counters: SocketCounters,
        faults: FaultController,
    ) -> None:
        self.key = key
        self.ws = ws
        self.transport = transport
        self.counters = counters
        self.faults = faults
        self.loop = asyncio.get_running_loop()
        self.alive = True
        self.closing = False
        self.close_task: asyncio.Task[None] | None = None
        self._close_handle: asyncio.TimerHandle | None = None
        self._reset_handle: asyncio.TimerHandle | None = None
        self._maint_handle: asyncio.TimerHandle | None = None
        self._timing: tuple[float | None, int, float | None] = (None, 1000, None)

    # -- writing ---------------------------------------------------------------

    def _write(self, frame: bytes) -> bool:
        if not self.alive or self.closing or self.transport.is_closing():
            return False
        if self.transport.get_write_buffer_size() > _MAX_WRITE_BUFFER:
            return False
        self.transport.write(frame)
        return True

    def spec(self) -> FaultSpec:
        """The fault spec in force for this socket now."""
        return self.faults.effective(self.key)[0]

    def send_json(self, message: object) -> bool:
        """Send a JSON text message unless blackholed; True if written."""
        if self.spec().blackhole:
            return False
        return self._write(text_frame(message))

    # -- pings -----------------------------------------------------------------

    def on_json_ping(self, received_at: float) -> None:
        """A ``{"message":"ping"}`` arrived at loop time ``received_at``."""
        self.counters.add("pings_json")
        self._answer(JSON_PONG_FRAME, JSON_PONG_FRAME, received_at)

    def on_control_ping(self, payload: bytes, received_at: float) -> None:
        """An RFC 6455 ping frame arrived at loop time ``received_at``."""
        self.counters.add("pings_control")
        self._answer(encode_frame(OP_PONG, payload), b"", received_at)

    def _answer(self, pong: bytes, unsolicited: bytes, received_at: float) -> None:
        spec, rng = self.faults.effective(self.key)
        if spec.blackhole:
            self.counters.add("pongs_blackholed")
            return
        for _ in range(spec.unsolicited_per_ping):
            frame = unsolicited or encode_frame(
                OP_PONG, b"emulator-unsolicited-%d" % next(_unsolicited_ids)
            )
            if self._write(frame):
                self.counters.add("unsolicited_sent")
        if spec.drop_probability and rng.random() < spec.drop_probability:
            self.counters.add("pongs_dropped")
            return
        delay = spec.pong_delay.sample(rng) if spec.pong_delay is not None else 0.0
        copies = 1 + spec.duplicate
        if delay <= 0.0:
            self._send_pong(pong, copies)
            return
        self.counters.add("pongs_delayed")
        # The target time is anchored on the receive timestamp, not on "now",
        # so the time spent getting here is not added to the requested delay.
        self.loop.call_at(received_at + delay, self._send_pong, pong, copies, received_at, delay)

    def _send_pong(self, pong: bytes, copies: int, received_at: float = 0.0,
                   delay: float = 0.0) -> None:
        # Read the clock before writing: the overshoot is how late the pong left, and
        # must never include a pause of this process after it left.
        sent_at = self.loop.time()
        if not self._write(pong * copies):
            return
        if delay > 0.0:
            due = received_at + delay
            # asyncio runs a timer up to its clock resolution early: that is on time.
            self.counters.delay_overshoot(max(0.0, sent_at - due), delay, received_at)
        self.counters.add("pongs_sent")
        if copies > 1:
            self.counters.add("pongs_duplicated", copies - 1)

    def heartbeat(self) -> None:
        """Called by the shared scheduler when this socket's heartbeat is due."""
        spec = self.spec()
        if spec.heartbeat_stop or spec.blackhole:
            return
        if self._write(HEARTBEAT_FRAME):
            self.counters.add("heartbeats_sent")

    # -- closing ---------------------------------------------------------------

    def close(self, code: int, reason: str = "") -> None:
        """Start a close handshake with ``code`` (no-op if already closing)."""
        if not self.alive or self.closing or self.ws.closed:
            return
        self.closing = True
        self.counters.close_sent(code)
        self.close_task = self.loop.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=reason.encode()[:120])

    def reset(self) -> None:
        """Abort the TCP connection with an RST (SO_LINGER 0), no close frame."""
        if not self.alive:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.counters.add("resets")
        self.closing = True
        self.transport.abort()

    def announce_closing(self, lead_s: float, code: int = 1001) -> None:
        """Send ``v2.system.socket_closing`` now and close with ``code`` after ``lead_s``."""
        message = {
            "topicName": SOCKET_CLOSING_TOPIC,
            "eventBody": {"message": "WebSocket is closing for maintenance"},
        }
        if self.send_json(message):
            self.counters.add("socket_closing_sent")
        self.close_later(lead_s, code, "maintenance")

    def close_later(self, after_s: float, code: int, reason: str = "") -> None:
        """Close with ``code`` after ``after_s`` seconds (one pending close at a time)."""
        if self._maint_handle is not None:
            self._maint_handle.cancel()
        self._maint_handle = self.loop.call_later(after_s, self.close, code, reason)

    def reset_later(self, after_s: float) -> None:
        """Abort the connection after ``after_s`` seconds."""
        self.loop.call_later(after_s, self.reset)

    def apply_faults(self) -> None:
        """(Re-)arm the close/reset timers of the spec in force, counted from now.

        A spec change that leaves the timing fields alone keeps pending timers.
        """
        spec = self.spec()
        timing = (spec.close_after_s, spec.close_code, spec.reset_after_s)
        if timing == self._timing:
            return
        self._timing = timing
        for handle in (self._close_handle, self._reset_handle):
            if handle is not None:
                handle.cancel()
        self._close_handle = self._reset_handle = None
        if spec.close_after_s is not None:
            self._close_handle = self.loop.call_later(
                spec.close_after_s, self.close, spec.close_code, "fault injection"
            )
        if spec.reset_after_s is not None:
            self._reset_handle = self.loop.call_later(spec.reset_after_s, self.reset)

    def finish(self) -> None:
        """The socket is gone: stop every timer; later callbacks become no-ops."""
        self.alive = False
        for handle in (self._close_handle, self._reset_handle, self._maint_handle):
            if handle is not None:
                handle.cancel()


class HeartbeatScheduler:
    """One timer for every socket's heartbeat: a heap of due times.

    Each socket beats every ``interval_s`` from the moment it was added; only
    the earliest due time is armed on the loop, so thousands of sockets cost
    one ``TimerHandle`` and O(log n) per beat. Finished sockets fall out of
    the heap at their next due time.
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._heap: list[tuple[float, int, SocketConn]] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = float("inf")

    def add(self, conn: SocketConn) -> None:
        """Start beating for ``conn``."""
        due = conn.loop.time() + self.interval_s
        heapq.heappush(self._heap, (due, next(self._seq), conn))
        self._arm(conn.loop)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._heap:
            return
        due = self._heap[0][0]
        if self._handle is not None and due >= self._armed_at:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = due
        self._handle = loop.call_at(due, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handle = None
        self._armed_at = float("inf")
        now = loop.time()
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, conn = heapq.heappop(heap)
            if not conn.alive:
                continue
            conn.heartbeat()
            # Keep the cadence (due + interval) unless the loop fell far behind.
            nxt = due + self.interval_s
            if nxt <= now:
                nxt = now + self.interval_s
            heapq.heappush(heap, (nxt, next(self._seq), conn))
        self._arm(loop)

    def __len__(self) -> int:
        return len(self._heap)

    def stop(self) -> None:
        """Cancel the timer and forget every socket."""
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._armed_at = float("inf")
        self._heap.clear()


def describe(conn: SocketConn) -> dict[str, Any]:
    """A small JSON view of a socket for the admin API."""
    peer = conn.transport.get_extra_info("peername")
    return {"key": conn.key, "peer": list(peer) if peer else None, "closing": conn.closing}
