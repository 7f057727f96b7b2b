"""Alarm: a sleep that the pong path can push later."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from otel_genesys.agent.alarm import Alarm, AlarmClock


async def test_sleep_wakes_after_its_delay() -> None:
    alarm = Alarm()
    loop = asyncio.get_running_loop()
    start = loop.time()
    await alarm.sleep(0.02)
    assert loop.time() - start >= 0.02
    assert not alarm.waiting


async def test_postpone_moves_the_wake_up_later() -> None:
    alarm = Alarm()
    loop = asyncio.get_running_loop()
    start = loop.time()
    loop.call_later(0.005, alarm.postpone, 0.05)
    await alarm.sleep(0.01)
    assert loop.time() - start >= 0.05


async def test_postpone_never_moves_the_wake_up_earlier() -> None:
    alarm = Alarm()
    loop = asyncio.get_running_loop()
    start = loop.time()
    loop.call_later(0.001, alarm.postpone, 0.0)
    await alarm.sleep(0.03)
    assert loop.time() - start >= 0.03


async def test_postpone_without_a_sleeper_is_a_no_op() -> None:
    alarm = Alarm()
    alarm.postpone(10.0)
    assert not alarm.waiting
    await asyncio.wait_for(alarm.sleep(0.001), 1.0)


async def test_cancelling_the_sleeper_leaves_no_timer_and_allows_a_new_sleep() -> None:
    alarm = Alarm()
    task = asyncio.create_task(alarm.sleep(10.0))
    await asyncio.sleep(0.001)
    assert alarm.waiting
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not alarm.waiting
    alarm.postpone(10.0)  # nothing to move: must not raise or schedule
    await asyncio.wait_for(alarm.sleep(0.001), 1.0)


async def test_wake_ends_the_sleep_now_even_after_a_postpone() -> None:
    alarm = Alarm()
    loop = asyncio.get_running_loop()
    start = loop.time()
    loop.call_later(0.005, alarm.postpone, 30.0)
    loop.call_later(0.01, alarm.wake)
    await alarm.sleep(10.0)
    assert loop.time() - start < 1.0
    assert not alarm.waiting
    alarm.wake()  # nobody sleeps: nothing happens


def _our_timers(loop: asyncio.AbstractEventLoop) -> int:
    """Live asyncio timers that belong to the alarm clock."""
    scheduled = loop._scheduled  # type: ignore[attr-defined]
    return sum(
        1
        for h in scheduled
        if not h.cancelled() and getattr(h._callback, "__self__", None) is AlarmClock.of(loop)
    )


async def test_many_sleeping_alarms_share_one_asyncio_timer() -> None:
    loop = asyncio.get_running_loop()
    alarms = [Alarm() for _ in range(200)]
    tasks = [asyncio.create_task(a.sleep(0.05 + i * 0.001)) for i, a in enumerate(alarms)]
    await asyncio.sleep(0.01)
    assert all(a.waiting for a in alarms)
    assert _our_timers(loop) == 1
    for a in alarms[::2]:
        a.postpone(0.5)
    assert _our_timers(loop) == 1
    start = loop.time()
    await asyncio.gather(*tasks[1::2])
    assert all(a.waiting for a in alarms[::2])  # postponed ones still sleep
    await asyncio.gather(*tasks[::2])
    assert loop.time() - start >= 0.4
    assert _our_timers(loop) == 0 and len(AlarmClock.of(loop)) == 0


async def test_alarms_ring_in_deadline_order_not_creation_order() -> None:
    woke: list[int] = []

    async def sleeper(i: int, delay: float) -> None:
        await Alarm().sleep(delay)
        woke.append(i)

    await asyncio.gather(*(sleeper(i, d) for i, d in enumerate((0.04, 0.01, 0.03, 0.02))))
    assert woke == [1, 3, 2, 0]


async def test_a_postponed_deadline_does_not_wake_the_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pong path's case: the deadline that no longer matters must not fire the timer."""
    loop = asyncio.get_running_loop()
    fired = 0
    original = AlarmClock._fire

    def counting(self: AlarmClock) -> None:
        nonlocal fired
        fired += 1
        original(self)

    monkeypatch.setattr(AlarmClock, "_fire", counting)
    alarm = Alarm()
    loop.call_later(0.002, alarm.postpone, 0.08)
    start = loop.time()
    await alarm.sleep(0.02)  # the "deadline", moved to the "next slot"
    assert loop.time() - start >= 0.075
    assert fired == 1


async def test_a_woken_or_cancelled_sleeper_leaves_no_timer() -> None:
    loop = asyncio.get_running_loop()
    alarm = Alarm()
    loop.call_later(0.005, alarm.wake)
    await alarm.sleep(5.0)
    assert _our_timers(loop) == 0 and len(AlarmClock.of(loop)) == 0
    task = asyncio.create_task(alarm.sleep(5.0))
    await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _our_timers(loop) == 0 and len(AlarmClock.of(loop)) == 0


def test_the_clock_registry_does_not_keep_a_closed_loop_alive() -> None:
    async def use() -> None:
        await Alarm().sleep(0.001)

    loop = asyncio.new_event_loop()
    loop.run_until_complete(use())
    loop.close()
    ref = weakref.ref(loop)
    del loop
    gc.collect()
    assert ref() is None


def test_an_alarm_moves_to_a_new_loop() -> None:
    """Kept on the first loop's clock, the second sleep would never ring: bounded, so
    that fails the test instead of hanging it."""
    alarm = Alarm()
    for _ in range(2):
        asyncio.run(asyncio.wait_for(alarm.sleep(0.001), 2.0))
    assert not alarm.waiting
