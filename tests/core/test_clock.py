"""The production clock is monotonic and the fake refuses to go backwards."""

from __future__ import annotations

import pytest

from otel_genesys.core.clock import FakeClock, monotonic_ns


def test_monotonic_ns_never_decreases() -> None:
    readings = [monotonic_ns() for _ in range(1_000)]
    assert readings == sorted(readings)
    assert isinstance(readings[0], int)


def test_fake_clock() -> None:
    clock = FakeClock(10)
    assert clock() == 10
    assert clock.advance(5) == 15 == clock()
    with pytest.raises(ValueError):
        clock.advance(-1)
