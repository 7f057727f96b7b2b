"""bench._client._ChildCpu: another process's CPU to the nanosecond, ticks as a fallback."""

from __future__ import annotations

import os
import threading
import time

import pytest

pytest.importorskip("psutil")

from bench._client import _ChildCpu


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="Linux /proc needed")
def test_reads_run_time_finer_than_clock_ticks() -> None:
    # 35 ms of CPU: in 10 ms ticks this reads as 30 or 40 ms, never within 2 ms.
    best = None
    for _ in range(3):  # a shared machine: take the closest of three tries
        cpu = _ChildCpu(os.getpid())
        before = time.process_time()
        _spin(0.035)
        used = time.process_time() - before
        seconds, how = cpu.seconds()
        assert how == "schedstat"
        by_name, _ = cpu.by_thread_name()
        # Split by OS thread name (this process's threads share one); nothing lost.
        assert "*" not in by_name
        assert sum(by_name.values()) == pytest.approx(seconds, abs=0.002)
        err = abs(seconds - used)
        best = err if best is None else min(best, err)
    assert best is not None and best < 0.002


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="Linux /proc needed")
def test_a_thread_that_ended_in_the_window_falls_back_to_ticks() -> None:
    started, release = threading.Event(), threading.Event()

    def worker() -> None:
        started.set()
        release.wait(5)
        _spin(0.02)

    t = threading.Thread(target=worker)
    t.start()
    started.wait(5)
    cpu = _ChildCpu(os.getpid())  # the worker is one of the threads it saw
    release.set()
    t.join()
    seconds, how = cpu.seconds()
    assert how == "ticks"
    assert seconds >= 0
