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

``otel-genesys run`` and ``check`` run on this loop (:func:`run`); anything else
(uvloop, an application's own loop under the instrumentation hook) makes the
monitors read the clock in the callback, as before.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


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


def loop_stamps(loop: asyncio.AbstractEventLoop) -> StampingSelector | None:
    """The selector noting when ``loop`` last woke from its wait (its ``woke_ns``, in
    ``time.perf_counter_ns()`` time); ``None`` when ``loop`` does not note it."""
    return loop.stamps if isinstance(loop, StampingEventLoop) else None


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a :class:`StampingEventLoop`."""
    with asyncio.Runner(loop_factory=StampingEventLoop) as runner:
        return runner.run(main)
