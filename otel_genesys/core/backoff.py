"""Exponential backoff with full jitter for reconnects and retries.

Delay number ``n`` (counting from 0) is drawn uniformly from
``[0, min(cap, base * 2**n)]``. Full jitter spreads a fleet of agents that
lost their connections at the same moment (a Genesys maintenance close, a
network blip) over the whole window instead of having them retry in lockstep.
"""

from __future__ import annotations

import random

# 2**62 * base already exceeds any sane cap; stop growing the exponent there so
# the arithmetic stays on small integers however long an outage lasts.
_MAX_SHIFT = 62


_SHARED_RNG = random.Random()
"""Drawn from by every unseeded `Backoff`: a Mersenne Twister state is ~2.5 KiB, and
an agent has one backoff per connection."""


class Backoff:
    """Exponential backoff with full jitter, seedable through ``rng``.

    >>> b = Backoff(100, 1_000, rng=random.Random(7))
    >>> b.peek_ceiling_ns(), 0 <= b.next_delay_ns() <= 100, b.peek_ceiling_ns()
    (100, True, 200)
    """

    __slots__ = ("_rng", "attempt", "base_ns", "cap_ns")

    def __init__(self, base_ns: int, cap_ns: int, *, rng: random.Random | None = None) -> None:
        if base_ns <= 0:
            raise ValueError(f"backoff base must be positive, got {base_ns} ns")
        if cap_ns < base_ns:
            raise ValueError(f"backoff cap ({cap_ns} ns) must be >= base ({base_ns} ns)")
        self.base_ns = base_ns
        self.cap_ns = cap_ns
        self._rng = rng if rng is not None else _SHARED_RNG
        self.attempt = 0
        """How many delays have been handed out since the last `reset`."""

    def peek_ceiling_ns(self) -> int:
        """The upper bound the next delay will be drawn from (never above the cap)."""
        shift = min(self.attempt, _MAX_SHIFT)
        return min(self.cap_ns, self.base_ns << shift)

    def next_delay_ns(self) -> int:
        """Draw the next delay in ``[0, ceiling]`` and move to the next attempt."""
        delay = self._rng.randint(0, self.peek_ceiling_ns())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Start again from the base (call after a success)."""
        self.attempt = 0
