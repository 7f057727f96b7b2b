"""Small statistics helpers: quantiles of samples, and median/min/max over repeated runs.

The bench never reports a single run: each figure is the median of the runs'
values with the smallest and largest beside it, so noise on this shared
machine stays visible instead of being averaged away.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def quantile(values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of ``values`` (need not be sorted); NaN when empty.

    >>> quantile([5, 1, 3], 0.5)
    3
    >>> quantile([1, 2, 3, 4], 1.0)
    4
    """
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def quantiles(values: Sequence[float], qs: Iterable[float]) -> dict[str, float]:
    """``{"p50": …, "p99": …}`` for each q in ``qs`` (one sort for all)."""
    ordered = sorted(values)
    out: dict[str, float] = {}
    for q in qs:
        label = "max" if q >= 1.0 else f"p{q * 100:g}".replace(".", "")
        out[label] = quantile(ordered, q) if ordered else float("nan")
    return out


@dataclass(frozen=True, slots=True)
class Spread:
    """The median of repeated runs' values, with their min and max.

    >>> s = Spread.of([3.0, 1.0, 2.0])
    >>> (s.median, s.low, s.high, s.runs)
    (2.0, 1.0, 3.0, 3)
    >>> s.fmt("{:.1f}")
    '2.0 (1.0-3.0)'
    """

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        """Summarise the values (NaNs dropped; all-NaN gives NaN)."""
        clean = [v for v in values if v == v]
        if not clean:
            nan = float("nan")
            return cls(nan, nan, nan, 0)
        return cls(statistics.median(clean), min(clean), max(clean), len(clean))

    def fmt(self, pattern: str = "{:.3g}") -> str:
        """``median (min-max)``; a single run prints just its value."""
        if self.runs == 0:
            return "n/a"
        if self.runs == 1 or self.low == self.high:
            return pattern.format(self.median)
        return (
            f"{pattern.format(self.median)} "
            f"({pattern.format(self.low)}-{pattern.format(self.high)})"
        )
