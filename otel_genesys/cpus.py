"""CPU lists, as Linux writes them (``taskset -c``, cpusets), and pinning a process to one."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Collection, Iterable

CPU_LIMIT = 4096
"""CPU numbers in a CPU list must be below this (Linux's largest configurable count)."""
CPU_LIST_HINT = "expected a CPU list such as '1' or '0-2,4'"
"""What a malformed CPU list is told (never the text itself)."""
_log = logging.getLogger(__name__)
_CPU_PART = re.compile(r"\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?")


def parse_cpu_list(text: str) -> tuple[int, ...]:
    """A Linux CPU list (as ``taskset -c`` and cpusets write it) as sorted CPU numbers.

    >>> parse_cpu_list("3"), parse_cpu_list(" 0-2, 5 "), parse_cpu_list("1,1-2")
    ((3,), (0, 1, 2, 5), (1, 2))

    Raises ``ValueError`` with a message that never repeats the text.
    """
    cpus: set[int] = set()
    for part in text.split(","):
        match = _CPU_PART.fullmatch(part)
        if match is None:
            raise ValueError(CPU_LIST_HINT)
        low = int(match[1])
        high = low if match[2] is None else int(match[2])
        if high < low:
            raise ValueError("a CPU range must run upwards, as in '0-2'")
        if high >= CPU_LIMIT:
            raise ValueError(f"CPU numbers must be below {CPU_LIMIT}")
        cpus.update(range(low, high + 1))
    return tuple(sorted(cpus))


def format_cpu_list(cpus: Iterable[int]) -> str:
    """CPU numbers written as a CPU list, runs as ranges.

    >>> format_cpu_list([5, 0, 1, 2]), format_cpu_list([3]), format_cpu_list([4, 2])
    ('0-2,5', '3', '2,4')
    """
    runs: list[list[int]] = []  # [first, last] of each run of consecutive CPUs
    for cpu in sorted(set(cpus)):
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def pin_to_cpus(cpus: Collection[int]) -> bool:
    """Confine every thread of this process to ``cpus``; True if done (Linux).

    Linux keeps a CPU mask per thread and a new thread inherits its creator's, so
    every thread alive now is set, and every one started later follows.
    """
    setaffinity = getattr(os, "sched_setaffinity", None)
    if not cpus or setaffinity is None:
        return False
    try:
        threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]
    try:
        for tid in threads:
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                setaffinity(tid, cpus)
    except OSError as exc:  # a sandbox that forbids it
        _log.warning("could not pin the process to CPUs %s (%s)", format_cpu_list(cpus), exc)
        return False
    return True
