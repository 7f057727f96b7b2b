"""Stability: the share of probes that came back within the latency limit.

A probe counts as *good* when it was answered with ``RTT <= max_latency``, as
*bad* when it was answered slower or timed out. Aborted probes (cut off by a
disconnect) are not counted at all: they say nothing about latency. Three
views, each in ``[0, 1]`` and ``1.0`` while nothing has been counted:

* **count window**: the last ``window`` counted probes (default 100), a ring
  of bits with a running total: O(1) per probe.
* **time window**: probes settled in the last ``window_ns`` (default 5 min).
  Kept as 60 time buckets with (good, total) counts, so memory does not depend
  on the probe rate; the window therefore advances in steps of
  ``window_ns / 60`` (5 s by default).
* **lifetime**: since the session began.

There is one tracker per connection and probe mode, so the buckets are a typed
array of 32-bit counts (~0.5 KiB instead of ~1 KiB of lists). A bucket counts
the probes settled within one ``window_ns / 60``: to pass 2**32 - 1 it would
take over 4 billion probes in 5 s by default, or 50 days of a probe every
millisecond with a time window of eight years. Should it happen anyway, the
counts are widened to 64 bits (exact, nothing raised on the probe path).
"""

from __future__ import annotations

from array import array

from otel_genesys.core.window import bits, get_bit, set_bit

TIME_BUCKETS = 60


class StabilityTracker:
    """Count-window, time-window and lifetime stability.

    >>> s = StabilityTracker(window=4, window_ns=60_000)
    >>> for t, good in enumerate((True, False, True, True, True)):
    ...     s.record(good, t * 1_000)
    >>> s.window_ratio, s.lifetime_ratio
    (0.75, 0.8)
    """

    __slots__ = (
        "_bucket_ns",
        "_buckets",
        "_head_bucket",
        "_ring",
        "_ring_good",
        "_ring_next",
        "_ring_size",
        "_time_good",
        "_time_total",
        "lifetime_good",
        "lifetime_total",
        "window",
        "window_ns",
    )

    def __init__(self, window: int = 100, window_ns: int = 300_000_000_000) -> None:
        if window <= 0:
            raise ValueError(f"stability window must be positive, got {window}")
        if window_ns < TIME_BUCKETS:
            raise ValueError(f"stability time window too small: {window_ns} ns")
        self.window = window
        self.window_ns = window_ns
        self._ring = bits(window)  # a bit per probe: set = good
        self._ring_next = 0
        self._ring_size = 0
        self._ring_good = 0
        self._bucket_ns = -(-window_ns // TIME_BUCKETS)
        # Good counts in [0, TIME_BUCKETS), totals in [TIME_BUCKETS, 2 * TIME_BUCKETS).
        self._buckets = array("I", [0]) * (2 * TIME_BUCKETS)
        self._head_bucket: int | None = None
        self._time_good = 0
        self._time_total = 0
        self.lifetime_good = 0
        self.lifetime_total = 0

    def record(self, good: bool, now_ns: int) -> None:
        """Count one probe settled at ``now_ns``."""
        g = 1 if good else 0
        i = self._ring_next
        if self._ring_size == self.window:
            self._ring_good -= get_bit(self._ring, i)
        else:
            self._ring_size += 1
        set_bit(self._ring, i, good)
        self._ring_good += g
        self._ring_next = 0 if i + 1 == self.window else i + 1

        self._advance(now_ns)
        slot = (now_ns // self._bucket_ns) % TIME_BUCKETS
        buckets = self._buckets
        try:
            buckets[TIME_BUCKETS + slot] += 1
        except OverflowError:  # see the module docstring: widen, never raise
            buckets = self._buckets = array("Q", buckets)
            buckets[TIME_BUCKETS + slot] += 1
        buckets[slot] += g  # cannot overflow: a good count never exceeds its total
        self._time_good += g
        self._time_total += 1

        self.lifetime_good += g
        self.lifetime_total += 1

    def _advance(self, now_ns: int) -> None:
        """Empty the buckets that fell out of the time window by ``now_ns``."""
        bucket = now_ns // self._bucket_ns
        head = self._head_bucket
        if head is None:
            self._head_bucket = bucket
            return
        if bucket <= head:
            return  # same bucket, or a clock that did not advance
        steps = min(bucket - head, TIME_BUCKETS)
        buckets = self._buckets
        for b in range(head + 1, head + 1 + steps):
            slot = b % TIME_BUCKETS
            self._time_good -= buckets[slot]
            self._time_total -= buckets[TIME_BUCKETS + slot]
            buckets[slot] = 0
            buckets[TIME_BUCKETS + slot] = 0
        self._head_bucket = bucket

    @property
    def window_ratio(self) -> float:
        """Stability over the last ``window`` counted probes."""
        return self._ring_good / self._ring_size if self._ring_size else 1.0

    def time_ratio(self, now_ns: int | None = None) -> float:
        """Stability over the time window ending at ``now_ns`` (default: last record)."""
        if now_ns is not None:
            self._advance(now_ns)
        return self._time_good / self._time_total if self._time_total else 1.0

    @property
    def lifetime_ratio(self) -> float:
        """Stability since the session began."""
        return self.lifetime_good / self.lifetime_total if self.lifetime_total else 1.0
