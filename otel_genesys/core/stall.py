"""A bounded log of the agent's own stalls: event-loop lag and GC pauses.

A round trip is the time between two timestamps taken *by the agent*. If the
event loop was blocked (a long callback, a burst of span export, a
garbage-collection pause) when the pong arrived, the pong's timestamp is
taken late and the RTT includes the agent's stall, not only the network.
`StallLog` keeps recent stalls so that, when a probe settles, the probe
session can ask how much stall overlapped its ``[sent, settled]`` window.

Entries must be recorded in non-decreasing order of their end time (which is
what a ticker and ``gc.callbacks`` naturally do); queries walk back from the
newest entry and stop at the first one that ended before the window, so a
query costs the number of stalls inside or after the window, not the
capacity.
"""

from __future__ import annotations

LAG = 0
"""Entry kind: event-loop lag observed by a ticker."""
GC = 1
"""Entry kind: a garbage-collection pause."""


class StallLog:
    """A ring of the last ``capacity`` stalls as ``(start_ns, end_ns, kind)``.

    >>> log = StallLog()
    >>> log.record_lag(observed_at_ns=1_000, lag_ns=300)   # loop blocked over [700, 1000]
    >>> log.record_gc(2_000, 2_050)
    >>> log.window(0, 3_000)
    (300, 50)
    >>> log.window(900, 3_000)   # only the part of the lag inside the window counts
    (100, 50)
    """

    __slots__ = ("_ends", "_kinds", "_next", "_size", "_starts", "capacity")

    def __init__(self, capacity: int = 1024) -> None:
        if capacity <= 0:
            raise ValueError(f"stall log capacity must be positive, got {capacity}")
        self.capacity = capacity
        self._starts = [0] * capacity
        self._ends = [0] * capacity
        self._kinds = bytearray(capacity)
        self._next = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def _add(self, start_ns: int, end_ns: int, kind: int) -> None:
        i = self._next
        self._starts[i] = start_ns
        self._ends[i] = end_ns
        self._kinds[i] = kind
        self._next = 0 if i + 1 == self.capacity else i + 1
        if self._size < self.capacity:
            self._size += 1

    def record_lag(self, observed_at_ns: int, lag_ns: int) -> None:
        """A ticker fired ``lag_ns`` late at ``observed_at_ns``.

        The loop was therefore blocked over ``[observed_at - lag, observed_at]``.
        Non-positive lags are ignored.
        """
        if lag_ns > 0:
            self._add(observed_at_ns - lag_ns, observed_at_ns, LAG)

    def record_gc(self, start_ns: int, end_ns: int) -> None:
        """A garbage collection ran over ``[start_ns, end_ns]``."""
        if end_ns > start_ns:
            self._add(start_ns, end_ns, GC)

    def window(self, start_ns: int, end_ns: int) -> tuple[int, int]:
        """``(worst loop lag, total GC pause)`` overlapping ``[start_ns, end_ns]``.

        Each stall is clipped to the window first: a 50 ms stall that ends
        1 ms into the window can have distorted the sample by at most 1 ms.
        """
        worst_lag = 0
        gc_total = 0
        size = self._size
        if size == 0 or end_ns <= start_ns:
            return (0, 0)
        starts = self._starts
        ends = self._ends
        kinds = self._kinds
        cap = self.capacity
        i = self._next
        for _ in range(size):
            i = i - 1 if i else cap - 1
            e = ends[i]
            if e <= start_ns:
                break
            s = starts[i]
            overlap = min(e, end_ns) - max(s, start_ns)
            if overlap <= 0:
                continue
            if kinds[i] == LAG:
                if overlap > worst_lag:
                    worst_lag = overlap
            else:
                gc_total += overlap
        return (worst_lag, gc_total)

    def clear(self) -> None:
        """Forget every stall."""
        self._next = 0
        self._size = 0
