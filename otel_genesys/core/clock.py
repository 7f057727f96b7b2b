"""The one clock the measurement core trusts: monotonic integer nanoseconds.

Round trips, deadlines and schedules are differences of two readings, so the
clock must never jump. Wall time (``time.time_ns``) can be stepped by NTP or an
operator at any moment and would turn a 1 ms round trip into a negative or
hour-long one; ``perf_counter_ns`` is monotonic and has the finest resolution
the platform offers. Everything in ``otel_genesys.core`` takes the current
time as an argument (or a `Clock`), so tests drive it with a fake.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]
"""A zero-argument callable returning monotonic nanoseconds."""


def monotonic_ns() -> int:
    """The production clock: ``time.perf_counter_ns()``.

    >>> a = monotonic_ns(); b = monotonic_ns(); b >= a
    True
    """
    return time.perf_counter_ns()


class FakeClock:
    """A settable clock for tests and simulations; calling it returns ``now``.

    >>> clock = FakeClock(100)
    >>> clock.advance(50)
    150
    >>> clock()
    150
    """

    __slots__ = ("now",)

    def __init__(self, start_ns: int = 0) -> None:
        self.now = start_ns

    def __call__(self) -> int:
        return self.now

    def advance(self, delta_ns: int) -> int:
        """Move the clock forward by ``delta_ns`` (never backwards) and return it."""
        if delta_ns < 0:
            raise ValueError("a monotonic clock cannot go backwards")
        self.now += delta_ns
        return self.now
