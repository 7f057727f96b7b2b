"""A sleep whose wake-up can be pushed later while a task waits on it.

The probe loop sleeps until the earlier of its next ping slot and the deadline
of a ping still in flight. Pongs usually arrive long before their deadline
(0.3 ms against a 200 ms minimum timeout), so with a plain ``asyncio.sleep``
the loop woke once per cycle at a deadline that no longer mattered: a whole
task wake-up per probe for nothing, ~15 % of the agent's CPU per cycle at
1,000 connections in ``make bench``. With an :class:`Alarm` the pong path,
having settled the last outstanding ping, moves the wake-up to the next slot
instead.

Every alarm of one event loop shares one :class:`AlarmClock`: a heap of plain
``(when, sequence, alarm)`` tuples behind a single asyncio timer. Before, each
alarm kept its own ``TimerHandle`` and a postpone cancelled it and scheduled
another, so asyncio's own heap held two or more handles per connection and
ordered them with ``TimerHandle.__lt__``, a Python method called about 15
times per push at 10,000 connections. Tuples of numbers compare in C; a
postponed wake-up leaves its old entry behind, skipped when it comes up
(``docs/performance.md``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import weakref


class AlarmClock:
    """The wake-ups of every :class:`Alarm` on one event loop, behind one asyncio timer.

    An entry is stale once its alarm was postponed, woken or cancelled; stale
    entries are dropped when they reach the top of the heap, so a postponed
    deadline never wakes the loop for nothing while it is the earliest.

    >>> async def demo() -> list[str]:
    ...     clock = AlarmClock.of(asyncio.get_running_loop())
    ...     woke = []
    ...     async def sleeper(name: str, delay: float) -> None:
    ...         await Alarm().sleep(delay)
    ...         woke.append(name)
    ...     await asyncio.gather(sleeper("b", 0.02), sleeper("a", 0.01))
    ...     return woke + [str(len(clock))]
    >>> asyncio.run(demo())
    ['a', 'b', '0']
    """

    __slots__ = ("_armed", "_handle", "_heap", "_loop", "_resolution", "_sequence")

    _clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AlarmClock] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weak: the registry's value must not keep its key (the loop) alive.
        self._loop = weakref.ref(loop)
        # The horizon asyncio itself uses for timers that are due.
        self._resolution: float = getattr(loop, "_clock_resolution", 0.0)
        self._heap: list[tuple[float, int, Alarm]] = []
        self._sequence = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed = math.inf

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> AlarmClock:
        """The loop's clock, made on first use."""
        clock = cls._clocks.get(loop)
        if clock is None:
            clock = cls._clocks[loop] = cls(loop)
        return clock

    def __len__(self) -> int:
        """Entries held, stale ones included."""
        return len(self._heap)

    def add(self, when: float, alarm: Alarm) -> None:
        """Ring ``alarm`` at loop time ``when`` unless its wake-up has moved by then."""
        heapq.heappush(self._heap, (when, next(self._sequence), alarm))
        if when < self._armed:
            self._arm(when)

    def moved(self, alarm: Alarm) -> None:
        """``alarm``'s entry went stale: if it was the earliest, re-arm at the next live one."""
        heap = self._heap
        if heap and heap[0][2] is alarm:
            self._prune()
            self._arm(heap[0][0] if heap else math.inf)

    def _prune(self) -> None:
        heap = self._heap
        while heap:
            when, _, alarm = heap[0]
            if alarm._when == when and alarm._future is not None:
                return
            heapq.heappop(heap)

    def _arm(self, when: float) -> None:
        if when == self._armed:
            return
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._armed = when
        loop = self._loop()
        if when != math.inf and loop is not None:
            self._handle = loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed = math.inf
        loop = self._loop()
        if loop is None:
            return
        due = loop.time() + self._resolution
        heap = self._heap
        pop = heapq.heappop
        while heap and heap[0][0] <= due:
            when, _, alarm = pop(heap)
            future = alarm._future
            if future is not None and alarm._when == when and not future.done():
                future.set_result(None)
        self._prune()
        if heap:
            self._arm(heap[0][0])


class Alarm:
    """One task sleeps on it at a time; anyone on the loop may postpone the wake-up.

    >>> async def demo() -> bool:
    ...     alarm = Alarm()
    ...     loop = asyncio.get_running_loop()
    ...     loop.call_later(0.001, alarm.postpone, 0.02)
    ...     start = loop.time()
    ...     await alarm.sleep(0.005)
    ...     return loop.time() - start >= 0.015
    >>> asyncio.run(demo())
    True
    """

    __slots__ = ("_clock", "_future", "_when")

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None
        self._clock: AlarmClock | None = None
        self._when = math.nan
        """Loop time of the live wake-up; NaN (equal to nothing) when none is pending."""

    @property
    def waiting(self) -> bool:
        """True while a task sleeps on the alarm."""
        return self._future is not None

    async def sleep(self, delay_s: float) -> None:
        """Sleep ``delay_s`` seconds, or longer if :meth:`postpone` moves the wake-up."""
        loop = asyncio.get_running_loop()
        clock = self._clock
        if clock is None or clock._loop() is not loop:
            clock = self._clock = AlarmClock.of(loop)
        future: asyncio.Future[None] = loop.create_future()
        self._when = when = loop.time() + max(delay_s, 0.0)
        self._future = future
        clock.add(when, self)
        try:
            await future
        finally:
            self._future = None
            self._when = math.nan
            clock.moved(self)  # woken or cancelled early, its entry may still lead the heap

    def wake(self) -> None:
        """Wake the sleeper now; do nothing if no task sleeps on the alarm."""
        future = self._future
        if future is not None and not future.done():
            future.set_result(None)

    def postpone(self, delay_s: float) -> None:
        """Wake the sleeper ``delay_s`` from now instead, if that is later; else do nothing."""
        future = self._future
        clock = self._clock
        if future is None or future.done() or clock is None:
            return
        when = future.get_loop().time() + delay_s
        if when <= self._when:
            return
        self._when = when
        clock.moved(self)  # the old entry is stale from here on
        clock.add(when, self)
