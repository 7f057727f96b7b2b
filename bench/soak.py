"""Soak: a million probe cycles or more, and memory must stay flat.

Two modes (neither is part of CI):

``socket`` (the default) — the whole agent over real sockets: N notification
            targets (both probe modes) against the emulator in its own process,
            1 % of pongs dropped (timeouts), every outcome going through the
            real telemetry recorder exactly as in ``otel-genesys run`` with an
            OTLP/gRPC endpoint: probe spans encoded and batched, metrics
            aggregated and collected, all sent over gRPC to a discarding
            endpoint in a process of its own.

``core``  — the measurement core alone: one CONTROL and one NOTIFICATION
            `ProbeSession` fed by a fake clock, with pongs, late pongs, drops
            (timeouts), duplicates, strays and disconnects (aborts) mixed in.
            Millions of cycles in seconds.

A *cycle* is one ping settled (ok, timeout or aborted); ``--cycles`` counts
them over all connections and both modes. Memory is sampled as RSS after
``gc.collect()`` and glibc's ``malloc_trim(0)`` (so freed buffers do not
count), next to the live Python heap blocks. The first ``--warmup`` share of
the cycles is the warm-up. The samples after it are split in thirds; the run
passes when the median of the last third exceeds the median of the first by
no more than ``--max-growth-pct`` (1 % by default), for RSS and for heap
blocks alike, and every ping was settled exactly once.

Heap blocks are judged net of two bounded, expected growths of cumulative
metrics (traced with ``--trace``):

- *series*: a counter series lives from its first value on, as in the SDK,
  and the soak makes such first values all along (a target's first timeout
  of a mode, its first breach of a threshold); at most targets by modes by
  attribute sets of them. Each costs :func:`blocks_per_series` blocks,
  measured with the real code in this process.
- *large counts*: CPython shares one object per integer up to 256, so every
  histogram bucket count or counter value that passes 256 becomes a heap
  block of its own; at most buckets by series of them.

Both are counted at every sample (``ProbeMetrics.series_count`` and
``large_counts``) and subtracted for what was added after the warm-up. The
raw and the net growth are both printed.
Exit status 1 otherwise. The result is printed as JSON on stdout, progress on
stderr.

    .venv/bin/python -m bench.soak                # socket: 100 connections, 10 Hz, 1e6 cycles
    .venv/bin/python -m bench.soak socket --connections 100 --interval 0.1 --cycles 2000000
    .venv/bin/python -m bench.soak socket --export-process  # telemetry as `run` places it
    .venv/bin/python -m bench.soak socket --export-process --collector down  # exports all fail
    .venv/bin/python -m bench.soak socket --export-process --collector down --protocol http
    .venv/bin/python -m bench.soak core --cycles 2000000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import random
import signal
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from otel_genesys.core.outcome import Breach, ProbeMode, TargetInfo, TargetKind
from otel_genesys.core.probe import ProbeSession, ProbeSettings
from otel_genesys.telemetry.gctune import malloc_trim

MS = 1_000_000


@dataclass
class SoakResult:
    """What a soak run measured (printed as JSON).

    After the warm-up the samples are split in thirds; ``*_early`` is the median
    of the first third, ``*_late`` the median of the last. A leak shows as late
    above early; the medians keep one sample caught mid-burst (a span batch
    waiting, a reconnect) from deciding the verdict either way.
    """

    mode: str
    cycles: int
    seconds: float
    rss_start_mib: float
    rss_early_mib: float
    rss_late_mib: float
    rss_min_after_warm_mib: float
    rss_max_after_warm_mib: float
    growth_pct: float
    """RSS, late against early."""
    blocks_early: int = 0
    blocks_late: int = 0
    blocks_growth_pct: float = 0.0
    """Live Python heap blocks (``sys.getallocatedblocks``): objects, not allocator pages."""
    series_early: int = 0
    series_late: int = 0
    """Metric series held by the probe metrics (socket soak with telemetry)."""
    large_counts_early: int = 0
    large_counts_late: int = 0
    """Metric counts above 256 held by the probe metrics: one heap block each."""
    blocks_per_series: float = 0.0
    """Heap blocks one new counter series costs, measured (:func:`blocks_per_series`)."""
    blocks_net_growth_pct: float = 0.0
    """Heap-block growth less the blocks of series added after the warm-up: the verdict's."""
    export_rss_early_mib: float = 0.0
    export_rss_late_mib: float = 0.0
    export_growth_pct: float = 0.0
    """With ``--export-process``: the export process's RSS, late against early (its heap
    blocks live in that process and are not counted here)."""
    export_anon_early_mib: float = 0.0
    export_anon_late_mib: float = 0.0
    """The anonymous part of that RSS (heaps, stacks: RSS less its file-backed pages),
    same thirds. Reported, not judged: it tells a heap that grows from code pages and
    shared libraries touched for the first time late in a run."""
    export_threads: tuple[int, int] = (0, 0)
    """Fewest and most threads the export process had at a sample after warm-up (a
    thread pool that grows under a burst raises its RSS by its threads' stacks)."""
    samples: list[tuple[int, float, int]] = field(default_factory=list)
    """(cycles done, RSS MiB, live heap blocks) along the run."""
    details: dict[str, int] = field(default_factory=dict)
    growth_sites: list[dict[str, Any]] = field(default_factory=list)
    """With ``--trace N``: where live Python memory grew after the warm-up."""
    ok: bool = False


def rss_mib() -> float:
    """Resident set size of this process (after a collection and a malloc trim)."""
    gc.collect()
    malloc_trim()
    return float(psutil.Process().memory_info().rss) / 2**20


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


class Memory:
    """RSS and heap-block samples against cycles, with the warm-up mark.

    With ``trace`` > 0, Python allocations are traced from the first sample after
    the warm-up (``tracemalloc``, 8 frames); a baseline snapshot is taken half-way
    between the warm-up and the end, and :meth:`growth_sites` lists the ``trace``
    call sites that hold more live blocks at the end than at that baseline. The
    first half lets bounded structures (LRU maps of recent spans, ring buffers,
    caches) turn over completely, so in both snapshots they hold only traced
    objects and their churn does not pass for growth. Tracing costs CPU; the
    verdict of a traced run is not comparable with an untraced one.
    """

    def __init__(
        self,
        cycles: int,
        warmup: float,
        trace: int = 0,
        series: Callable[[], int] | None = None,
        large_counts: Callable[[], int] | None = None,
    ) -> None:
        self.start = rss_mib()
        self._series = series
        self._large = large_counts
        self.series_samples: list[int] = []
        self.large_samples: list[int] = []
        self.warm_at = int(cycles * warmup)
        self.baseline_at = (self.warm_at + cycles) // 2
        self.samples: list[tuple[int, float, int]] = []
        self.export_samples: list[float] = []
        """RSS (MiB) of the export process at each sample, when there is one."""
        self.export_anon: list[float] = []
        """Its anonymous RSS (MiB), sample by sample."""
        self.export_threads: list[int] = []
        """Its thread count, sample by sample."""
        self.trace = trace
        self._baseline: tracemalloc.Snapshot | None = None

    def sample_export(self, export: psutil.Process) -> None:
        """The export process's RSS, its anonymous part and its threads, now."""
        info = export.memory_info()
        self.export_samples.append(info.rss / 2**20)
        # Linux: `shared` is the resident file-backed and shared-memory pages (statm).
        self.export_anon.append((info.rss - getattr(info, "shared", 0)) / 2**20)
        self.export_threads.append(export.num_threads())

    def sample(self, done: int) -> None:
        value = rss_mib()
        self.samples.append((done, round(value, 2), sys.getallocatedblocks()))
        self.series_samples.append(self._series() if self._series is not None else 0)
        self.large_samples.append(self._large() if self._large is not None else 0)
        if self.trace and done >= self.warm_at and not tracemalloc.is_tracing():
            tracemalloc.start(8)
        elif self.trace and done >= self.baseline_at and self._baseline is None:
            self._baseline = tracemalloc.take_snapshot()

    def growth_sites(self) -> list[dict[str, Any]]:
        """The call sites whose live Python memory grew most since the traced baseline."""
        if self._baseline is None:
            return []
        gc.collect()
        now = tracemalloc.take_snapshot()
        tracemalloc.stop()
        ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
        now, base = now.filter_traces(ignore), self._baseline.filter_traces(ignore)
        sites: list[dict[str, Any]] = []
        # By whole stack (where a growing structure is fed from), then by the line that
        # allocated (a growth spread thin over many stacks adds up there).
        for group in ("traceback", "lineno"):
            diffs = now.compare_to(base, group)
            sites += [
                {
                    "by": group,
                    "size_diff_kib": round(d.size_diff / 1024, 1),
                    "count_diff": d.count_diff,
                    "where": [f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in d.traceback],
                }
                for d in sorted(diffs, key=lambda d: d.count_diff, reverse=True)[: self.trace]
                if d.count_diff > 0
            ]
        return sites

    def result(
        self,
        mode: str,
        cycles: int,
        seconds: float,
        limit_pct: float,
        per_series: float = 0.0,
    ) -> SoakResult:
        # One row per sample: RSS, heap blocks, series, large counts, and the export
        # process's RSS, anonymous RSS and threads (0: no export process).
        none = [0.0] * len(self.samples)
        rows = [
            (n, rss, float(blocks), float(k), float(v), x, a, float(t))
            for (n, rss, blocks), k, v, x, a, t in zip(
                self.samples, self.series_samples, self.large_samples,
                self.export_samples or none, self.export_anon or none,
                self.export_threads or none, strict=True,
            )
        ]  # fmt: skip
        after = [r[1:] for r in rows if r[0] >= self.warm_at] or [r[1:] for r in rows[-1:]]
        third = max(1, len(after) // 3)

        def early_late(col: int) -> tuple[float, float]:
            """Medians of column ``col`` over the first and the last third after warm-up."""
            return (_median([r[col] for r in after[:third]]),
                    _median([r[col] for r in after[-third:]]))

        def pct(early: float, late: float) -> float:
            return (late - early) / early * 100.0 if early else 0.0

        rss_early, rss_late = early_late(0)
        blocks_early, blocks_late = early_late(1)
        series_early, series_late = early_late(2)
        large_early, large_late = early_late(3)
        export_early, export_late = early_late(4)
        anon_early, anon_late = early_late(5)  # reported, not judged
        threads = [int(r[6]) for r in after]
        growth = pct(rss_early, rss_late)
        blocks_growth = pct(blocks_early, blocks_late)
        export_growth = pct(export_early, export_late)
        expected = max(0.0, series_late - series_early) * per_series
        expected += max(0.0, large_late - large_early)
        net_growth = (blocks_late - blocks_early - expected) / blocks_early * 100.0
        return SoakResult(
            mode=mode,
            cycles=cycles,
            seconds=round(seconds, 1),
            rss_start_mib=round(self.start, 2),
            rss_early_mib=round(rss_early, 2),
            rss_late_mib=round(rss_late, 2),
            rss_min_after_warm_mib=round(min(r[0] for r in after), 2),
            rss_max_after_warm_mib=round(max(r[0] for r in after), 2),
            growth_pct=round(growth, 3),
            blocks_early=int(blocks_early),
            blocks_late=int(blocks_late),
            blocks_growth_pct=round(blocks_growth, 3),
            series_early=int(series_early),
            series_late=int(series_late),
            large_counts_early=int(large_early),
            large_counts_late=int(large_late),
            blocks_per_series=round(per_series, 1),
            blocks_net_growth_pct=round(net_growth, 3),
            export_rss_early_mib=round(export_early, 2),
            export_rss_late_mib=round(export_late, 2),
            export_growth_pct=round(export_growth, 3),
            export_anon_early_mib=round(anon_early, 2),
            export_anon_late_mib=round(anon_late, 2),
            export_threads=(min(threads), max(threads)),
            samples=self.samples,
            ok=growth <= limit_pct and net_growth <= limit_pct and export_growth <= limit_pct,
        )


def blocks_per_series(targets: int = 200, rounds: int = 5) -> float:
    """Heap blocks one new counter series costs the probe metrics, measured here.

    The series the soak keeps adding are counters of targets already seen (a
    first timeout, a first breach of a threshold). So: ``targets`` targets each
    record an OK probe and are collected once; then, ``rounds`` times, each
    records a probe that breaches a threshold none has breached, and is
    collected again. The live heap blocks added, over the series added, is the
    cost of one series: its entry in the reader's state, its cached attribute
    set, the key. The median round is returned, so an allocation by another
    thread during one round does not decide it.
    """
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from bench.telemetry_cost import outcomes
    from otel_genesys.telemetry import names
    from otel_genesys.telemetry.probe_metrics import ProbeMetrics

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = ProbeMetrics()
    metrics.bind(provider, names.INSTRUMENTATION_SCOPE, "soak")
    first = outcomes(targets, 1)
    for o in first:
        metrics.record(o)
    reader.get_metrics_data()
    per_round: list[float] = []
    for r in range(rounds):
        breach = (Breach(f"soak-calibration-{r}", 2_000_000, 1_000_000, 1),)
        batch = [o._replace(sequence=2 + r, breaches=breach) for o in first]
        gc.collect()
        blocks, series = sys.getallocatedblocks(), metrics.series_count()
        for o in batch:
            metrics.record(o)
        reader.get_metrics_data()
        del batch
        gc.collect()
        added = metrics.series_count() - series
        if added:
            per_round.append((sys.getallocatedblocks() - blocks) / added)
    provider.shutdown()
    return _median(per_round) if per_round else 0.0


# ----------------------------------------------------------------------------- core


def soak_core(cycles: int, warmup: float, limit_pct: float, seed: int) -> SoakResult:
    """``cycles`` ping/pong cycles per mode through the pure core, faults mixed in."""
    rng = random.Random(seed)
    target = TargetInfo("soak", TargetKind.NOTIFICATION, "localhost", 443, "wss")
    settings = ProbeSettings(
        max_latency_ns=50 * MS,
        max_jitter_ns=20 * MS,
        timeout_min_ns=20 * MS,
        timeout_max_ns=200 * MS,
        timeout_initial_ns=100 * MS,
        stability_window=100,
    )
    sessions = [ProbeSession(target, mode, settings, nonce=b"soak") for mode in ProbeMode]
    rounds = -(-cycles // len(sessions))  # one cycle per session per round
    memory = Memory(rounds * len(sessions), warmup)
    now = 0
    settled = 0
    every = max(1, rounds // 50)
    started = time.perf_counter()
    for i in range(rounds):
        now += 100 * MS
        roll = rng.random()
        for s in sessions:
            ticket = s.send(now, now)
            if roll < 0.01:  # dropped: times out at its deadline
                settled += len(s.expire(ticket.deadline_ns))
            elif roll < 0.015:  # disconnect: aborted
                settled += len(s.abort(now + MS))
            else:
                answer = s.pong(ticket.payload, now + rng.randint(1, 30) * MS)
                settled += answer.outcome is not None
                if roll < 0.02:  # a duplicate copy and a stray (FIFO may take them as answers)
                    for extra in (
                        s.pong(ticket.payload, now + 31 * MS),
                        s.pong(b"x", now + 32 * MS),
                    ):
                        settled += extra.outcome is not None
                settled += len(s.expire(now + 40 * MS))
        if i % every == 0 or i == rounds - 1:
            memory.sample((i + 1) * len(sessions))
    for s in sessions:
        settled += len(s.abort(now + 500 * MS))
    seconds = time.perf_counter() - started
    result = memory.result("core", rounds * len(sessions), seconds, limit_pct)
    counters = [s.counters for s in sessions]
    result.details = {
        "sent": sum(c.sent for c in counters),
        "ok": sum(c.ok for c in counters),
        "timeout": sum(c.timeout for c in counters),
        "aborted": sum(c.aborted for c in counters),
        "settled_outcomes": settled,
        "duplicate": sum(c.duplicate for c in counters),
        "unsolicited": sum(c.unsolicited for c in counters),
    }
    d = result.details
    result.ok = result.ok and d["sent"] == d["ok"] + d["timeout"] + d["aborted"] == settled
    return result


# --------------------------------------------------------------------------- socket


async def soak_socket(args: argparse.Namespace) -> SoakResult:
    """The agent against an emulator process until ``args.cycles`` outcomes were recorded."""
    from otel_genesys.agent.supervisor import Agent
    from otel_genesys.config import MonitorConfig, NotificationTarget, OAuthClient
    from otel_genesys.core.outcome import ProbeOutcome
    from otel_genesys.core.sink import FanoutSink, NullSink, TelemetrySink
    from otel_genesys.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
    from otel_genesys.secret import Secret
    from otel_genesys.telemetry import TelemetrySettings, setup_telemetry
    from otel_genesys.telemetry.isolated import start_isolated_telemetry

    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as cfg:
        cfg.write(f"channels_per_client = {args.connections * 3 + 10}\n")
        cfg.write("heartbeat_interval_s = 5\n[faults]\ndrop_probability = 0.01\nseed = 1\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "otel_genesys",
        "emulator",
        "--port",
        "0",
        "--config",
        cfg.name,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    sink = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench._otlp_sink",
        args.protocol,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    agent: Agent | None = None
    held = contextlib.ExitStack()
    try:
        assert proc.stdout is not None and sink.stdout is not None
        base_url = (await proc.stdout.readline()).decode().split()[-1]
        endpoint = (await sink.stdout.readline()).decode().strip()
        if getattr(args, "collector", "up") == "down":
            endpoint = held.enter_context(_refused_endpoint())
            # One failed export after another: the totals are reported, not each line.
            logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)
        monitor = MonitorConfig(
            interval_ns=int(args.interval * 1e9),
            probe_frequency_limit_ns=int(args.interval * 1e9),
            timeout_ns=250 * MS,
            heartbeat_interval_ns=5_000_000_000,
        )
        targets = [
            NotificationTarget(
                name=f"soak-{i}",
                region=None,
                base_url=base_url,
                oauth=OAuthClient(DEFAULT_CLIENT_ID, Secret(DEFAULT_CLIENT_SECRET)),
                topics=(),
                modes=frozenset(ProbeMode),
                monitor=monitor,
            )
            for i in range(args.connections)
        ]
        counts = {"ok": 0, "timeout": 0, "aborted": 0}
        done = [0]

        class Count(NullSink):
            def outcome(self, outcome: ProbeOutcome) -> None:
                done[0] += 1
                counts[outcome.outcome.value] += 1

        # Exported as `otel-genesys run` does: OTLP/gRPC (or OTLP/HTTP), to a discarding
        # endpoint in a process of its own (so its memory is not in our RSS); with
        # --export-process through the export process `run` starts by default, whose RSS
        # is sampled too.
        settings = TelemetrySettings(
            exporter="otlp_http" if args.protocol == "http" else "otlp_grpc",
            endpoint=endpoint,
            export_interval_ns=5_000_000_000,
        )
        export: psutil.Process | None = None
        if args.export_process:
            telemetry: Any = start_isolated_telemetry(settings)
            export = psutil.Process(telemetry.process.pid)
        else:
            telemetry = setup_telemetry(settings)
        sinks: list[TelemetrySink] = [Count()]
        if not args.no_telemetry:
            sinks.insert(0, telemetry.recorder)
        agent = Agent(targets, sink=FanoutSink(sinks))
        # The probe metrics' series live where the recorder runs: in the export process
        # they are not reachable from here, and its heap blocks are not counted.
        metrics = None if args.no_telemetry or export else telemetry.recorder.probe_metrics
        memory = Memory(
            args.cycles,
            args.warmup,
            args.trace,
            metrics.series_count if metrics is not None else None,
            metrics.large_counts if metrics is not None else None,
        )
        started = time.perf_counter()
        await agent.start()
        next_sample = 0
        step = max(1, args.cycles // 50)
        max_queued = 0
        while done[0] < args.cycles:
            await asyncio.sleep(0.5)
            max_queued = max(max_queued, telemetry.recorder.queued)
            if done[0] >= next_sample:
                # Measure a quiet pipeline: drain telemetry (hand-off queue, span batch,
                # metric collection) *on the loop*, so no probe adds records while it
                # drains. Drained from another thread, the ~0.3 s of outcomes made
                # meanwhile sit in the queues at sampling time: +-5 % heap-block noise
                # that hides a slow leak. The loop stalls for it ~50 times per run.
                telemetry.force_flush(5.0)
                memory.sample(done[0])
                if export is not None:
                    memory.sample_export(export)
                next_sample = done[0] + step
                _, rss, blocks = memory.samples[-1]
                print(
                    f"  {done[0]:>9} cycles  rss {rss:.1f} MiB  heap blocks {blocks}  "
                    f"series {memory.series_samples[-1]}  large counts {memory.large_samples[-1]}  "
                    f"queued {telemetry.recorder.queued}"
                    + (f"  export process rss {memory.export_samples[-1]:.1f} MiB"
                       f" (anonymous {memory.export_anon[-1]:.1f}, threads "
                       f"{memory.export_threads[-1]})" if export is not None else ""),
                    file=sys.stderr,
                )  # fmt: skip
        telemetry.force_flush(5.0)
        memory.sample(done[0])
        if export is not None:
            memory.sample_export(export)
        sites = memory.growth_sites()  # before stopping: what the running agent holds
        await agent.stop()
        seconds = time.perf_counter() - started
        await asyncio.to_thread(telemetry.shutdown, 5.0)
        per_series = 0.0 if args.no_telemetry else blocks_per_series()
        result = memory.result("socket", done[0], seconds, args.max_growth_pct, per_series)
        result.growth_sites = sites
        status = agent.status()
        modes = [m for s in status for m in s["modes"].values()]
        sent = sum(int(m["sent"]) for m in modes)
        health = telemetry.health
        result.details = {
            "sent": sent,
            **counts,
            "outcomes_delivered": done[0],
            "unsettled": sum(
                int(m["sent"]) - int(m["ok"]) - int(m["timeout"]) - int(m["aborted"]) for m in modes
            ),
            "late": sum(int(m["late"]) for m in modes),
            "connections": args.connections,
            "reconnects": sum(int(s["reconnects"]) for s in status),
            "telemetry_dropped": telemetry.recorder.dropped,
            "telemetry_errors": telemetry.recorder.errors,
            "telemetry_max_queued": max_queued,
            "spans_exported": health.spans_exported,
            "spans_dropped": health.spans_dropped,
            "span_export_failures": health.span_export_failures,
            "metric_export_failures": health.metric_export_failures,
        }
        d = result.details
        result.ok = result.ok and d["unsettled"] == 0 and d["outcomes_delivered"] == sent
        return result
    finally:
        if agent is not None:
            await agent.stop()  # idempotent; here for an interrupted run
        proc.terminate()
        await proc.wait()
        if sink.stdin is not None:
            sink.stdin.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(sink.wait(), 5.0)
        if sink.returncode is None:
            sink.kill()
            await sink.wait()
        await asyncio.to_thread(Path(cfg.name).unlink, missing_ok=True)
        held.close()


@contextlib.contextmanager
def _refused_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` where nothing listens: the port stays bound (never
    listened on) while the context lasts, so no other process can take it mid-run."""
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    # SIGTERM as Ctrl-C: asyncio.run then cancels the soak, whose cleanup stops the
    # emulator child and removes its config file (a plain SIGTERM would orphan both).
    signal.signal(signal.SIGTERM, _interrupt)
    # Reconnect warnings and audit lines would otherwise reach stderr via logging's
    # last-resort handler, one per anomaly; the soak reports totals instead.
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="socket", choices=("socket", "core"))
    parser.add_argument("--cycles", type=int, default=1_000_000)
    parser.add_argument("--warmup", type=float, default=0.2, help="share of cycles (0..1)")
    parser.add_argument("--max-growth-pct", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between pings")
    parser.add_argument("--samples", action="store_true", help="include every RSS sample")
    parser.add_argument(
        "--trace", type=int, default=0, metavar="N",
        help="trace Python allocations after the warm-up and list the N sites that grew most",
    )  # fmt: skip
    parser.add_argument(
        "--no-telemetry", action="store_true", help="count outcomes only (no recorder)"
    )
    parser.add_argument(
        "--export-process", action="store_true",
        help="telemetry in the export process `otel-genesys run` starts by default; its RSS "
        "is sampled and judged too (its heap blocks are not counted)",
    )  # fmt: skip
    parser.add_argument(
        "--collector", choices=("up", "down"), default="up",
        help="down: export to a loopback port nothing listens on (a Collector that is "
        "gone for the whole run): every export fails, and memory must still level off",
    )  # fmt: skip
    parser.add_argument(
        "--protocol", choices=("grpc", "http"), default="grpc",
        help="OTLP over gRPC (as `otel-genesys run` by default) or over HTTP (protobuf)",
    )  # fmt: skip
    parser.add_argument(
        "--default-malloc", action="store_true",
        help="leave glibc's malloc arenas at their default (otel-genesys run caps them at 2)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not args.default_malloc:
        from otel_genesys.telemetry.gctune import limit_malloc_arenas

        limit_malloc_arenas()  # as `otel-genesys run` does, before any thread starts
    if args.mode == "core":
        result = soak_core(args.cycles, args.warmup, args.max_growth_pct, args.seed)
    else:
        try:
            result = asyncio.run(soak_socket(args))
        except KeyboardInterrupt:
            print("soak interrupted", file=sys.stderr)
            return 130
    doc = asdict(result)
    if not args.samples:
        doc.pop("samples")
    print(json.dumps(doc, indent=2))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
