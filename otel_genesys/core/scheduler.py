"""A fixed-rate probe cadence on monotonic deadlines, with drift compensation.

Slots sit on a fixed grid: slot ``k`` is ``start_ns + k * interval_ns``
(the first probe goes out at ``start_ns``). The grid never moves by itself,
so a late probe does not push every later one back (no cumulative drift);
only `DriftScheduler.move_to` sets it elsewhere, which the agent does once
per link, after its first probe, to put the target on its stagger slot
(`stagger_offset_ns`, `first_slot_ns`).

**Lateness.** `DriftScheduler.fire` records ``lateness = now - slot`` for the
oldest slot that was due. A negative value means the probe went out early,
which only happens when drift compensation pulled the wake-up forward.

**No bursts.** If the caller could not fire for a while (the event loop was
blocked, the machine was suspended), all slots that passed are *skipped*:
one fire for the oldest due slot, the rest counted in `Tick.skipped`, and the
next slot is the first grid slot strictly after ``now``. A stall of 10
intervals yields exactly one probe, then the cadence resumes on the grid.

**Drift rule (exact).** Sleeping is imprecise: asyncio rounds timeouts to the
selector's granularity and a busy loop runs callbacks late, so a caller asked
to wake at ``w`` typically fires at ``w + d``. The scheduler estimates that
systematic wake-up delay and asks to be woken earlier by most of it:

1. On every fire with ``skipped == 0``, the wake-up delay
   ``d = max(0, now - wake)`` (``wake`` being the value `next_fire_ns`
   returned for this slot) is taken. The fires form blocks of 8; the
   *systematic delay* ``S`` is the smallest ``d`` of the last complete block
   and of the block in progress (so of the last 8 to 15 fires; before the
   first block completes, of the fires so far).
   Fires that skipped slots are stalls, not drift, and are left out.
   ``d`` is measured against the wake time, not the slot, so it does not
   depend on the correction already applied and the loop cannot oscillate.
   ``S`` is a minimum, not a mean: only the delay that every recent wake-up
   had is systematic. When the delay varies (a loaded loop runs some timers
   on time and some hundreds of milliseconds late), a mean would pull most
   wake-ups early to make up for a few late ones. With the minimum, a probe
   goes out before its slot only when its own wake-up was quicker than
   every one of the last 8 or more. A rise is followed within 8-15 fires,
   a fall at once.
2. If ``enabled`` and ``S > max_drift_ns``, the correction is
   ``c = min(floor(adjust_factor * S), interval // 2)``, else ``c = 0``.
   The cap keeps two wake-ups at least half an interval apart: a "drift"
   of half the interval is a stalled loop, and no correction can fix that.
3. The next wake is ``max(slot - c, last_fire)``: never earlier than the
   previous fire, never later than the slot.

`Tick.correction_ns` is ``slot - wake`` for the slot that just fired: how
much earlier than its slot the caller was asked to wake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

_BLOCK = 8  # fires per block of the floor estimate: follows a real change within 8-15 fires


@dataclass(frozen=True, slots=True)
class DriftSettings:
    """How the scheduler compensates systematic wake-up delay."""

    enabled: bool = True
    max_drift_ns: int = 10_000_000
    """Systematic wake-up delay tolerated before compensating."""
    adjust_factor: float = 0.95
    """Share of the systematic delay to wake earlier by (0..1)."""

    def __post_init__(self) -> None:
        if self.max_drift_ns < 0:
            raise ValueError(f"max_drift_ns must be >= 0, got {self.max_drift_ns}")
        if not 0.0 <= self.adjust_factor <= 1.0:
            raise ValueError(f"adjust_factor must be within [0, 1], got {self.adjust_factor}")


class Tick(NamedTuple):
    """One fire of the scheduler (a named tuple: one is made per probe)."""

    slot_index: int
    """Grid index of the slot that fired (0 for the first)."""
    slot_ns: int
    """Where the slot sits on the grid."""
    fired_ns: int
    """When the caller actually fired."""
    lateness_ns: int
    """``fired_ns - slot_ns``; negative when compensation woke us early."""
    skipped: int
    """Slots that passed during a stall and were dropped (never sent late)."""
    correction_ns: int
    """How much earlier than ``slot_ns`` the wake-up was requested."""


class DriftScheduler:
    """Fixed-rate cadence; see the module docstring for the exact rules.

    >>> s = DriftScheduler(1_000, 0, DriftSettings(enabled=False))
    >>> s.next_fire_ns()
    0
    >>> t = s.fire(5_500)  # stalled for 5.5 intervals: one fire, 5 slots skipped
    >>> (t.slot_index, t.lateness_ns, t.skipped, s.next_fire_ns())
    (0, 5500, 5, 6000)
    """

    __slots__ = (
        "_block_min_ns",
        "_block_n",
        "_correction_ns",
        "_drift",
        "_floor_ns",
        "_index",
        "_last_fire_ns",
        "_wake_ns",
        "interval_ns",
        "start_ns",
    )

    def __init__(self, interval_ns: int, start_ns: int, drift: DriftSettings) -> None:
        if interval_ns <= 0:
            raise ValueError(f"interval must be positive, got {interval_ns} ns")
        self.interval_ns = interval_ns
        self.start_ns = start_ns
        self._drift = drift
        self._index = 0
        self._last_fire_ns = start_ns
        self._floor_ns = -1  # minimum of the last complete block; -1 before the first
        self._block_min_ns = -1  # minimum so far of the block in progress; -1 when empty
        self._block_n = 0
        self._correction_ns = 0
        self._wake_ns = start_ns

    @property
    def slot_ns(self) -> int:
        """The grid slot the next fire belongs to."""
        return self.start_ns + self._index * self.interval_ns

    @property
    def correction_ns(self) -> int:
        """The pull currently applied to wake-ups (0 when not compensating)."""
        return self._correction_ns

    @property
    def systematic_delay_ns(self) -> int | None:
        """The wake-up delay every recent fire had; ``None`` before the first on-time fire.

        The smallest delay over the last complete block of 8 on-time fires and the
        block in progress (so over the last 8 to 15).
        """
        floor, current = self._floor_ns, self._block_min_ns
        if floor < 0:
            return None if current < 0 else current
        return floor if current < 0 or floor < current else current

    def next_fire_ns(self) -> int:
        """When the caller should wake next; never before the previous fire."""
        return self._wake_ns

    def move_to(self, slot_ns: int) -> None:
        """Put the grid's next slot at ``slot_ns``; the interval and drift estimate stay.

        The agent moves a target onto its stagger slot after the first probe of a link.

        >>> s = DriftScheduler(1_000, 0, DriftSettings(enabled=False))
        >>> _ = s.fire(0)
        >>> s.move_to(1_250)
        >>> (s.next_fire_ns(), s.fire(1_250).slot_ns, s.next_fire_ns())
        (1250, 1250, 2250)
        """
        self.start_ns = slot_ns
        self._index = 0
        self._wake_ns = max(slot_ns - self._correction_ns, self._last_fire_ns)

    def fire(self, now_ns: int) -> Tick:
        """Record a fire at ``now_ns``, skip missed slots, plan the next wake-up."""
        interval = self.interval_ns
        index = self._index
        slot = self.start_ns + index * interval
        lateness = now_ns - slot
        skipped = lateness // interval if lateness >= interval else 0
        requested_pull = slot - self._wake_ns
        if skipped == 0:
            delay = max(0, now_ns - self._wake_ns)
            block_min = self._block_min_ns
            if block_min < 0 or delay < block_min:
                block_min = delay
            if self._block_n == _BLOCK - 1:
                self._floor_ns, self._block_min_ns, self._block_n = block_min, -1, 0
            else:
                self._block_min_ns, self._block_n = block_min, self._block_n + 1
        drift = self._drift
        s = self.systematic_delay_ns
        if drift.enabled and s is not None and s > drift.max_drift_ns:
            self._correction_ns = min(int(drift.adjust_factor * s), interval // 2)
        else:
            self._correction_ns = 0
        self._index = index + 1 + skipped
        self._last_fire_ns = max(self._last_fire_ns, now_ns)
        next_slot = self.start_ns + self._index * interval
        self._wake_ns = max(next_slot - self._correction_ns, self._last_fire_ns)
        return Tick(index, slot, now_ns, lateness, skipped, requested_pull)


def stagger_offset_ns(index: int, count: int, interval_ns: int, grid_ns: int) -> int:
    """Where target ``index`` of ``count`` probes within one interval.

    The offsets spread the targets evenly over the interval, then round down to a
    multiple of ``grid_ns``, so the targets whose offsets fall on the same step share
    one slot and their pings leave in one wake-up of the event loop. ``grid_ns = 0``
    keeps every offset as it is. A grid at or above the spacing of the targets
    (``interval / count``) groups them: about ``count * grid / interval`` a slot.

    >>> [stagger_offset_ns(i, 8, 1_000, 0) for i in range(8)]
    [0, 125, 250, 375, 500, 625, 750, 875]
    >>> [stagger_offset_ns(i, 8, 1_000, 250) for i in range(8)]
    [0, 0, 250, 250, 500, 500, 750, 750]
    """
    offset = index * interval_ns // count
    return offset - offset % grid_ns if grid_ns > 0 else offset


def first_slot_ns(now_ns: int, anchor_ns: int, offset_ns: int, interval_ns: int) -> int:
    """The first slot at or after ``now_ns`` on the grid ``anchor + offset + k * interval``.

    Targets that share an offset share every slot, whenever each (re)connected.

    >>> first_slot_ns(now_ns=50, anchor_ns=0, offset_ns=30, interval_ns=100)
    130
    >>> first_slot_ns(now_ns=10, anchor_ns=0, offset_ns=30, interval_ns=100)
    30
    >>> first_slot_ns(now_ns=130, anchor_ns=0, offset_ns=30, interval_ns=100)
    130
    """
    base = anchor_ns + offset_ns
    if now_ns <= base:
        return base
    return base + -(-(now_ns - base) // interval_ns) * interval_ns
