"""Three views of round-trip variation, each cheap and bounded.

* **Consecutive** (the tutorial's jitter): ``|RTT(n) - RTT(n-1)|`` over
  consecutive OK samples. Instant, noisy; one slow probe shows up twice
  (on the way up and on the way down).
* **RFC 3550** (RTP interarrival jitter, applied to round trips):
  ``D = RTT(n) - RTT(n-1)``, ``J += (|D| - J) / 16``. A smoothed mean
  deviation; robust to single spikes, slow to react (time constant 16 samples).
* **Windowed PDV** (packet delay variation, ITU-T Y.1540 style):
  ``quantile(q) - min`` over the last ``window`` RTTs (nearest rank,
  q = 0.99 by default). "How much worse than the best case is the bad tail",
  the number that sizes a jitter buffer.

All three are ``None`` until two samples exist (one sample has no variation).
"""

from __future__ import annotations

from otel_genesys.core.window import IntRing, nearest_rank


class JitterTracker:
    """Consecutive, RFC 3550 and windowed-PDV jitter over OK samples.

    >>> j = JitterTracker(window=64, quantile=0.99)
    >>> for rtt in (10_000, 14_000, 12_000):
    ...     j.update(rtt)
    >>> j.consecutive_ns, j.rfc3550_ns, j.pdv_ns
    (2000, 359, 4000)
    """

    __slots__ = ("_j", "_ring", "consecutive_ns", "last_rtt_ns", "pdv_ns", "quantile", "window")

    def __init__(
        self, window: int = 64, quantile: float = 0.99, *, ring: IntRing | None = None
    ) -> None:
        if not 0.0 < quantile <= 1.0:
            raise ValueError(f"pdv quantile must be within (0, 1], got {quantile}")
        if window <= 0:
            raise ValueError(f"pdv window must be positive, got {window}")
        if ring is not None and ring.capacity < window:
            raise ValueError(f"a ring of {ring.capacity} cannot hold a pdv window of {window}")
        # With ``ring`` given, the samples live in that ring (`update` pushes them) and
        # whoever passed it may read a longer history of the same samples from it.
        self._ring = IntRing(window) if ring is None else ring
        self.window = window
        """The windowed PDV covers the last this-many samples."""
        self.quantile = quantile
        self._j: float | None = None
        self.last_rtt_ns: int | None = None
        self.consecutive_ns: int | None = None
        """The latest ``|RTT(n) - RTT(n-1)|``."""
        self.pdv_ns: int | None = None
        """The latest windowed PDV."""

    @property
    def rfc3550_ns(self) -> int | None:
        """The RFC 3550 smoothed jitter, rounded to whole nanoseconds."""
        return None if self._j is None else round(self._j)

    def peek_consecutive(self, rtt_ns: int) -> int | None:
        """What `consecutive_ns` would be for ``rtt_ns``, without recording it."""
        last = self.last_rtt_ns
        return None if last is None else abs(rtt_ns - last)

    def update(self, rtt_ns: int) -> None:
        """Record one OK sample."""
        last = self.last_rtt_ns
        if last is not None:
            d = abs(rtt_ns - last)
            self.consecutive_ns = d
            j = self._j if self._j is not None else 0.0
            self._j = j + (d - j) / 16.0
        self.last_rtt_ns = rtt_ns
        ring = self._ring
        ring.push(rtt_ns)
        if len(ring) >= 2 and self.window >= 2:  # a window of one sample has no variation
            # At most `window` (64 by default) ints: a sort costs ~1-2 us.
            values = sorted(ring.tail(self.window))
            self.pdv_ns = nearest_rank(values, self.quantile) - values[0]

    def reset(self) -> None:
        """Forget everything (e.g. when the path to the server changes).

        A ring passed in at construction is emptied too.
        """
        self._ring.clear()
        self._j = None
        self.last_rtt_ns = None
        self.consecutive_ns = None
        self.pdv_ns = None
