"""Alarm: a sleep that the pong path can push later."""

from __future__ import annotations

import asyncio

import pytest

from otel_genesys.agent.alarm import Alarm


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
