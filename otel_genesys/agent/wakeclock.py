"""The event loop the agent runs on: it notes when each wait for I/O ended.

A pong's arrival is read in Python when its socket's callback parses it. Between
the moment the loop's wait for I/O returns and that callback, the loop may run
other callbacks first (at scale, a queue of them), and then asyncio's and
aiohttp's Python path from the socket to the parser. All of that is the
agent's own delay, not the connection's, and all of it was in the RTT it
reported (measured in docs/performance.md, *The pong's arrival is the loop's
wake-up*: at 10,000 connections it was a fifth of the median RTT and a third
of the p99; at one connection, within the noise).

:class:`StampingEventLoop` is asyncio's own selector event loop whose selector
notes ``time.perf_counter_ns()`` as soon as each wait returns. A socket that the
wait reported readable received its data by then, so that instant bounds the
arrival of what it holds from above, and is earlier than any instant the
callback can read itself. The monitors take it as the arrival of a pong
(:meth:`~otel_genesys.agent.monitor.ConnectionMonitor._arrival_ns`), except when
a ping of theirs left after the wait returned: its pong may have come later
than that wake-up, and then the time of reading is taken, as before.

One limit: data that reaches a socket after the wait returned, on a socket the
wait reported readable for other data, is read in the same callback and takes
the earlier instant. With one outstanding control ping per connection and no
other inbound traffic, a socket is readable only because its pong arrived.

On Linux the loop goes one step earlier. Every TCP socket it makes a transport
for asks the kernel to stamp what it receives (``SO_TIMESTAMPNS``) and reads with
``recvmsg``, keeping the stamp of the newest data each read returned
(:class:`StampedSocket`). That stamp is taken when the segment reaches the socket,
before any thread is woken for it: it leaves out the time the kernel takes to
wake the agent's thread and the time the loop spends on other callbacks before
its wait even starts (at scale the loop is rarely waiting). A read returns data
no newer than its stamp, so the stamp bounds the arrival of what it holds from
above, as the wake-up does, and the monitor prefers it when it lies between its
last ping and now (:meth:`~otel_genesys.agent.monitor.ConnectionMonitor._arrival_ns`).
Measured in docs/performance.md, *The pong's arrival is the kernel's receive
time*: at 10,000 connections a third of the median RTT and of the p99 that the
wake-up gave, and at one connection an error that no longer grows with the
time the agent slept before the pong.

``otel-genesys run`` and ``check`` run on this loop (:func:`run`); anything else
(uvloop, an application's own loop under the instrumentation hook) makes the
monitors read the clock in the callback, as before.
"""

from __future__ import annotations

import asyncio
import selectors
import socket
import struct
import sys
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

RX_INFO = "otel_genesys.rx_stamps"
"""The transport's extra-info key for its :class:`StampedSocket` (``get_extra_info``)."""

KERNEL_STAMPS = True
"""Whether the loop asks the kernel for receive stamps (a switch for the bench)."""

_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35) if sys.platform == "linux" else None
"""``SO_TIMESTAMPNS`` (``SO_TIMESTAMPNS_OLD`` in the kernel's headers): receive stamps as
a ``struct timespec`` of ``CLOCK_REALTIME``, in a control message of the same number."""

_TIMESPEC = struct.Struct("@ll")  # struct timespec: time_t and long, both a C long here
_ANC_SPACE = socket.CMSG_SPACE(_TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 0


class StampedSocket(socket.socket):
    """A TCP socket whose reads keep the kernel's receive stamp of the newest data read.

    ``recv`` and ``recv_into`` (what asyncio's socket transport calls) read with
    ``recvmsg``; the kernel attaches the stamp of the last segment a read returns
    (segments merged in its queue keep the newer stamp). :attr:`rx` keeps it
    undecoded, so a read costs no more than the ``recvmsg`` itself; :meth:`rx_ns`
    decodes it when a pong asks.
    """

    rx = b""
    """The stamp of the last read, as the kernel sent it: ``b""`` before any, and after
    a read whose data came unstamped (Linux turns stamps on for the host a moment after
    the first socket asks), so no older data's stamp stands in for it."""

    def recv(self, bufsize: int, flags: int = 0, /) -> bytes:
        data, anc, _flags, _addr = self.recvmsg(bufsize, _ANC_SPACE, flags)
        self.rx = anc[0][2] if anc else b""
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0, /) -> int:
        if nbytes:
            buffer = memoryview(buffer)[:nbytes]
        read: int
        read, anc, _flags, _addr = self.recvmsg_into((buffer,), _ANC_SPACE, flags)
        self.rx = anc[0][2] if anc else b""
        return read

    def rx_ns(self) -> int:
        """When the newest data read reached this socket, in ``time.perf_counter_ns()``
        time; 0 before any stamp. (The stamp is wall-clock time: it is moved onto the
        monotonic clock by the two clocks' offset now, so a step of the wall clock since
        the data came would move it too; the monitor checks it against its bounds.)"""
        raw = self.rx
        if len(raw) != _TIMESPEC.size:
            return 0
        sec: int
        nsec: int
        sec, nsec = _TIMESPEC.unpack(raw)
        return sec * 1_000_000_000 + nsec - time.time_ns() + time.perf_counter_ns()


def _stamped(sock: socket.socket) -> socket.socket:
    """``sock`` as a :class:`StampedSocket` receiving kernel stamps, or ``sock`` itself
    when it is not a TCP socket or the platform has no such stamps."""
    if (
        not KERNEL_STAMPS
        or _SO_TIMESTAMPNS is None
        or not _ANC_SPACE
        or type(sock) is not socket.socket
        or sock.family not in (socket.AF_INET, socket.AF_INET6)
        or sock.type != socket.SOCK_STREAM
    ):
        return sock
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    except OSError:
        return sock
    timeout = sock.gettimeout()
    stamped = StampedSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    stamped.settimeout(timeout)
    return stamped


def _with_rx(sock: socket.socket, extra: dict[str, Any] | None) -> dict[str, Any] | None:
    return {**(extra or {}), RX_INFO: sock} if isinstance(sock, StampedSocket) else extra


def rx_stamps(transport_holder: Any) -> StampedSocket | None:
    """The :class:`StampedSocket` under a transport, or under an aiohttp response or
    WebSocket (anything with ``get_extra_info``); ``None`` when it has none."""
    get = getattr(transport_holder, "get_extra_info", None)
    found = get(RX_INFO) if get is not None else None
    return found if isinstance(found, StampedSocket) else None


class StampingSelector(selectors.DefaultSelector):
    """The platform's default selector; :attr:`woke_ns` is when its last wait returned."""

    def __init__(self) -> None:
        super().__init__()
        self.woke_ns = 0
        """``time.perf_counter_ns()`` just after the last ``select`` returned."""

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        ready: list[tuple[Any, int]] = super().select(timeout)
        self.woke_ns = time.perf_counter_ns()
        return ready


class StampingEventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector event loop on a :class:`StampingSelector`.

    >>> loop = StampingEventLoop()
    >>> loop.run_until_complete(asyncio.sleep(0.001))
    >>> loop.stamps.woke_ns > 0
    True
    >>> loop.close()
    """

    def __init__(self) -> None:
        self.stamps = StampingSelector()
        super().__init__(self.stamps)

    # asyncio's hooks for the transports of connections made or accepted (plain and
    # TLS): the socket is swapped for a StampedSocket on the same descriptor first.
    def _make_socket_transport(  # type: ignore[no-untyped-def]
        self, sock, protocol, waiter=None, *, extra=None, server=None
    ):
        sock = _stamped(sock)
        return super()._make_socket_transport(  # type: ignore[misc]
            sock, protocol, waiter, extra=_with_rx(sock, extra), server=server
        )

    def _make_ssl_transport(  # type: ignore[no-untyped-def]
        self, rawsock, protocol, sslcontext, waiter=None, *, extra=None, **kwargs
    ):
        rawsock = _stamped(rawsock)
        return super()._make_ssl_transport(  # type: ignore[misc]
            rawsock, protocol, sslcontext, waiter, extra=_with_rx(rawsock, extra), **kwargs
        )


def loop_stamps(loop: asyncio.AbstractEventLoop) -> StampingSelector | None:
    """The selector noting when ``loop`` last woke from its wait (its ``woke_ns``, in
    ``time.perf_counter_ns()`` time); ``None`` when ``loop`` does not note it."""
    return loop.stamps if isinstance(loop, StampingEventLoop) else None


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a :class:`StampingEventLoop`."""
    with asyncio.Runner(loop_factory=StampingEventLoop) as runner:
        return runner.run(main)
