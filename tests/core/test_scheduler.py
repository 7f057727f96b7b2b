"""DriftScheduler: fixed grid, lateness, skipping instead of bursting, drift rule."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_genesys.core.scheduler import (
    DriftScheduler,
    DriftSettings,
    first_slot_ns,
    stagger_offset_ns,
)

MS = 1_000_000
OFF = DriftSettings(enabled=False)


def test_on_time_fires_follow_the_grid() -> None:
    s = DriftScheduler(1_000 * MS, 5 * MS, OFF)
    assert s.next_fire_ns() == 5 * MS  # first probe at start
    ticks = []
    for _ in range(3):
        ticks.append(s.fire(s.next_fire_ns()))
    assert [t.slot_index for t in ticks] == [0, 1, 2]
    assert [t.slot_ns for t in ticks] == [5 * MS, 1_005 * MS, 2_005 * MS]
    assert all(t.lateness_ns == 0 and t.skipped == 0 for t in ticks)
    assert s.next_fire_ns() == 3_005 * MS


def test_late_fire_does_not_shift_the_grid() -> None:
    s = DriftScheduler(1_000 * MS, 0, OFF)
    s.fire(0)
    t = s.fire(1_300 * MS)
    assert (t.slot_ns, t.lateness_ns, t.skipped) == (1_000 * MS, 300 * MS, 0)
    assert s.next_fire_ns() == 2_000 * MS


def test_long_stall_fires_once_then_resumes_cadence() -> None:
    s = DriftScheduler(1_000 * MS, 0, OFF)
    s.fire(0)
    t = s.fire(10_500 * MS)  # slots 1..10 passed while stalled
    assert (t.slot_index, t.slot_ns, t.lateness_ns, t.skipped) == (1, 1_000 * MS, 9_500 * MS, 9)
    assert s.next_fire_ns() == 11_000 * MS
    t2 = s.fire(11_000 * MS)
    assert (t2.slot_index, t2.lateness_ns, t2.skipped) == (11, 0, 0)


def test_exactly_on_a_later_slot_counts_it_as_skipped() -> None:
    s = DriftScheduler(100, 0, OFF)
    t = s.fire(200)
    assert (t.skipped, s.next_fire_ns()) == (2, 300)


def test_drift_below_limit_is_not_corrected() -> None:
    s = DriftScheduler(1_000 * MS, 0, DriftSettings(True, 10 * MS, 0.95))
    for _ in range(20):
        t = s.fire(s.next_fire_ns() + 5 * MS)  # a steady 5 ms wake-up delay
        assert t.correction_ns == 0
    assert s.correction_ns == 0
    assert s.systematic_delay_ns == 5 * MS


def test_systematic_delay_above_limit_is_pulled_in() -> None:
    s = DriftScheduler(1_000 * MS, 0, DriftSettings(True, 10 * MS, 0.95))
    delay = 20 * MS
    t = s.fire(s.next_fire_ns() + delay)
    # The first sample is the estimate so far: S = 20 ms > 10 ms, pull = 0.95 * 20 ms = 19 ms.
    assert t.correction_ns == 0 and s.correction_ns == 19 * MS
    assert s.next_fire_ns() == 1_000 * MS - 19 * MS
    t = s.fire(s.next_fire_ns() + delay)
    assert t.correction_ns == 19 * MS
    assert t.lateness_ns == 1 * MS  # the send now lands 1 ms after its slot, not 20 ms
    for _ in range(50):
        t = s.fire(s.next_fire_ns() + delay)
    assert t.lateness_ns == 1 * MS and t.skipped == 0


def test_correction_fades_when_the_delay_goes_away() -> None:
    s = DriftScheduler(1_000 * MS, 0, DriftSettings(True, 10 * MS, 0.95))
    for _ in range(5):
        s.fire(s.next_fire_ns() + 40 * MS)
    assert s.correction_ns > 0
    for _ in range(40):
        s.fire(s.next_fire_ns())
    assert s.correction_ns == 0


def test_stalls_do_not_feed_the_drift_estimate() -> None:
    s = DriftScheduler(1_000 * MS, 0, DriftSettings(True, 10 * MS, 0.95))
    s.fire(0)
    s.fire(30_000 * MS)  # a 29 s stall: skipped slots, not drift
    assert s.systematic_delay_ns == 0 and s.correction_ns == 0


def test_a_few_very_late_wake_ups_do_not_pull_the_others_early() -> None:
    # A loaded loop: most timers run 5 ms late, one in eight 600 ms late. Nothing is
    # systematic beyond 5 ms, so nothing is corrected and no probe leaves early. (A mean,
    # about 79 ms here, would pull every wake-up some 75 ms early.)
    s = DriftScheduler(1_000 * MS, 0, DriftSettings(True, 10 * MS, 0.95))
    late = []
    for i in range(64):
        t = s.fire(s.next_fire_ns() + (600 if i % 8 == 3 else 5) * MS)
        late.append(t.lateness_ns)
        assert t.correction_ns == 0
    assert min(late) == 5 * MS
    assert s.systematic_delay_ns == 5 * MS


def test_a_raised_delay_is_followed_within_two_blocks() -> None:
    s = DriftScheduler(1_000 * MS, 0, DriftSettings(True, 10 * MS, 0.95))
    s.fire(s.next_fire_ns())  # one on-time fire opens the first block
    fires_until_corrected = None
    for i in range(1, 40):
        s.fire(s.next_fire_ns() + 30 * MS)
        if s.correction_ns and fires_until_corrected is None:
            fires_until_corrected = i
    # The block holding the on-time fire ends after 7 more; the next one is all 30 ms.
    assert fires_until_corrected == 15
    assert s.correction_ns == int(0.95 * 30 * MS)
    t = s.fire(s.next_fire_ns() + 30 * MS)
    assert t.lateness_ns == 30 * MS - int(0.95 * 30 * MS)


def test_a_single_quick_wake_up_drops_the_correction_at_once() -> None:
    s = DriftScheduler(1_000 * MS, 0, DriftSettings(True, 10 * MS, 0.95))
    for _ in range(20):
        s.fire(s.next_fire_ns() + 40 * MS)
    assert s.correction_ns == 38 * MS
    s.fire(s.next_fire_ns() + 1 * MS)
    assert s.correction_ns == 0 and s.systematic_delay_ns == 1 * MS


def test_correction_is_capped_at_half_an_interval() -> None:
    s = DriftScheduler(100 * MS, 0, DriftSettings(True, 1 * MS, 1.0))
    for _ in range(30):
        s.fire(s.next_fire_ns() + 90 * MS)
    assert s.correction_ns == 50 * MS
    t = s.fire(s.next_fire_ns())
    assert t.lateness_ns == -50 * MS and t.correction_ns == 50 * MS


def test_disabled_compensation_still_measures() -> None:
    s = DriftScheduler(1_000 * MS, 0, DriftSettings(False, 10 * MS, 0.95))
    for _ in range(5):
        s.fire(s.next_fire_ns() + 50 * MS)
    assert s.systematic_delay_ns == 50 * MS and s.correction_ns == 0


def test_invalid_settings() -> None:
    with pytest.raises(ValueError):
        DriftScheduler(0, 0, OFF)
    with pytest.raises(ValueError):
        DriftSettings(adjust_factor=1.5)
    with pytest.raises(ValueError):
        DriftSettings(max_drift_ns=-1)


@given(
    interval=st.integers(1, 10**9),
    enabled=st.booleans(),
    max_drift=st.integers(0, 10**8),
    factor=st.floats(0.0, 1.0),
    gaps=st.lists(st.integers(-(10**9), 10**11), min_size=1, max_size=60),
)
def test_never_in_the_past_never_bursting(
    interval: int, enabled: bool, max_drift: int, factor: float, gaps: list[int]
) -> None:
    start = 10**12
    s = DriftScheduler(interval, start, DriftSettings(enabled, max_drift, factor))
    last_fire = start
    prev_index = -1
    for gap in gaps:
        # The caller wakes somewhere around the requested time (early, late or very late),
        # but never before its own previous wake-up.
        now = max(last_fire, s.next_fire_ns() + gap)
        t = s.fire(now)
        assert t.slot_index > prev_index
        nxt = s.next_fire_ns()
        assert nxt >= now  # never in the past relative to the last fire
        assert s.slot_ns > now  # the next slot is strictly in the future: no burst
        assert t.skipped >= 0
        assert t.slot_index + 1 + t.skipped == (s.slot_ns - start) // interval
        # After a stall, exactly one fire covered every passed slot.
        assert t.slot_ns + (t.skipped + 1) * interval > now
        assert 0 <= t.correction_ns <= interval // 2
        prev_index = t.slot_index
        last_fire = now


@pytest.mark.parametrize(
    ("count", "grid_ns", "largest"),
    [(1_000, 2_000_000, 2), (5_000, 2_000_000, 10), (10_000, 2_000_000, 20), (7, 0, 1)],
)
def test_stagger_offsets_share_a_step_in_groups_of_count_times_grid_over_interval(
    count: int, grid_ns: int, largest: int
) -> None:
    interval = 1_000_000_000
    offsets = [stagger_offset_ns(i, count, interval, grid_ns) for i in range(count)]
    assert offsets == sorted(offsets) and offsets[0] >= 0 and offsets[-1] < interval
    if grid_ns:
        assert all(o % grid_ns == 0 for o in offsets)
    sizes = Counter(offsets).values()
    assert max(sizes) == largest and min(sizes) >= largest - 1


def test_first_slot_is_on_the_grid_and_never_in_the_past() -> None:
    interval, anchor, offset = 1_000, 5, 300
    for now in range(0, 5_000, 7):
        slot = first_slot_ns(now, anchor, offset, interval)
        assert slot >= now and (slot - anchor - offset) % interval == 0
        assert slot - now < interval
