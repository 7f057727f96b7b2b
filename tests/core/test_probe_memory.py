"""Bounded memory: 5,000 more probes (4 bytes each would fail) leave the footprint flat."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from otel_genesys.core.outcome import ProbeMode
from otel_genesys.core.probe import ProbeSession
from otel_genesys.core.stall import StallLog
from tests.core.probe_helpers import MS, WALL0, session


def cycles(s: ProbeSession, log: StallLog, start: int, n: int) -> None:
    """1 Hz probing with drops, duplicates, strays and stalls mixed in."""
    control = s.mode is ProbeMode.CONTROL
    for i in range(start, start + n):
        now = i * 1_000 * MS
        s.expire(now)
        t = s.send(now, WALL0)
        if i % 13 == 0:
            log.record_lag(now + 2 * MS, 2 * MS)
        if i % 10 == 0:
            continue  # dropped: times out at the next expire
        payload = t.payload if control else None
        s.pong(payload, now + (1 + i % 5) * MS)
        if i % 7 == 0:
            s.pong(payload, now + 9 * MS)
        if i % 11 == 0:
            s.pong(b"stray" if control else None, now + 9 * MS)


@pytest.mark.parametrize("mode", list(ProbeMode))
def test_memory_does_not_grow_with_uptime(mode: ProbeMode) -> None:
    log = StallLog(capacity=64)
    s = session(mode, stalls=log, degraded_policy="exclude")
    cycles(s, log, 1, 1_500)  # fill every ring and window
    gc.collect()
    tracemalloc.start()
    try:
        cycles(s, log, 1_501, 500)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        cycles(s, log, 2_001, 5_000)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 16 * 1024
    c = s.counters
    assert c.sent == 7_000 and c.timeout > 600 and c.ok > 6_000
    assert s.outstanding <= 1
