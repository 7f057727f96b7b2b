"""The measured side: one client process per run, started by the harness.

``python -m bench._client '<ClientSpec as JSON>'`` runs one of three clients
and prints one JSON result line on stdout:

- ``bare``: the reference — an aiohttp ping loop per connection, nothing else
  (fixed 1/interval schedule, pong timestamped first thing, no statistics, no
  telemetry, default GC);
- ``agent``: the real product — :class:`otel_genesys.agent.supervisor.Agent`
  wired to telemetry exactly as ``otel-genesys run`` does (``setup_telemetry``,
  ``limit_malloc_arenas``, ``gc_tune``, ``make_agent``), OTLP/gRPC to a discarding endpoint, results
  collected through ``Agent.on_outcome``;
- ``websockets``: the peer — the ``websockets`` library's keepalive pings
  (``ping_interval``), reading the ``latency`` it measures on every pong.

Two shapes of run: *scale* (``delays_ms`` empty: connect N sockets to a pong
server, warm up, measure CPU/RSS/RTT/lateness over a window) and *truth*
(``delays_ms`` set: one socket to the emulator, one phase per injected pong
delay, set by this process through the emulator's admin API).

Each run is its own process so CPU (``time.process_time``, every thread) and
RSS belong to that client alone.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import gc
import json
import os
import random
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import aiohttp
import psutil

PONG_TIMEOUT_S = 5.0
"""A bare-client ping with no pong after this long counts as a timeout."""
SETTLE_S = 0.25
"""Samples sent this soon after a fault change are discarded (old delay may apply)."""


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """What one client process does; crosses the process boundary as JSON."""

    kind: str
    """``bare``, ``agent`` or ``websockets``."""
    connections: int
    url: str
    """Scale: the pong server's ws:// URL. Truth: the emulator's base http:// URL."""
    interval_s: float = 1.0
    warmup_s: float = 3.0
    window_s: float = 10.0
    mode: str = "control"
    """Truth runs: ``control`` (RFC 6455 ping frames) or ``notification`` (JSON ping)."""
    delays_ms: tuple[float, ...] = ()
    phase_s: float = 3.0
    telemetry: str = "otlp"
    """Agent only: ``otlp`` (OTel SDK on a worker thread of this process, to
    ``otlp_endpoint``; ``telemetry.isolation = "thread"``), ``isolated`` (the SDK in
    the export process ``otel-genesys run`` starts by default; its CPU and RSS are
    added to this process's) or ``off`` (no recorder at all)."""
    otlp_endpoint: str | None = None
    exporter: str = "otlp_grpc"
    """The agent's ``telemetry.exporter``: ``otlp_grpc`` or ``otlp_http``."""
    span_ratio: float = 1.0
    connect_concurrency: int = 256
    connect_timeout_s: float = 180.0
    server_pid: int | None = None
    """Scale runs: the server's pid, so its CPU over the same window is reported."""
    levers: tuple[str, ...] = ()
    """Agent only, bench switches applied in this process: ``nospread`` (undo the
    staggered first probes: every target probes at connect), ``switch=SECONDS``
    (``sys.setswitchinterval`` after ``gc_tune``; 0.005 is CPython's default),
    ``freeze`` (``gc.freeze()`` once every target is connected), ``uvloop`` (the
    whole client on uvloop's event loop instead of asyncio's), ``timers`` (each
    connection's alarm on its own asyncio timer instead of the shared ``AlarmClock``),
    ``reader`` (every pong read by the reader task instead of answered by the
    ``PongTap`` where it is parsed), ``nosend`` (the agent's process pickles every
    chunk as usual but sends none: the export process idles, so its share of the
    cores is told apart from the agent-side cost of shipping), ``threadpickle``
    (records pickled by the shipping thread in batches of up to 1,024, instead of a
    chunk at a time by the thread that records them), ``nice=N`` (the export
    process N steps nicer than the agent instead of the product's
    ``EXPORT_NICE``; ``nice=0``: the same priority), ``grid=SECONDS`` (every target's
    ``stagger_grid`` setting; the product leaves it at 0)."""

    def to_json(self) -> str:
        """The spec as one JSON argument."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ClientSpec:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        data["delays_ms"] = tuple(data.get("delays_ms", ()))
        data["levers"] = tuple(data.get("levers", ()))
        return cls(**data)


@dataclass
class Samples:
    """What a client saw; appended to from the event loop only."""

    recording: bool = False
    sent_ns: list[int] = field(default_factory=list)
    rtt_ns: list[int] = field(default_factory=list)
    lateness_ns: list[int] = field(default_factory=list)
    degraded: int = 0
    cycles: int = 0
    """Completed cycles (pong or timeout) while recording."""
    timeouts: int = 0
    """Timeouts while recording."""
    cycle_log: list[tuple[int, int | None]] = field(default_factory=list)
    """Every cycle finished while recording, in order: (sent, RTT or None for a timeout)."""
    finished: asyncio.Event | None = None
    """Set on every finished cycle (truth runs wait on it for a quiet gap)."""

    def add(self, sent_ns: int, rtt_ns: int | None, lateness_ns: int | None) -> None:
        """One finished cycle; ``rtt_ns`` None means it timed out."""
        if not self.recording:
            return
        self.cycles += 1
        self.cycle_log.append((sent_ns, rtt_ns))
        if self.finished is not None:
            self.finished.set()
        if rtt_ns is None:
            self.timeouts += 1
            return
        self.sent_ns.append(sent_ns)
        self.rtt_ns.append(rtt_ns)
        if lateness_ns is not None:
            self.lateness_ns.append(lateness_ns)


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


PYTHON_THREAD = "python"
"""How :class:`_ChildCpu` names the threads Python started (Python does not name them
for the OS: they carry the interpreter's name)."""


class _ChildCpu:
    """CPU time of another process, to the nanosecond where the kernel allows.

    ``psutil``'s CPU times come from ``/proc/PID/stat`` in clock ticks (10 ms), too
    coarse for a process that uses a few milliseconds a minute (the export process at one
    connection). Each thread's ``/proc/PID/task/TID/schedstat`` gives its run time in
    nanoseconds; the sum over threads is exact unless a thread ends inside the window
    (its time leaves with it), and then the ticks are used instead.
    """

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self._pid = pid
        self._ticks0 = self._ticks()
        self._threads0 = self._threads()

    def _ticks(self) -> float:
        return float(sum(self._process.cpu_times()[:2]))

    def _threads(self) -> dict[str, tuple[str, int]] | None:
        """Thread id -> (its name as the OS knows it, its run time in ns); the threads
        that carry the main thread's name (every thread Python starts) as ``python``."""
        try:
            out = {}
            task = f"/proc/{self._pid}/task"
            with open(f"{task}/{self._pid}/comm") as f:
                interpreter = f.read().strip()
            for tid in os.listdir(task):
                with open(f"{task}/{tid}/comm") as f:
                    name = f.read().strip()
                with open(f"{task}/{tid}/schedstat") as f:
                    out[tid] = (PYTHON_THREAD if name == interpreter else name,
                                int(f.read().split()[0]))
            return out
        except (OSError, ValueError, IndexError):
            return None

    def by_thread_name(self) -> tuple[dict[str, float], str]:
        """CPU seconds since construction per OS thread name, and how they were read.

        Python's threads all carry the interpreter's name, reported as ``python``
        whatever the executable is called; gRPC names its native threads
        (``event_engine``, ``lifeguard``, ``grpc_global_tim``...). With ticks there is
        no split: everything is under ``"*"``.
        """
        threads1, ticks = self._threads(), self._ticks() - self._ticks0
        threads0 = self._threads0
        if threads0 is None or threads1 is None or not threads0.keys() <= threads1.keys():
            return {"*": ticks}, "ticks"
        out: dict[str, float] = {}
        for tid, (name, ns) in threads1.items():
            out[name] = out.get(name, 0.0) + (ns - threads0.get(tid, (name, 0))[1]) / 1e9
        return out, "schedstat"


def _wakeups(pid: int) -> int | None:
    """How many times the threads of ``pid`` went to sleep so far (the kernel's
    ``voluntary_ctxt_switches``, summed over threads; each sleep ends in a wake-up).

    At a few connections a wake-up, with the caches gone cold after a second asleep,
    costs more CPU than the work it wakes for, so the count explains the CPU figure.
    A thread that ends inside the window takes its count along (a small undercount).
    """
    total = 0
    task = f"/proc/{pid}/task"
    try:
        tids = os.listdir(task)
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"{task}/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
                        break
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
    return total


def _loop_schedstat() -> tuple[int, int] | None:
    """This thread's (run time, run-queue wait) in ns from the kernel's schedstat; the
    event loop runs on the main thread, whose id is the pid. None where unavailable."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
            run_ns, wait_ns = f.read().split()[:2]
        return int(run_ns), int(wait_ns)
    except (OSError, ValueError):
        return None


def _summary(values: list[int]) -> dict[str, float]:
    from bench._stats import quantiles

    return quantiles(values, (0.5, 0.9, 0.99, 0.999, 1.0)) if values else {}


# ------------------------------------------------------------------ emulator helpers


async def _emulator_channel(http: aiohttp.ClientSession, base_url: str) -> str:
    """A fresh notification channel on the emulator; returns its connectUri."""
    from otel_genesys.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    basic = base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode()
    async with http.post(
        base_url + "/oauth/token",
        data="grant_type=client_credentials",
        headers={
            "Authorization": "Basic " + basic,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    ) as resp:
        token = (await resp.json())["access_token"]
    async with http.post(
        base_url + "/api/v2/notifications/channels", headers={"Authorization": "Bearer " + token}
    ) as resp:
        return str((await resp.json())["connectUri"])


async def _set_delay(http: aiohttp.ClientSession, base_url: str, delay_ms: float) -> None:
    body = {"pong_delay": f"fixed:{delay_ms}ms"} if delay_ms > 0 else {}
    async with http.put(base_url + "/__emulator__/faults", json=body) as resp:
        resp.raise_for_status()


async def _overshoots(http: aiohttp.ClientSession, base_url: str, since: int = 0
                      ) -> dict[str, Any]:
    url = base_url + "/__emulator__/overshoots"
    async with http.get(url, params={"since": str(since)}) as resp:
        resp.raise_for_status()
        body: dict[str, Any] = await resp.json()
        return body


async def _quiet_gap(spec: ClientSpec, samples: Samples, delay_ms: float) -> bool:
    """Wait until a cycle has just finished: the next ping is about one interval away,
    so a fault change made now falls between two pongs. False if none came in time."""
    assert samples.finished is not None
    samples.finished.clear()
    try:
        async with asyncio.timeout(2 * spec.interval_s + delay_ms / 1e3 + 1.0):
            await samples.finished.wait()
    except TimeoutError:
        return False
    return True


async def _mark(spec: ClientSpec, samples: Samples, http: aiohttp.ClientSession,
                delay_ms: float | None, wait_ms: float) -> tuple[int, int, bool]:
    """Change the delay (None: leave it) in a quiet gap; (cycle index, overshoot number,
    whether both lists were cut at the same pong)."""
    quiet = await _quiet_gap(spec, samples, wait_ms)
    index = len(samples.cycle_log)
    if delay_ms is not None:
        await _set_delay(http, spec.url, delay_ms)
    seq = int((await _overshoots(http, spec.url, 1 << 62))["next"])
    return index, seq, quiet and len(samples.cycle_log) == index


async def _run_phases(
    spec: ClientSpec, samples: Samples, http: aiohttp.ClientSession
) -> list[dict[str, Any]]:
    """Walk the delays; per phase, the RTTs of the pings sent well inside it (``rtt_ns``)
    and every cycle of the phase paired with the emulator's overshoot of its pong."""
    windows: list[tuple[float, int, int]] = []
    marks: list[tuple[int, int, bool]] = []
    samples.finished = asyncio.Event()
    samples.recording = True
    previous = 0.0
    for delay_ms in spec.delays_ms:
        marks.append(await _mark(spec, samples, http, delay_ms, previous))
        previous = delay_ms
        start = time.perf_counter_ns()
        await asyncio.sleep(spec.phase_s)
        # A ping still waiting for a long pong is settled in the next phase; keep
        # only pings sent early enough to have been answered within this one.
        end = time.perf_counter_ns() - int((delay_ms / 1e3 + 0.02) * 1e9)
        windows.append((delay_ms, start + int(SETTLE_S * 1e9), end))
    marks.append(await _mark(spec, samples, http, None, previous))
    samples.recording = False
    await _set_delay(http, spec.url, 0.0)
    log = await _overshoots(http, spec.url, marks[0][1])
    phases = []
    for i, (delay_ms, lo, hi) in enumerate(windows):
        rtts = [r for s, r in samples.cycle_log if r is not None and lo <= s < hi]
        (k0, s0, q0), (k1, s1, q1) = marks[i], marks[i + 1]
        paired = pair_phase(delay_ms, samples.cycle_log[k0:k1], _log_slice(log, s0, s1),
                            aligned=q0 and q1, interval_s=spec.interval_s)
        phases.append({"delay_ms": delay_ms, "rtt_ns": rtts, **paired})
    return phases


def _log_slice(log: dict[str, Any], lo: int, hi: int) -> list[tuple[float, float, float]]:
    """Overshoot entries numbered lo..hi-1 as (overshoot ms, delay ms, received s)."""
    first = int(log["first"])
    a, b = max(0, lo - first), max(0, hi - first)
    return list(zip(log["overshoot_ms"][a:b], log["delay_ms"][a:b], log["received_s"][a:b],
                    strict=True))


def pair_phase(delay_ms: float, cycles: list[tuple[int, int | None]],
               entries: list[tuple[float, float, float]], *, aligned: bool = True,
               interval_s: float = 0.1) -> dict[str, Any]:
    """Pair the phase's cycles with the overshoots of their pongs, in order.

    ``cycles``: (sent ns, RTT ns or None) of every cycle of the phase, in order;
    ``entries``: the emulator's (overshoot ms, delay ms, ping received s) of every
    delayed pong sent in the same span, in send order. At D=0 the emulator sends
    the pong inline (no timer, nothing recorded): the overshoot is 0.

    One connection, one ping in flight: pong i is cycle i. When the counts differ
    (a cycle cut at a phase edge, a pong lost) the offset between the lists is
    taken from the timestamps — the emulator's receive time (its loop clock,
    CLOCK_MONOTONIC, the same clock as ``perf_counter`` in this process on Linux)
    must fall between the ping's send and its pong — and the unmatched ones at
    the edges are dropped and counted. If no single offset fits, nothing is
    paired (``pairing`` says why): never a guessed pairing.
    """
    out: dict[str, Any] = {"pairing": "ok", "paired_rtt_ns": [], "overshoot_ns": [],
                           "unmatched_cycles": 0, "unmatched_pongs": 0, "foreign_pongs": 0,
                           "edges_aligned": aligned}
    mine = [e for e in entries if abs(e[1] - delay_ms) < 1e-6]
    out["foreign_pongs"] = len(entries) - len(mine)
    if delay_ms <= 0:
        if mine:
            out["pairing"] = "pongs recorded at D=0"
            out["unmatched_pongs"] = len(mine)
            return out
        done = [(s, r) for s, r in cycles if r is not None]
        out["paired_rtt_ns"] = [r for _, r in done]
        out["overshoot_ns"] = [0] * len(done)
        return out
    slack_ns = 2_000_000
    limit_ns = int(interval_s * 1e9)

    def fits(cycle: tuple[int, int | None], entry: tuple[float, float, float]) -> bool:
        sent, rtt = cycle
        recv = int(entry[2] * 1e9)
        upper = sent + (rtt if rtt is not None else limit_ns)
        return sent - slack_ns <= recv <= upper + slack_ns

    n, m = len(cycles), len(mine)
    if n == m and all(fits(c, e) for c, e in zip(cycles, mine, strict=True)):
        offsets = [(0, 0)]
    else:
        # Drop a cycles at the head and b pongs at the head (one of them 0), so many
        # that what is left lines up; tails are trimmed to the shorter list.
        offsets = []
        for shift in range(-m, n + 1):
            a, b = max(0, shift), max(0, -shift)
            length = min(n - a, m - b)
            if length > 0 and all(fits(cycles[a + i], mine[b + i]) for i in range(length)):
                offsets.append((a, b))
    if len(offsets) != 1:
        out["pairing"] = ("counts differ and no offset fits the timestamps" if not offsets
                          else "ambiguous offset")
        out["unmatched_cycles"], out["unmatched_pongs"] = n, m
        return out
    a, b = offsets[0]
    length = min(n - a, m - b)
    out["unmatched_cycles"] = n - length
    out["unmatched_pongs"] = m - length
    if out["unmatched_cycles"] or out["unmatched_pongs"]:
        out["pairing"] = "edges trimmed"
    for (_, rtt), entry in zip(cycles[a:a + length], mine[b:b + length], strict=True):
        if rtt is None:
            continue  # a timeout: its pong came too late to count
        out["paired_rtt_ns"].append(rtt)
        out["overshoot_ns"].append(round(entry[0] * 1e6))
    return out


# ------------------------------------------------------------------ the bare client


async def _bare_loop(
    ws: aiohttp.ClientWebSocketResponse, spec: ClientSpec, samples: Samples, stop: asyncio.Event
) -> None:
    interval_ns = int(spec.interval_s * 1e9)
    clock = time.perf_counter_ns
    json_mode = spec.mode == "notification"
    pong_type = aiohttp.WSMsgType.PONG
    text_type = aiohttp.WSMsgType.TEXT
    await asyncio.sleep(random.random() * spec.interval_s)
    slot = clock()
    seq = 0
    while not stop.is_set():
        delay = slot - clock()
        if delay > 0:
            await asyncio.sleep(delay / 1e9)
        sent = clock()
        lateness = sent - slot
        seq += 1
        if json_mode:
            await ws.send_str('{"message":"ping"}')
        else:
            await ws.ping(b"%d" % seq)
        rtt: int | None = None
        try:
            async with asyncio.timeout(PONG_TIMEOUT_S):
                while True:
                    msg = await ws.receive()
                    now = clock()
                    if msg.type is pong_type and not json_mode:
                        rtt = now - sent
                        break
                    if msg.type is text_type and json_mode and '"pong"' in msg.data:
                        rtt = now - sent
                        break
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                    aiohttp.WSMsgType.ERROR):
                        return
        except TimeoutError:
            pass
        samples.add(sent, rtt, lateness)
        slot += interval_ns
        while slot < clock() - interval_ns:  # skip slots we cannot catch up with
            slot += interval_ns


async def _run_bare(spec: ClientSpec, samples: Samples, out: dict[str, Any]) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        url = spec.url
        if spec.delays_ms:
            url = await _emulator_channel(http, spec.url)
        gate = asyncio.Semaphore(spec.connect_concurrency)
        stop = asyncio.Event()

        async def open_one() -> aiohttp.ClientWebSocketResponse:
            async with gate:
                return await http.ws_connect(url, autoping=False, heartbeat=None)

        out["rss_base"] = _rss()
        t0 = time.perf_counter()
        sockets = await asyncio.gather(*(open_one() for _ in range(spec.connections)))
        out["connect_s"] = time.perf_counter() - t0
        tasks = [asyncio.create_task(_bare_loop(ws, spec, samples, stop)) for ws in sockets]
        await _measure(spec, samples, out, http)
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


# ------------------------------------------------------------------ the agent


def _agent_targets(spec: ClientSpec) -> list[Any]:
    from otel_genesys.config import GenericTarget, MonitorConfig, NotificationTarget, OAuthClient
    from otel_genesys.core.outcome import ProbeMode
    from otel_genesys.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
    from otel_genesys.secret import Secret

    interval_ns = int(spec.interval_s * 1e9)
    # `grid=SECONDS`: the stagger_grid setting, so the supervisor places the targets.
    grid = [float(lever[5:]) for lever in spec.levers if lever.startswith("grid=")]
    monitor = MonitorConfig(
        interval_ns=interval_ns,
        probe_frequency_limit_ns=min(interval_ns, 1_000_000_000),
        stagger_grid_ns=int(grid[-1] * 1e9) if grid else 0,
    )
    if spec.delays_ms:
        mode = ProbeMode.NOTIFICATION if spec.mode == "notification" else ProbeMode.CONTROL
        return [
            NotificationTarget(
                name="truth",
                region=None,
                base_url=spec.url,
                oauth=OAuthClient(DEFAULT_CLIENT_ID, Secret(DEFAULT_CLIENT_SECRET)),
                topics=(),
                modes=frozenset({mode}),
                monitor=monitor,
            )
        ]
    return [
        GenericTarget(name=f"t{i:05d}", url=spec.url, first_message=None, monitor=monitor)
        for i in range(spec.connections)
    ]


_PROCESS_LEVERS = ("freeze", "uvloop", "timers", "reader", "nosend", "threadpickle", "wakeups",
                   "readstamp", "wakestamp")
"""Levers applied elsewhere in the client (before the loop starts, or once connected)."""


def _apply_levers(levers: tuple[str, ...], agent: Any) -> None:
    """Bench-only switches that undo or add one optimisation, so its effect is measured.

    Called after ``gc_tune`` and ``Agent.start`` (no monitor has probed yet).
    """
    for lever in levers:
        if lever == "nospread":
            for m in agent.monitors:  # every target's first probe at connect: in step
                m.phase_ns = 0
                m.anchor_ns = None
        elif lever.startswith("switch="):
            sys.setswitchinterval(float(lever.split("=", 1)[1]))
        elif lever == "wakeups":  # the coarse stall tick on its own period, as before
            agent.stall.follow_pings = False
        elif lever not in _PROCESS_LEVERS and not (
            # Settings, read where they apply: nice= and cpus= at the export process's
            # start, grid= when the targets are placed.
            lever.startswith(("nice=", "grid=", "cpus="))
        ):
            raise ValueError(f"unknown lever {lever!r}")


def _ring(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _pickle_without_sending() -> None:
    """Lever ``nosend``: chunks are pickled exactly as for the pipe, then dropped."""
    from otel_genesys.telemetry.isolated import ForwardingRecorder

    def ship(self: Any, chunks: list[Any]) -> None:
        with self._worker.lock:
            self._refs.take_definitions()

    ForwardingRecorder._ship = ship  # type: ignore[method-assign]


def _pickle_on_the_shipping_thread() -> None:
    """Lever ``threadpickle``: records are pickled by the shipping thread, in batches of
    up to 1,024 that wake it, as before :class:`EncodingQueue` (the recording thread
    only appends)."""
    from otel_genesys.telemetry.chunked import EncodingQueue

    def put(self: Any, record: Any) -> None:
        self._chunk = 1_024  # the worker's leftovers: batches of up to 1,024
        records = self._records
        records.append(record)
        if len(records) >= 1_024:
            self._worker.wake()

    EncodingQueue.put = put  # type: ignore[method-assign]


def _timer_per_alarm() -> None:
    """Lever ``timers``: every ``Alarm`` keeps its own asyncio timer, as the agent did
    before ``AlarmClock`` (a postpone cancels it and schedules another). Applied before
    the event loop starts; the ``_clock`` slot holds the alarm's ``TimerHandle``."""
    from otel_genesys.agent.alarm import Alarm

    async def sleep(self: Any, delay_s: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._when = loop.time() + max(delay_s, 0.0)
        self._clock = loop.call_at(self._when, _ring, future)
        self._future = future
        try:
            await future
        finally:
            if self._clock is not None:
                self._clock.cancel()
            self._future = self._clock = None

    def postpone(self: Any, delay_s: float) -> None:
        future = self._future
        if future is None or future.done():
            return
        loop = future.get_loop()
        when = loop.time() + delay_s
        if when <= self._when:
            return
        if self._clock is not None:
            self._clock.cancel()
        self._when = when
        self._clock = loop.call_at(when, _ring, future)

    Alarm.sleep = sleep  # type: ignore[method-assign]
    Alarm.postpone = postpone  # type: ignore[method-assign]


async def _run_agent(spec: ClientSpec, samples: Samples, out: dict[str, Any]) -> None:
    from otel_genesys.agent.runner import make_agent
    from otel_genesys.core.outcome import Confidence, Outcome, ProbeOutcome
    from otel_genesys.cpus import parse_cpu_list
    from otel_genesys.telemetry import TelemetrySettings, gc_tune, setup_telemetry

    telemetry: Any = None
    settings = TelemetrySettings(
        exporter=cast(Any, spec.exporter), endpoint=spec.otlp_endpoint,
        span_ratio=spec.span_ratio,
    )
    if spec.telemetry == "otlp":
        telemetry = setup_telemetry(settings)
    elif spec.telemetry == "isolated":
        from otel_genesys.telemetry.isolated import start_isolated_telemetry

        nice = [int(lever[5:]) for lever in spec.levers if lever.startswith("nice=")]
        # `cpus=LIST`: the telemetry.export_cpus setting (the agent's process on the rest).
        cpus = [parse_cpu_list(lever[5:]) for lever in spec.levers if lever.startswith("cpus=")]
        # The product's priority (EXPORT_NICE) unless a lever sets another one.
        telemetry = start_isolated_telemetry(settings, **({"nice": nice[-1]} if nice else {}),
                                             cpus=cpus[-1] if cpus else ())
        out["export_pid"] = telemetry.process.pid
    gc_tune()  # what start_telemetry does in `otel-genesys run`
    agent = make_agent(_agent_targets(spec), [], telemetry)
    totals = {"outcomes": 0}
    ok_, timeout_ = Outcome.OK, Outcome.TIMEOUT
    degraded_ = Confidence.DEGRADED

    def collect(o: ProbeOutcome) -> None:
        totals["outcomes"] += 1
        if not samples.recording:
            return
        if o.outcome is ok_:
            samples.add(o.sent_ns, o.rtt_ns, o.lateness_ns)
            if o.confidence is degraded_:
                samples.degraded += 1
        elif o.outcome is timeout_:
            samples.add(o.sent_ns, None, o.lateness_ns)

    agent.on_outcome(collect)
    out["rss_base"] = _rss()
    if spec.telemetry == "isolated":
        # The export process's start-up (interpreter, SDK, exporters) is fixed, like the
        # agent's own imports before rss_base: its RSS at this point is its base.
        if not telemetry.recorder.wait_ready(60.0):
            raise RuntimeError("the export process did not report ready within 60 s")
        out["export_rss_base"] = int(psutil.Process(out["export_pid"]).memory_info().rss)
        out["rss_base"] += out["export_rss_base"]
    t0 = time.perf_counter()
    await agent.start()
    _apply_levers(spec.levers, agent)
    deadline = t0 + spec.connect_timeout_s
    while len(agent.connected()) < spec.connections and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    out["connect_s"] = time.perf_counter() - t0
    out["connected"] = len(agent.connected())
    if "freeze" in spec.levers:
        gc.collect()
        gc.freeze()
    async with aiohttp.ClientSession() as http:
        await _measure(spec, samples, out, http)
    await agent.stop()
    sent = ok = timeout = aborted = 0
    for m in agent.monitors:
        for session in m.sessions.values():
            c = session.counters
            sent += c.sent
            ok += c.ok
            timeout += c.timeout
            aborted += c.aborted
    out["totals"] = {
        "sent": sent,
        "ok": ok,
        "timeout": timeout,
        "aborted": aborted,
        "outcomes_seen": totals["outcomes"],
        "lost": sent - ok - timeout - aborted,
        "unseen": sent - totals["outcomes"],
    }
    out["callback_errors"] = agent.callback_errors
    if telemetry is not None:
        rec = telemetry.recorder
        telemetry.force_flush(5.0)
        out["telemetry"] = {
            "recorder_dropped": rec.dropped,
            "recorder_errors": rec.errors,
            "spans_dropped": telemetry.health.spans_dropped,
            "span_export_failures": telemetry.health.span_export_failures,
            "metric_export_failures": telemetry.health.metric_export_failures,
        }
        telemetry.shutdown(5.0)


# ------------------------------------------------------------------ the websockets peer


async def _run_websockets(spec: ClientSpec, samples: Samples, out: dict[str, Any]) -> None:
    from websockets.asyncio.client import ClientConnection, connect

    clock = time.perf_counter_ns

    class Recording(ClientConnection):
        """Notes each keepalive measurement the moment the library makes it."""

        def acknowledge_pings(self, data: bytes) -> None:
            known = data in self.pending_pings
            super().acknowledge_pings(data)
            if known:
                rtt = int(self.latency * 1e9)
                samples.add(clock() - rtt, rtt, None)

    async with aiohttp.ClientSession() as http:
        url = spec.url
        if spec.delays_ms:
            url = await _emulator_channel(http, spec.url)
        gate = asyncio.Semaphore(spec.connect_concurrency)

        async def open_one() -> Any:
            if spec.connections > 1:
                # The keepalive starts at open: stagger opens so connections do not ping in
                # step (the bare client gets the same random phase per connection).
                await asyncio.sleep(random.random() * spec.interval_s)
            async with gate:
                return await connect(
                    url,
                    create_connection=Recording,
                    ping_interval=spec.interval_s,
                    ping_timeout=PONG_TIMEOUT_S,
                    max_queue=None,
                )

        out["rss_base"] = _rss()
        t0 = time.perf_counter()
        sockets = await asyncio.gather(*(open_one() for _ in range(spec.connections)))
        out["connect_s"] = time.perf_counter() - t0
        await _measure(spec, samples, out, http)
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


# ------------------------------------------------------------------ measuring


async def _measure(
    spec: ClientSpec, samples: Samples, out: dict[str, Any], http: aiohttp.ClientSession
) -> None:
    """Truth: walk the delay phases. Scale: warm up, then one measured window."""
    await asyncio.sleep(spec.warmup_s)
    if spec.delays_ms:
        out["phases"] = await _run_phases(spec, samples, http)
        return
    gc_before = [s["collections"] for s in gc.get_stats()]
    server = psutil.Process(spec.server_pid) if spec.server_pid else None
    server0 = sum(server.cpu_times()[:2]) if server else 0.0
    export = _ChildCpu(out["export_pid"]) if out.get("export_pid") else None
    loop0 = _loop_schedstat()
    wakes0 = _wakeups(os.getpid())
    export_wakes0 = _wakeups(out["export_pid"]) if export is not None else None
    cpu0, t0 = time.process_time(), time.perf_counter()
    samples.recording = True
    await asyncio.sleep(spec.window_s)
    samples.recording = False
    cpu1, t1 = time.process_time(), time.perf_counter()
    loop1 = _loop_schedstat()
    wakes1 = _wakeups(os.getpid())
    export_wakes1 = _wakeups(out["export_pid"]) if export is not None else None
    if wakes0 is not None and wakes1 is not None:
        out["wakeups"] = wakes1 - wakes0
    if export_wakes0 is not None and export_wakes1 is not None:
        out["export_wakeups"] = export_wakes1 - export_wakes0
    out["window_s"] = t1 - t0
    out["cpu_s"] = cpu1 - cpu0
    if loop0 is not None and loop1 is not None:
        # The event loop's thread: its own CPU, and how long it was ready to run but
        # waited for a core (the kernel's run-queue wait): lateness that no code in
        # this process can remove, only fewer busy processes on the host.
        out["loop_cpu_s"] = (loop1[0] - loop0[0]) / 1e9
        out["loop_runqueue_s"] = (loop1[1] - loop0[1]) / 1e9
    if export is not None:
        # The export process is part of the agent's cost: CPU and memory both count.
        by_name, out["export_cpu_read"] = export.by_thread_name()
        out["export_cpu_s"] = sum(by_name.values())
        out["export_cpu_by_thread"] = by_name
        out["cpu_s"] += out["export_cpu_s"]
        out["export_rss"] = int(psutil.Process(out["export_pid"]).memory_info().rss)
    if server is not None:
        out["server_cpu_s"] = sum(server.cpu_times()[:2]) - server0
    out["rss_steady"] = _rss() + out.get("export_rss", 0)
    out["gc_collections"] = [s["collections"] - b for s, b in zip(gc.get_stats(), gc_before,
                                                                   strict=True)]


async def _main(spec: ClientSpec) -> dict[str, Any]:
    samples = Samples()
    out: dict[str, Any] = {"kind": spec.kind, "connections": spec.connections}
    runners: dict[str, Callable[[ClientSpec, Samples, dict[str, Any]], Awaitable[None]]] = {
        "bare": _run_bare,
        "agent": _run_agent,
        "websockets": _run_websockets,
    }
    await runners[spec.kind](spec, samples, out)
    if not spec.delays_ms:
        out["cycles"] = samples.cycles
        out["timeouts"] = samples.timeouts
        out["degraded"] = samples.degraded
        out["ok"] = len(samples.rtt_ns)
        out["rtt"] = _summary(samples.rtt_ns)
        out["lateness"] = _summary(samples.lateness_ns)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the spec given as the only argument; print one JSON line."""
    args = sys.argv[1:] if argv is None else argv
    spec = ClientSpec.from_json(args[0])
    try:
        import resource

        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
    if spec.kind == "agent":
        from otel_genesys.telemetry.gctune import limit_malloc_arenas

        limit_malloc_arenas()  # as `otel-genesys run` does, before any thread starts
    if "wakeups" in spec.levers:
        from otel_genesys.telemetry import isolated

        isolated.SHIP_INTERVAL_S = 1.0  # records shipped every second, as before
    if "timers" in spec.levers:
        _timer_per_alarm()
    if "nosend" in spec.levers:
        _pickle_without_sending()
    if "threadpickle" in spec.levers:
        _pickle_on_the_shipping_thread()
    if "reader" in spec.levers:
        from otel_genesys.agent import pongtap

        pongtap.ENABLED = False  # every pong through the reader task's receive()
    if "uvloop" in spec.levers:
        import uvloop

        result = uvloop.run(_main(spec))
    elif spec.kind == "agent" and "readstamp" not in spec.levers:
        from otel_genesys.agent import wakeclock

        if "wakestamp" in spec.levers:
            wakeclock.KERNEL_STAMPS = False  # the loop's wake-up, no kernel receive stamps
        result = wakeclock.run(_main(spec))  # the loop `otel-genesys run` runs on
    else:
        result = asyncio.run(_main(spec))  # readstamp: arrivals read in the callback
    result["pid"] = os.getpid()
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
