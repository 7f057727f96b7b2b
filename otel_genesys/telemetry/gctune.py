"""Garbage-collector tuning for a long-running probe process.

Why: a full (generation 2) collection walks every tracked object. After
start-up the process holds tens of thousands of long-lived objects (modules,
the OTel SDK, config, per-target state) that will never be garbage, so each
gen-2 pass re-walks them for nothing and the pause lands on the event loop,
inflating the very RTT being measured (DESIGN.md measured pauses up to
300 ms). Two remedies, applied once start-up is done:

- ``gc.freeze()`` moves everything alive now into a permanent generation the
  collector skips;
- higher thresholds make young collections rarer, so the per-probe allocation
  churn (records, spans built on the telemetry thread) is collected in fewer,
  still short, passes.

Reference cycles are still collected; only the schedule changes.

The same call shortens the GIL switch interval. Telemetry is built on a
worker thread; while it runs, the event loop waits for the GIL each time it
returns from the selector, up to ``sys.getswitchinterval()`` (5 ms by
default) per wait, and every such wait lands inside a ping→pong window.
At 0.5 ms, measured at 1,000 connections against 5 ms in the same runs
(docs/performance.md): RTT p99 x0.45, lateness p99 x0.53, share of degraded
samples x0.40, CPU per probe cycle x1.08.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
from typing import Any

DEFAULT_THRESHOLDS = (50_000, 20, 100)
"""gen0 allocations before a young collection, then gen1/gen2 ratios."""
SWITCH_INTERVAL_S = 0.0005
"""GIL switch interval: the longest the event loop waits behind the telemetry thread."""


def gc_tune(
    thresholds: tuple[int, int, int] = DEFAULT_THRESHOLDS,
    *,
    freeze: bool = True,
    switch_interval_s: float | None = SWITCH_INTERVAL_S,
) -> tuple[int, int, int]:
    """Collect once, freeze survivors (optional), raise thresholds, shorten the GIL
    switch interval (``None`` leaves it). Returns the old thresholds.

    Call it after start-up (config loaded, providers and monitors created),
    before the first probe.
    """
    previous = gc.get_threshold()
    if freeze:
        gc.collect()
        gc.freeze()
    gc.set_threshold(*thresholds)
    if switch_interval_s is not None:
        sys.setswitchinterval(switch_interval_s)
    return (previous[0], previous[1], previous[2])


MALLOC_ARENAS = 2
"""glibc malloc arenas for the agent's process (glibc's default is 8 per core)."""
_M_ARENA_MAX = -8
"""``mallopt`` parameter number of ``M_ARENA_MAX`` in glibc's ``malloc.h``."""


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas (as ``MALLOC_ARENA_MAX`` would); True if applied.

    The agent runs several threads (telemetry worker, span processor, metric
    reader, gRPC); glibc gives threads their own arenas (up to 8 per core),
    whose fragmentation can show as slowly rising RSS while Python's own heap
    stays flat. Two arenas bound that native memory; the soak runs behind the
    figures are in docs/reliability.md (*Long run*). Call it first thing, before
    threads start. A ``MALLOC_ARENA_MAX`` in the environment wins (glibc already
    read it); on a C library without ``mallopt`` nothing changes.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    return _mallopt(_M_ARENA_MAX, arenas)


MMAP_THRESHOLD = 128 * 1024
"""Allocations at least this large get pages of their own (``mmap``), returned on free."""
_M_MMAP_THRESHOLD = -3
"""``mallopt`` parameter number of ``M_MMAP_THRESHOLD`` in glibc's ``malloc.h``."""


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Keep glibc's mmap threshold at ``threshold`` bytes (its default's start); True
    if applied.

    glibc starts at 128 KiB but raises the threshold to the size of each large
    block freed, up to 32 MiB. The export requests a telemetry process builds
    (150 KiB to a few MiB, over and over, and for as long as a Collector is
    down) then come from the heap instead of pages of their own, and can leave it
    fragmented: in one OTLP/HTTP soak with every export refused, the export
    process grew by 8.6 % in 300,000 cycles while its Python objects held a level
    amount and tens of MiB lay free in the heap. With this threshold the soaks
    since stayed within a band but did not all pass the soak's 1 % rule
    (docs/reliability.md, *Long run*). A fixed threshold also stops glibc from
    moving its trim threshold. A ``MALLOC_MMAP_THRESHOLD_`` in the environment
    wins; on a C library without ``mallopt`` nothing changes.

    For the export process only: asyncio reads every socket into a fresh
    256 KiB buffer, so in the agent's process a fixed threshold would make each
    read an ``mmap`` and a ``munmap``, where glibc's moving threshold soon
    serves them from the heap.
    """
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") or not sys.platform.startswith("linux"):
        return False
    return _mallopt(_M_MMAP_THRESHOLD, threshold)


def _libc(name: str, argtypes: tuple[Any, ...]) -> Any:
    """The C library's function ``name`` with its argument types, or None (not glibc)."""
    try:
        function = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function


def _mallopt(parameter: int, value: int) -> bool:
    mallopt = _libc("mallopt", (ctypes.c_int, ctypes.c_int))
    if mallopt is None:
        return False
    try:
        return bool(mallopt(parameter, value))
    except Exception:
        return False


def malloc_trim() -> bool:
    """Hand the C heap's free pages back to the OS (glibc's ``malloc_trim(0)``); True
    if called.

    Without it a process's RSS is its allocator's high-water mark: one burst of
    large buffers (a backlog of export requests, a reconnect wave) raises it for
    good, which looks like growth but is not. On a C library without
    ``malloc_trim`` nothing happens.
    """
    if not sys.platform.startswith("linux"):
        return False
    trim = _libc("malloc_trim", (ctypes.c_size_t,))
    if trim is None:
        return False
    trim(0)
    return True
