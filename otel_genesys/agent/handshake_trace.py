"""Phase timings of a WebSocket handshake: DNS, TCP + TLS connect, HTTP upgrade.

aiohttp reports the steps of a request through a ``TraceConfig``. The agent's
shared session carries the one built by :func:`handshake_trace_config`; a
monitor wraps each ``ws_connect`` in :func:`timing_phases`, which collects the
marks of that one request (a context variable scopes them to the calling task,
so concurrent handshakes of other targets and REST calls never mix in).

Phases reported (ns), each present only when it happened:

- ``queue``: waiting for a free connection slot;
- ``dns``: host name resolution (absent on a DNS-cache hit);
- ``connect``: TCP connect plus TLS handshake, DNS excluded;
- ``upgrade``: from the open connection to the ``101 Switching Protocols``
  answer being validated (the whole handshake when no connection event fired).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any

import aiohttp

_TIMER: ContextVar[PhaseTimer | None] = ContextVar("otel_genesys_handshake", default=None)

Clock = Callable[[], int]

_EVENTS = (
    ("on_connection_queued_start", "queue_start"),
    ("on_connection_queued_end", "queue_end"),
    ("on_dns_resolvehost_start", "dns_start"),
    ("on_dns_resolvehost_end", "dns_end"),
    ("on_connection_create_start", "conn_start"),
    ("on_connection_create_end", "conn_end"),
)


def handshake_trace_config() -> aiohttp.TraceConfig:
    """A ``TraceConfig`` that stamps the marks :func:`timing_phases` turns into phases."""
    config = aiohttp.TraceConfig()
    for signal, mark in _EVENTS:
        getattr(config, signal).append(_stamper(mark))
    return config


def _stamper(mark: str) -> Callable[..., Any]:
    async def stamp(_session: Any, _ctx: SimpleNamespace, _params: Any) -> None:
        timer = _TIMER.get()
        if timer is not None:
            timer.marks[mark] = timer.clock()

    return stamp


class PhaseTimer:
    """The marks of one handshake; :meth:`phases` after it has finished."""

    __slots__ = ("clock", "end", "marks", "start")

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.marks: dict[str, int] = {}
        self.start = clock()
        self.end: int | None = None

    def stop(self) -> None:
        """Fix the end of the handshake (the first call wins)."""
        if self.end is None:
            self.end = self.clock()

    def phases(self) -> tuple[tuple[str, int], ...]:
        """``(name, ns)`` pairs in the order they happened."""
        m = self.marks
        end = self.end if self.end is not None else self.clock()
        out: list[tuple[str, int]] = []
        if "queue_start" in m and "queue_end" in m:
            out.append(("queue", m["queue_end"] - m["queue_start"]))
        dns = m["dns_end"] - m["dns_start"] if "dns_start" in m and "dns_end" in m else None
        if dns is not None:
            out.append(("dns", dns))
        if "conn_start" in m and "conn_end" in m:
            out.append(("connect", max(m["conn_end"] - m["conn_start"] - (dns or 0), 0)))
            out.append(("upgrade", max(end - m["conn_end"], 0)))
        else:
            out.append(("upgrade", max(end - self.start, 0)))
        return tuple(out)


@contextlib.contextmanager
def timing_phases(clock: Clock = time.perf_counter_ns) -> Iterator[PhaseTimer]:
    """Collect the trace marks of requests made inside the block (this task only)."""
    timer = PhaseTimer(clock)
    token = _TIMER.set(timer)
    try:
        yield timer
    finally:
        timer.stop()
        _TIMER.reset(token)


__all__ = ["PhaseTimer", "handshake_trace_config", "timing_phases"]
