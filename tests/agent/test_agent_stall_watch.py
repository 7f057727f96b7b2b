"""StallWatch: the fine ticker runs only while pings are in flight, on a fixed grid."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from otel_genesys.agent.stall import TIMER_SLACK_NS, StallWatch
from otel_genesys.agent.supervisor import Agent
from otel_genesys.core.outcome import Outcome, ProbeMode
from otel_genesys.emulator import Emulator, FaultSpec
from tests.e2e.e2e_helpers import BOTH, Collector, notification_target, wait_until


def _block_loop(seconds: float) -> None:
    """Hold the event loop (the stall the watch must see)."""
    time.sleep(seconds)


async def test_the_fine_ticker_runs_only_while_a_ping_is_in_flight() -> None:
    watch = StallWatch(period_s=0.005, idle_period_s=60.0)
    watch.start()
    try:
        await asyncio.sleep(0.05)
        assert watch.fine_ticks == 0  # nothing in flight: no fine ticks at all
        watch.begin()
        watch.begin()
        await asyncio.sleep(0.05)
        running = watch.fine_ticks
        assert running >= 4
        watch.end()  # one of two settled: still watching
        await asyncio.sleep(0.03)
        assert watch.fine_ticks > running
        watch.end()
        stopped_at = watch.fine_ticks
        await asyncio.sleep(0.05)
        assert watch.fine_ticks == stopped_at
        assert watch.in_flight == 0
    finally:
        watch.stop()


async def test_more_outcomes_than_pings_never_drive_the_count_negative() -> None:
    watch = StallWatch(period_s=0.005, idle_period_s=60.0)
    watch.start()
    try:
        watch.end(3)
        assert watch.in_flight == 0
        watch.begin()  # and the next ping is still watched
        await asyncio.sleep(0.03)
        assert watch.fine_ticks >= 2
    finally:
        watch.stop()


async def test_fine_ticks_fall_on_the_grid_an_always_on_ticker_would_use() -> None:
    ticks: list[int] = []
    watch = StallWatch(period_s=0.01, idle_period_s=60.0)
    watch.start()
    origin = watch.last_tick_ns
    real = watch._observe

    def spy(now: int, due_ns: int) -> None:
        ticks.append(due_ns)
        real(now, due_ns)

    watch._observe = spy  # type: ignore[method-assign]
    try:
        for _ in range(3):  # three separate flights, at arbitrary phases
            watch.begin()
            await asyncio.sleep(0.025)
            watch.end()
            await asyncio.sleep(0.013)
    finally:
        watch.stop()
    assert len(ticks) >= 3
    assert all((due - origin) % 10_000_000 == 0 for due in ticks), ticks


async def test_a_block_during_a_flight_is_recorded_and_one_while_idle_is_not() -> None:
    watch = StallWatch(period_s=0.005, idle_period_s=60.0)
    watch.start()
    try:
        _block_loop(0.03)  # nothing in flight: no tick is due, nothing is recorded
        await asyncio.sleep(0.01)
        assert watch.log.window(0, time.perf_counter_ns()) == (0, 0)
        watch.begin()
        await asyncio.sleep(0)
        _block_loop(0.03)  # blocked with a ping in flight: the next fine tick is late
        await asyncio.sleep(0.01)
        watch.end()
        lag, _ = watch.log.window(0, time.perf_counter_ns())
        assert lag >= 0.03e9 - 0.005e9 - TIMER_SLACK_NS, lag
    finally:
        watch.stop()


async def test_the_idle_ticker_keeps_the_loop_liveness_while_nothing_is_in_flight() -> None:
    watch = StallWatch(period_s=0.005, idle_period_s=0.02)
    watch.start()
    try:
        first = watch.last_tick_ns
        await asyncio.sleep(0.1)
        assert watch.fine_ticks == 0
        assert watch.last_tick_ns > first
        assert watch.loop_responsive(time.perf_counter_ns(), within_s=0.1)
    finally:
        watch.stop()


async def test_the_idle_ticker_follows_a_prober_on_its_period() -> None:
    """A target probing once a period wakes the loop; the coarse tick comes just after
    that ping, in the same wake-up or a millisecond later, not in a wake-up of its own."""
    loop = asyncio.get_running_loop()
    period = 0.2
    watch = StallWatch(period_s=0.005, idle_period_s=period)
    ticks: list[int] = []
    pings: list[int] = []
    original = watch._idle_tick

    def tick() -> None:
        ticks.append(time.perf_counter_ns())
        original()

    watch._idle_tick = tick  # type: ignore[method-assign]
    watch.start()
    start = loop.time()

    def ping() -> None:  # a prober 80 ms out of phase with the watch's start
        pings.append(time.perf_counter_ns())
        watch.begin()
        watch.end()
        loop.call_at(start + 0.08 + len(pings) * period, ping)

    loop.call_at(start + 0.08, ping)
    try:
        await asyncio.sleep(period * 6.5)
    finally:
        watch.stop()
    later = [t for t in ticks if t > pings[1]]
    assert len(later) >= 3
    for t in later:  # each tick comes within a few ms after the last ping before it
        last_ping = max(p for p in pings if p <= t)
        assert t - last_ping < 10_000_000, (t - last_ping) / 1e6
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) < period * 1e9 + 10_000_000  # never more than a period apart


@pytest.mark.parametrize("periods", [(0.0, 1.0), (0.02, -1.0)])
def test_non_positive_periods_are_refused(periods: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="positive"):
        StallWatch(period_s=periods[0], idle_period_s=periods[1])


async def test_every_ping_the_agent_sends_is_balanced_by_one_outcome() -> None:
    """Over real sockets, with pongs dropped (timeouts) and the agent stopped mid-flight
    (aborts): the watch hears of every ping once and of every outcome once."""
    begun = ended = 0
    sink = Collector()
    async with Emulator() as emu:
        emu.faults.set_global(FaultSpec(drop_probability=0.3, seed=7))
        agent = Agent([notification_target(emu, modes=BOTH)], sink=sink)
        watch = agent.stall
        real_begin, real_end = watch.begin, watch.end

        def begin() -> None:
            nonlocal begun
            begun += 1
            real_begin()

        def end(settled: int = 1) -> None:
            nonlocal ended
            ended += settled
            real_end(settled)

        watch.begin = begin  # type: ignore[method-assign]
        watch.end = end  # type: ignore[method-assign]
        await agent.start()
        await wait_until(
            lambda: len(sink.by(outcome=Outcome.TIMEOUT)) >= 2
            and len(sink.by(outcome=Outcome.OK)) >= 10,
            timeout_s=15,
        )
        await agent.stop()
    assert begun == ended == len(sink.outcomes) > 0
    assert watch.in_flight == 0
    assert {o.mode for o in sink.outcomes} == {ProbeMode.CONTROL, ProbeMode.NOTIFICATION}
