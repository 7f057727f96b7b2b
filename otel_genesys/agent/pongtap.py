"""Pongs answered where aiohttp parses them, not after a reader task wakes up.

Control pongs (RFC 6455 frames) and text messages (a Genesys channel's JSON
pongs, heartbeats and notices) are handled by the tap; the reader task keeps
everything that needs to await or ends the socket.

aiohttp parses each chunk from the network in the protocol's ``data_received``
and queues the messages; ``receive()`` in a reader task pops them one loop
iteration later. For a pong that meant a task wake-up per probe (a future, a
``call_soon``, a task step, ``receive()``'s own bookkeeping) and a timestamp
taken only once the loop got round to that task: at thousands of connections
a busy iteration's worth of queueing was counted as round-trip time.

A :class:`PongTap` stands in for a link's frame parser while the monitor's
reader has nothing else to do. After each chunk is parsed, the pongs and text
messages at the head of the socket's queue are taken out with aiohttp's own
``read()`` (driven to completion at once, since a message is there, so the
queue's size and flow control stay aiohttp's) and handed to the monitor,
timestamped when the chunk arrived. Anything else (close, ping, binary, end of
stream, a parse error) wakes the reader, which goes through ``receive()``
exactly as before; while it does, the tap takes nothing, so the two never read
the queue at once. The tap leans on aiohttp's internals (the protocol's
``_payload_parser``, the queue's ``_buffer`` and ``read()``): when they are not
there it is not attached, and should the queue ever not give up a queued
message at once, the tap steps aside, logs a warning once, and the reader reads
everything on every link from then on.
``docs/performance.md`` has the measured effect.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

_PONG = aiohttp.WSMsgType.PONG
_TEXT = aiohttp.WSMsgType.TEXT

ENABLED = True
"""Install taps on new links (the bench's ``reader`` lever turns it off to measure it)."""


def _take(queue: Any) -> Any:
    """Pop the head message through aiohttp's ``read()``, which returns without
    suspending when a message is queued (its size and flow control stay right)."""
    coro: Coroutine[Any, Any, Any] = queue.read()
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the WebSocket queue had no message to read")


class PongTap:
    """A link's frame parser, fronted: while the reader waits in :meth:`wait`, pongs go
    straight to ``on_pong(payload, now_ns)`` (dropped when it is ``None``, as the
    reader would) and text messages to ``on_text(text, now_ns)``.

    Use :meth:`attach`; the reader loop calls :meth:`idle` and :meth:`wait` before each
    ``receive()``, and whoever closes the socket calls :meth:`detach` first.
    """

    __slots__ = (
        "_armed", "_broken", "_buffer", "_clock", "_inner", "_on_pong", "_on_text",
        "_protocol", "_queue", "_waiter", "taken",
    )  # fmt: skip

    unusable: str | None = None
    """Why taps stopped being attached in this process: a tap found aiohttp's queue
    not behaving as expected, and every link since reads through its reader."""

    def __init__(
        self,
        protocol: Any,
        queue: Any,
        on_pong: Callable[[bytes, int], None] | None,
        on_text: Callable[[str, int], None],
        clock: Callable[[], int],
    ) -> None:
        self._protocol = protocol
        self._inner = protocol._payload_parser
        self._queue = queue
        self._buffer = queue._buffer
        self._on_pong = on_pong
        self._on_text = on_text
        self._clock = clock
        self._armed = False
        self._waiter: asyncio.Future[None] | None = None
        self._broken: BaseException | None = None
        self.taken = 0
        """Messages handled here (the rest went through the reader)."""

    @classmethod
    def attach(
        cls,
        ws: aiohttp.ClientWebSocketResponse,
        on_pong: Callable[[bytes, int], None] | None,
        on_text: Callable[[str, int], None],
        clock: Callable[[], int],
    ) -> PongTap | None:
        """Front ``ws``'s parser; ``None`` (the reader does everything, as before) when
        switched off or when this aiohttp's internals are not the ones expected."""
        if not ENABLED or PongTap.unusable is not None:
            return None
        conn = getattr(ws, "_conn", None)
        protocol: Any = getattr(conn, "protocol", None)
        parser = getattr(protocol, "_payload_parser", None)
        queue = getattr(ws, "_reader", None)
        if (
            parser is None
            or not hasattr(parser, "feed_data")
            or not isinstance(getattr(queue, "_buffer", None), collections.deque)
            or not hasattr(queue, "read")
            or not hasattr(queue, "is_eof")
        ):
            log.debug("aiohttp %s: parser not recognised, pongs go through the reader",
                      aiohttp.__version__)  # fmt: skip
            return None
        tap = cls(protocol, queue, on_pong, on_text, clock)
        protocol._payload_parser = tap
        return tap

    def detach(self) -> None:
        """Stop taking pongs and give the parser back (before the socket is closed:
        ``close()`` reads the queue itself). Idempotent."""
        self._armed = False
        self._broken = self._broken or _DETACHED
        if getattr(self._protocol, "_payload_parser", None) is self:
            self._protocol._payload_parser = self._inner

    # ------------------------------------------------------------------ reader side

    def idle(self) -> bool:
        """True when the reader has nothing to read: no queued message, no end of
        stream, no error (it may then :meth:`wait`)."""
        queue = self._queue
        return (
            not self._buffer
            and self._broken is None
            and not queue.is_eof()
            and queue.exception() is None
        )

    async def wait(self) -> None:
        """Sleep until the queue holds something other than a pong or a text, or ends;
        those meanwhile are handled by the tap. Raises what broke the tap, if anything."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self._armed = True
        try:
            if self.idle():
                await waiter
        finally:
            self._armed = False
            self._waiter = None
        broken = self._broken
        if broken is not None and broken is not _DETACHED:
            self._broken = _DETACHED
            raise broken

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ------------------------------------------------------------------ parser side

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def feed_data(self, data: Any) -> Any:
        now = self._clock()  # the chunk's arrival: every message in it gets this time
        result = self._inner.feed_data(data)
        if self._armed:
            buf = self._buffer
            while buf:
                try:
                    kind = buf[0][0][0]
                    if kind is not _PONG and kind is not _TEXT:
                        break
                    value = _take(self._queue)[1]
                except Exception as exc:
                    # aiohttp's queue did not behave as this module expects (a newer
                    # release?): the reader takes over, here and on every new link.
                    self._give_up(exc)
                    return result
                self.taken += 1
                try:
                    if kind is _TEXT:
                        self._on_text(value, now)
                    elif self._on_pong is not None:
                        self._on_pong(value, now)
                except Exception as exc:
                    # The reader raises it, as it would have for the same message.
                    self._broken = exc
                    self._armed = False
                    self._wake()
                    return result
            queue = self._queue
            if buf or queue.is_eof() or queue.exception() is not None:
                self._wake()  # something for receive(): close, ping, binary, an error
        return result

    def feed_eof(self) -> Any:
        try:
            return self._inner.feed_eof()
        finally:
            self._wake()

    def _give_up(self, exc: BaseException) -> None:
        if PongTap.unusable is None:
            PongTap.unusable = f"{type(exc).__name__}: {exc}"
            log.warning(
                "aiohttp %s: its WebSocket queue did not behave as expected (%s); "
                "pongs are read by the reader task from now on",
                aiohttp.__version__, PongTap.unusable,
            )  # fmt: skip
        self.detach()
        self._wake()


class _Detached(Exception):
    """Marks a tap that was detached (not an error: the reader just stops waiting)."""


_DETACHED = _Detached()
