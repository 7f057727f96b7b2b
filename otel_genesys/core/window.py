"""Fixed-capacity building blocks shared by the estimators: a ring of ints, bit
flags in a ``bytearray``, and the nearest-rank quantile.

Memory is allocated once, at construction; adding a value never allocates
a container, so a monitor running for a month holds exactly what it held
after its first ``capacity`` samples.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence


class IntRing:
    """The last ``capacity`` signed 64-bit integers pushed, oldest overwritten first.

    Stored in an ``array('q')``: 8 bytes a value, no int objects kept alive.

    >>> r = IntRing(3)
    >>> for v in (1, 2, 3, 4):
    ...     _ = r.push(v)
    >>> sorted(r.values()), len(r)
    ([2, 3, 4], 3)
    """

    __slots__ = ("_items", "_next", "_size", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"ring capacity must be positive, got {capacity}")
        self.capacity = capacity
        self._items = array("q", bytes(8 * capacity))
        self._next = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, value: int) -> int | None:
        """Store ``value``; return the value it displaced, if the ring was full."""
        i = self._next
        evicted = self._items[i] if self._size == self.capacity else None
        self._items[i] = value
        self._next = 0 if i + 1 == self.capacity else i + 1
        if self._size < self.capacity:
            self._size += 1
        return evicted

    def values(self) -> list[int]:
        """The stored values (in no particular order); a new list."""
        if self._size == self.capacity:
            return self._items.tolist()
        return self._items[: self._size].tolist()

    def tail(self, n: int) -> list[int]:
        """The last ``n`` values pushed (all of them if fewer), in no particular order; a new list.

        >>> r = IntRing(4)
        >>> for v in (1, 2, 3, 4, 5):
        ...     _ = r.push(v)
        >>> sorted(r.tail(2)), sorted(r.tail(9))
        ([4, 5], [2, 3, 4, 5])
        """
        if n >= self._size:
            return self.values()
        # While the ring is not full, ``_next == _size``: the newest ``n`` are contiguous.
        end = self._next
        items = self._items
        if end >= n:
            return items[end - n : end].tolist()
        return items[self.capacity - (n - end) :].tolist() + items[:end].tolist()

    def clear(self) -> None:
        """Forget every value."""
        self._next = 0
        self._size = 0


def bits(count: int) -> bytearray:
    """Room for ``count`` flags, a bit each, all clear.

    >>> flags = bits(10)
    >>> set_bit(flags, 9, True); get_bit(flags, 9), get_bit(flags, 8), len(flags)
    (True, False, 2)
    """
    return bytearray((count + 7) // 8)


def get_bit(flags: bytearray, i: int) -> bool:
    """Flag ``i`` of ``flags``."""
    return bool(flags[i >> 3] >> (i & 7) & 1)


def set_bit(flags: bytearray, i: int, on: bool) -> None:
    """Set (``on``) or clear flag ``i`` of ``flags``."""
    if on:
        flags[i >> 3] |= 1 << (i & 7)
    else:
        flags[i >> 3] &= ~(1 << (i & 7))


def nearest_rank(sorted_values: Sequence[int], q: float) -> int:
    """The nearest-rank ``q`` quantile (0 < q <= 1) of an ascending sequence.

    The smallest value with at least ``q`` of the values at or below it; an
    actual sample, never an interpolation.

    >>> nearest_rank([10, 20, 30, 40], 0.5), nearest_rank([10, 20, 30, 40], 0.99)
    (20, 40)
    """
    n = len(sorted_values)
    if n == 0:
        raise ValueError("quantile of no values")
    rank = max(1, math.ceil(q * n))
    return sorted_values[min(rank, n) - 1]
