"""StallLog: overlap of lag and GC with a window, clipped, bounded."""

from __future__ import annotations

import pytest

from otel_genesys.core.stall import StallLog


def test_lag_is_clipped_to_the_window_and_worst_wins() -> None:
    log = StallLog()
    log.record_lag(1_000, 400)  # [600, 1000]
    log.record_lag(2_000, 100)  # [1900, 2000]
    assert log.window(0, 5_000) == (400, 0)
    assert log.window(900, 5_000) == (100, 0)  # first clipped to 100, second is 100
    assert log.window(950, 1_950) == (50, 0)
    assert log.window(1_000, 1_900) == (0, 0)  # touching edges only


def test_gc_pauses_are_summed() -> None:
    log = StallLog()
    log.record_gc(100, 200)
    log.record_gc(300, 350)
    log.record_gc(1_000, 1_500)
    assert log.window(0, 400) == (0, 150)
    assert log.window(150, 1_100) == (0, 50 + 50 + 100)


def test_non_positive_stalls_are_ignored() -> None:
    log = StallLog()
    log.record_lag(100, 0)
    log.record_lag(100, -5)
    log.record_gc(10, 10)
    assert len(log) == 0
    assert log.window(0, 10**9) == (0, 0)


def test_capacity_bounds_memory_and_forgets_oldest() -> None:
    log = StallLog(capacity=4)
    for i in range(10):
        log.record_gc(i * 100, i * 100 + 10)
    assert len(log) == 4
    assert log.window(0, 10_000) == (0, 40)
    assert log.window(0, 550) == (0, 0)  # entries before 600 are gone


def test_empty_or_inverted_window() -> None:
    log = StallLog()
    log.record_gc(0, 100)
    assert log.window(50, 50) == (0, 0)
    assert log.window(80, 20) == (0, 0)
    with pytest.raises(ValueError):
        StallLog(0)
    log.clear()
    assert log.window(0, 100) == (0, 0)
