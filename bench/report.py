"""From raw results to ``REPORT.md`` and PNG plots.

Per-run figures are computed first (one value per repetition), then every
table cell is the median of those values with min-max beside it. Ratios
and differences are taken inside a repetition (agent vs bare client of the
same repetition, same server, minutes apart) before the median is taken.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench._client import PYTHON_THREAD
from bench._stats import Spread, quantile

if TYPE_CHECKING:
    from bench.harness import Results

TRUTH_P50_MS = 0.1
TRUTH_P99_MS = 0.5
TRUTH_AT_N_MS = 1.0
RATIO_DEFAULT = 1.3
RATIO_SPANS = 1.6
_HANDOFF = ("the telemetry thread woken by each record",
            "the records shipped to the export process every 5 s")
"""What carries a record off the probe path at one connection: [thread, export process]."""
CPU_PCT_MAX = 70.0
LATENESS_P99_MS = 5.0
RSS_ABOVE_BARE_KIB = 20.0
PLOTS = ("rtt_error.png", "cpu_per_cycle.png", "lateness.png", "rtt_p99.png")


# ------------------------------------------------------------------ truth


@dataclass(frozen=True, slots=True)
class TruthCell:
    """One (mode, client, delay) row of the truth table, over repetitions."""

    mode: str
    kind: str
    delay_ms: float
    floor_ms: Spread
    abs_p50_ms: Spread
    abs_p99_ms: Spread
    signed_p50_ms: Spread
    vs_bare_p50_ms: Spread
    vs_bare_p99_ms: Spread
    samples: int
    errors_ms: tuple[float, ...]
    """Pooled signed errors over every repetition (for the plot)."""
    corr: Corrected | None = None
    """The error with the emulator's per-pong timer overshoot removed (None: not recorded)."""
    corr_bare: Corrected | None = None
    """The same against the bare client's floor (how reports before 2026-12-05 took it)."""


@dataclass(frozen=True, slots=True)
class Corrected:
    """RTT - (D + overshoot_i + floor) for one (mode, client, D), pong by pong.

    Pooled over repetitions (p99 of ~12 samples per repetition would be just the
    max), with the per-repetition figures' spread beside it.
    """

    floor_ms: Spread
    """The loopback floor per rep: the lowest median of RTT - overshoot at D=0
    (overshoot 0 there) among the clients (or the bare client's, when asked)."""
    abs_p50_ms: float
    abs_p99_ms: float
    signed_p50_ms: float
    rep_abs_p50_ms: Spread
    rep_abs_p99_ms: Spread
    overshoot_p50_ms: float
    overshoot_p99_ms: float
    samples: int
    unmatched: int
    """Cycles and pongs left unpaired (phase edges, lost pongs, failed phases)."""
    failed_phases: int
    errors_ms: tuple[float, ...]


Paired = dict[tuple[int, str, str, float], tuple[list[float], list[float], int, bool]]


def _truth_paired(records: list[dict[str, Any]]) -> Paired:
    """(RTT ms, overshoot ms, unmatched, failed) per (rep, mode, kind, D), where paired."""
    out: Paired = {}
    for r in records:
        for phase in r.get("phases", ()):
            if "paired_rtt_ns" not in phase:
                continue
            key = (r["rep"], r["mode"], r["kind"], float(phase["delay_ms"]))
            unmatched = (phase.get("unmatched_cycles", 0) + phase.get("unmatched_pongs", 0)
                         + phase.get("foreign_pongs", 0))
            failed = phase.get("pairing") not in ("ok", "edges trimmed")
            out[key] = ([x / 1e6 for x in phase["paired_rtt_ns"]],
                        [x / 1e6 for x in phase["overshoot_ns"]], unmatched, failed)
    return out


Floors = dict[tuple[int, str, str | None], float]
"""Loopback floor by (rep, mode, client); client ``None``: the lowest of them."""


def loopback_floors(paired: Paired) -> Floors:
    """The loopback floor of every repetition and mode, once: each client's median RTT
    at D = 0 (no timer there, so no overshoot), and under client ``None`` the lowest.

    Every client reads the floor plus its own overhead on the pong path; the lowest
    reading is the best estimate of the floor itself. It used to be the bare client's,
    until the agent's pong path (answered where aiohttp parses it) read below it.
    """
    out: Floors = {}
    for (rep, mode, kind, delay), (rtt, over, _u, _f) in paired.items():
        if delay == 0.0 and rtt:
            floor = statistics.median(x - o for x, o in zip(rtt, over, strict=True))
            out[(rep, mode, kind)] = floor
            lowest = out.get((rep, mode, None))
            out[(rep, mode, None)] = floor if lowest is None else min(lowest, floor)
    return out


def corrected_cell(paired: Paired, loopbacks: Floors, reps: list[int], mode: str, kind: str,
                   delay: float, floor_of: str | None = None) -> Corrected | None:
    """The overshoot-corrected error of one (mode, kind, D) over repetitions, against
    the lowest loopback floor (``floor_of``: one client's floor instead)."""
    floors, p50s, p99s, pooled, overs = [], [], [], [], []
    unmatched = failed = 0
    seen = False
    for rep in reps:
        data = paired.get((rep, mode, kind, delay))
        if data is None:
            continue
        seen = True
        unmatched += data[2]
        failed += data[3]
        floor = loopbacks.get((rep, mode, floor_of))
        if not data[0] or floor is None:
            continue
        errors = [x - (delay + o + floor) for x, o in zip(data[0], data[1], strict=True)]
        absolute = [abs(e) for e in errors]
        floors.append(floor)
        p50s.append(quantile(absolute, 0.5))
        p99s.append(quantile(absolute, 0.99))
        pooled.extend(errors)
        overs.extend(data[1])
    if not seen:
        return None
    nan = float("nan")
    absolute = [abs(e) for e in pooled]
    return Corrected(
        Spread.of(floors), quantile(absolute, 0.5), quantile(absolute, 0.99),
        statistics.median(pooled) if pooled else nan, Spread.of(p50s), Spread.of(p99s),
        quantile(overs, 0.5), quantile(overs, 0.99), len(pooled), unmatched, failed,
        tuple(pooled))


def _truth_rtts(records: list[dict[str, Any]]) -> dict[tuple[int, str, str, float], list[float]]:
    rtts: dict[tuple[int, str, str, float], list[float]] = {}
    for r in records:
        for phase in r.get("phases", ()):
            key = (r["rep"], r["mode"], r["kind"], float(phase["delay_ms"]))
            rtts[key] = [x / 1e6 for x in phase["rtt_ns"]]
    return rtts


def truth_cells(records: list[dict[str, Any]]) -> list[TruthCell]:
    """Agent (and peer) error against ``D + floor`` and against the bare client."""
    rtts = _truth_rtts(records)
    paired = _truth_paired(records)
    loopbacks = loopback_floors(paired)
    reps = sorted({k[0] for k in rtts})
    combos = sorted({(k[1], k[2], k[3]) for k in rtts})
    cells = []
    for mode, kind, delay in combos:
        floors, p50s, p99s, signed, vb50, vb99, pooled = [], [], [], [], [], [], []
        for rep in reps:
            data = rtts.get((rep, mode, kind, delay))
            base = rtts.get((rep, mode, "bare", 0.0))
            bare = rtts.get((rep, mode, "bare", delay))
            if not data or not base:
                continue
            floor = statistics.median(base)
            errors = [x - delay - floor for x in data]
            absolute = [abs(e) for e in errors]
            floors.append(floor)
            p50s.append(quantile(absolute, 0.5))
            p99s.append(quantile(absolute, 0.99))
            signed.append(statistics.median(errors))
            pooled.extend(errors)
            if bare:
                vb50.append(statistics.median(data) - statistics.median(bare))
                vb99.append(quantile(data, 0.99) - quantile(bare, 0.99))
        if not p50s:
            continue
        cells.append(TruthCell(mode, kind, delay, Spread.of(floors), Spread.of(p50s),
                               Spread.of(p99s), Spread.of(signed), Spread.of(vb50),
                               Spread.of(vb99), len(pooled), tuple(pooled),
                               corrected_cell(paired, loopbacks, reps, mode, kind, delay),
                               corrected_cell(paired, loopbacks, reps, mode, kind, delay,
                                              "bare")))
    return cells


# ------------------------------------------------------------------ scale


@dataclass(frozen=True, slots=True)
class ScaleRow:
    """One (variant, connection count) row, each figure over repetitions."""

    variant: str
    n: int
    cpu_per_cycle_us: Spread
    ratio_vs_bare: Spread
    cpu_pct: Spread
    server_cpu_pct: Spread
    rss_per_conn_kib: Spread
    rss_above_bare_kib: Spread
    rtt_p50_ms: Spread
    rtt_p99_ms: Spread
    rtt_p99_vs_bare_ms: Spread
    late_p50_ms: Spread
    late_p99_ms: Spread
    timeouts: Spread
    lost: Spread
    server_gap: Spread
    """Pings the client sent minus pings the server saw (agent only)."""
    degraded_share: Spread
    connect_s: Spread
    spans_dropped: Spread
    errors: int
    wakeups_per_s: Spread
    """Threads going to sleep a second, both processes (each sleep ends in a wake-up)."""
    server_gc_max_ms: Spread
    """The pong server's longest garbage collection during the client's run: a pause
    there holds back every pong at once."""


def _per_run(r: dict[str, Any]) -> dict[str, float]:
    nan = float("nan")
    n = r["n"]
    cycles = r.get("cycles") or 0
    window = r.get("window_s") or nan
    rtt, late = r.get("rtt") or {}, r.get("lateness") or {}
    totals = r.get("totals") or {}
    tele = r.get("telemetry") or {}
    return {
        "cpc": r["cpu_s"] / cycles * 1e6 if cycles else nan,
        "cpu_pct": r["cpu_s"] / window * 100,
        "server_cpu_pct": r.get("server_cpu_s", nan) / window * 100,
        "rss": (r["rss_steady"] - r["rss_base"]) / n / 1024,
        "rtt_p50": rtt.get("p50", nan) / 1e6,
        "rtt_p99": rtt.get("p99", nan) / 1e6,
        "late_p50": late.get("p50", nan) / 1e6,
        "late_p99": late.get("p99", nan) / 1e6,
        "timeouts": r.get("timeouts", nan),
        "lost": totals["lost"] + max(0, totals["unseen"]) if totals else nan,
        "gap": totals["sent"] - r["server_pings"] if totals else nan,
        "degraded": r.get("degraded", 0) / r["ok"] if r.get("ok") else nan,
        "connect": r.get("connect_s", nan),
        "spans_dropped": tele.get("spans_dropped", nan),
        "wakeups": (r["wakeups"] + r.get("export_wakeups", 0)) / window
        if "wakeups" in r else nan,
        "server_gc_max": r.get("server_gc_pause_max_s", nan) * 1e3,
    }


def scale_rows(records: list[dict[str, Any]]) -> list[ScaleRow]:
    """Per-run figures, then same-repetition comparisons with the bare client."""
    runs: dict[tuple[str, int], dict[int, dict[str, float]]] = defaultdict(dict)
    errors: dict[tuple[str, int], int] = defaultdict(int)
    order: list[tuple[str, int]] = []
    for r in records:
        key = (r["variant"], r["n"])
        if key not in order:
            order.append(key)
        if "error" in r:
            errors[key] += 1
            continue
        runs[key][r["rep"]] = _per_run(r)
    rows = []
    for key in order:
        variant, n = key
        mine = runs.get(key, {})
        bare = runs.get(("bare", n), {})

        def col(name: str, values: dict[int, dict[str, float]] = mine) -> Spread:
            return Spread.of(v[name] for v in values.values())

        def against_bare(name: str, ratio: bool, mine: dict[int, dict[str, float]] = mine,
                         bare: dict[int, dict[str, float]] = bare) -> Spread:
            out = []
            for rep, v in mine.items():
                b = bare.get(rep)
                if b is None:
                    continue
                out.append(v[name] / b[name] if ratio else v[name] - b[name])
            return Spread.of(out)

        rows.append(ScaleRow(
            variant, n, col("cpc"), against_bare("cpc", True), col("cpu_pct"),
            col("server_cpu_pct"), col("rss"), against_bare("rss", False), col("rtt_p50"),
            col("rtt_p99"), against_bare("rtt_p99", False), col("late_p50"), col("late_p99"),
            col("timeouts"), col("lost"), col("gap"), col("degraded"), col("connect"),
            col("spans_dropped"), errors[key], wakeups_per_s=col("wakeups"),
            server_gc_max_ms=col("server_gc_max"),
        ))
    return rows


def _export_split(records: list[dict[str, Any]]) -> list[str]:
    """Markdown: the export-process variant's CPU and memory, per process."""
    by_n: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r["variant"] == ISOLATED and "error" not in r and r.get("cycles"):
            by_n[r["n"]].append(r)
    if not by_n:
        return []
    body = []
    for n, runs in sorted(by_n.items()):
        agent_cpu = Spread.of((r["cpu_s"] - r["export_cpu_s"]) / r["cycles"] * 1e6 for r in runs)
        export_cpu = Spread.of(r["export_cpu_s"] / r["cycles"] * 1e6 for r in runs)
        split = [r for r in runs if "*" not in r.get("export_cpu_by_thread", {"*": 0})]
        native = Spread.of(
            sum(v for k, v in r["export_cpu_by_thread"].items() if k != PYTHON_THREAD)
            / r["cycles"] * 1e6 for r in split) if split else None
        # Records from before the export process's base was taken (no export_rss_base)
        # count its whole RSS as growth, as the report did then.
        export_rss = Spread.of((r["export_rss"] - r.get("export_rss_base", 0)) / n / 1024
                               for r in runs)
        agent_rss = Spread.of((r["rss_steady"] - r["export_rss"] - r["rss_base"]
                               + r.get("export_rss_base", 0)) / n / 1024 for r in runs)
        export_base = Spread.of(r.get("export_rss_base", 0) / 2**20 for r in runs)
        reads = sorted({r.get("export_cpu_read", "ticks") for r in runs})
        body.append((f"{n:,}", agent_cpu.fmt("{:.0f}"), export_cpu.fmt("{:.0f}"),
                     native.fmt("{:.0f}") if native is not None else "—", "/".join(reads),
                     agent_rss.fmt("{:.1f}"), export_rss.fmt("{:.1f}"),
                     export_base.fmt("{:.1f}")))
    return [
        "### The export process's share",
        "",
        f"*{ISOLATED}* split by process: the agent's own process (probing, and handing "
        "records to the pipe) and the export process (metrics, spans, OTLP). RSS per "
        "connection is each process's growth over its own RSS before the first socket "
        "(the agent's after its imports and set-up; the export process's once it reported "
        "ready); the export process's RSS at that point, its fixed part (interpreter, SDK, "
        "exporters), is in the last column and not in the per-connection figures. The "
        "export process's CPU is read per thread in nanoseconds (`schedstat`), or from the "
        "OS's 10 ms ticks when a thread ended inside the window (`ticks`: coarse at one "
        "connection, and not split by thread). *of which gRPC's threads*: the export "
        "process's threads that Python did not start (gRPC's `event_engine`, `lifeguard`, "
        "`grpc_global_tim`...), which wake on their own schedule whether or not anything "
        "is sent.",
        "",
        _table(("N", "agent process CPU/cycle µs", "export process CPU/cycle µs",
                "of which gRPC's threads µs", "CPU read",
                "agent process RSS/conn KiB", "export process RSS/conn KiB",
                "export process at start MiB"), body),
        "",
    ]


def _loop_waits(records: list[dict[str, Any]]) -> list[str]:
    """Markdown: the event loop's thread, busy and waiting for a core, per variant."""
    cells: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if "error" not in r and r.get("loop_runqueue_s") is not None and r.get("window_s"):
            cells[(r["n"], r["variant"])].append(r)
    if not cells:
        return []
    body = []
    for (n, variant), runs in sorted(cells.items(), key=lambda kv: (kv[0][0],
                                                                    kv[0][1] != "bare")):
        busy = Spread.of(r["loop_cpu_s"] / r["window_s"] * 100 for r in runs)
        wait = Spread.of(r["loop_runqueue_s"] / r["window_s"] * 1e3 for r in runs)
        late = Spread.of((r.get("lateness") or {}).get("p99", float("nan")) / 1e6 for r in runs)
        body.append((f"{n:,}", variant, busy.fmt("{:.0f}"), wait.fmt("{:.0f}"),
                     late.fmt("{:.1f}")))
    return [
        "### The event loop's thread: running, and waiting for a core",
        "",
        "From the kernel's `schedstat` for the client's main thread (the event loop's) over "
        "the measured window: *running* is its own CPU time, *waiting for a core* the time "
        "it was ready to run while every core was busy with other threads (of any "
        "process: the export process, the pong server, the client's own other threads). "
        "A loop that waits for a core fires its probes late however little it does "
        "itself; this wait grows with what else runs on the host, not with the code in "
        "the loop.",
        "",
        _table(("N", "client", "running % of a core", "waiting for a core ms/s",
                "lateness p99 ms"), body),
        "",
    ]


RunsByRep = dict[tuple[str, int], dict[int, dict[str, float]]]


def runs_by_rep(records: list[dict[str, Any]]) -> RunsByRep:
    """Per-run figures keyed by (variant, N), then repetition (failed runs left out)."""
    out: RunsByRep = defaultdict(dict)
    for r in records:
        if "error" not in r:
            out[(r["variant"], r["n"])][r["rep"]] = _per_run(r)
    return out


OPTIMISATION_FIGURES = (
    ("rtt_p50", "RTT p50 ms", "{:.2f}"),
    ("rtt_p99", "RTT p99 ms", "{:.2f}"),
    ("late_p99", "lateness p99 ms", "{:.2f}"),
    ("degraded", "degraded share", "{:.1%}"),
    ("cpc", "CPU/cycle µs", "{:.0f}"),
)


BASELINES = {
    "agent, before": ("both undone", "agent"),
    "agent, 5 ms switch": ("staggered probes only (GIL switch interval left at 5 ms)", "agent"),
    "agent, export process, uvloop": ("uvloop event loop (a trial, not in the product)",
                                      "agent, export process"),
    "agent, export process, timer per alarm": ("one asyncio timer per alarm (no AlarmClock)",
                                               "agent, export process"),
    "agent, export process, pongs via reader": ("every pong via the reader task (no PongTap)",
                                                "agent, export process"),
    "agent, export process, pickled by the shipping thread": (
        "records pickled by the shipping thread (no EncodingQueue)", "agent, export process"),
    "agent, export process, not reniced": (
        "export process at the agent's priority (not reniced)", "agent, export process"),
    "agent, export process, stamped at wake-up": (
        "pong arrival at the loop's wake-up (no kernel receive stamps)", "agent, export process"),
    "agent, export process, stamped at read": (
        "pong arrival read in the parsing callback (no stamping loop)", "agent, export process"),
    "agent, export process, wake-ups as before": (
        "records shipped every second, stall tick on its own period", "agent, export process"),
    "agent, export process, grid 1 ms": ("stagger grid 1 ms (a setting, off by default)",
                                         "agent, export process"),
    "agent, export process, grid 2 ms": ("stagger grid 2 ms (a setting, off by default)",
                                         "agent, export process"),
    "agent, export process, grid 4 ms": ("stagger grid 4 ms (a setting, off by default)",
                                         "agent, export process"),
    "agent, export process, pinned": (
        "export process on CPU 1, the agent's process on the others (export_cpus, a setting, "
        "off by default)", "agent, export process"),
}
"""Variants compared with the product: (label, the product's variant). Most undo an
optimisation (compared with ``agent``, all of them on); the uvloop row tries one the
product does not use (compared with the shipped placement, on asyncio's loop)."""


def optimisation_rows(runs: RunsByRep) -> list[tuple[int, str, str, Spread, Spread, Spread]]:
    """(N, baseline, figure, baseline, agent, agent ÷ baseline); ratios per repetition."""
    out = []
    for (variant, n), before in sorted(runs.items()):
        if variant not in BASELINES:
            continue
        name, product = BASELINES[variant]
        after = runs.get((product, n), {})
        for key, label, _ in OPTIMISATION_FIGURES:
            ratios = [after[rep][key] / b[key] for rep, b in before.items()
                      if rep in after and b[key]]
            out.append((n, name, label, Spread.of(b[key] for b in before.values()),
                        Spread.of(a[key] for a in after.values()), Spread.of(ratios)))
    return out


def _optimisations(rows: list[ScaleRow], runs: RunsByRep) -> list[str]:
    table = optimisation_rows(runs)
    if not table:
        return []
    fmt = {label: pattern for _, label, pattern in OPTIMISATION_FIGURES}
    return [
        "### Optimisations — measured in the same repetitions",
        "",
        "Each row undoes one optimisation of the product with a bench switch (or, for "
        "uvloop, tries one the product does not use). The supervisor staggers the targets' "
        "probes over one interval (target i of N probes i/N of an interval after the "
        "agent's start; the stagger grid, off by default, rounds it down), and "
        "`gc_tune` sets a 0.5 ms GIL switch interval: *baseline* = the agent with one or "
        "both undone "
        "(*both undone*: every target probes at connect, 5 ms switch interval, i.e. the "
        "agent as it was), against *agent* (telemetry thread). "
        "Every alarm of the loop shares one asyncio timer (`AlarmClock`), and pongs are "
        "answered where aiohttp parses them (`PongTap`): baselines *one asyncio timer per "
        "alarm* and *every pong via the reader task*, against the shipped placement (export "
        "process), as are the uvloop trial and the stagger grid (a setting the product "
        "leaves off: there the baseline is the setting and *agent* the default). The "
        "ratio is agent ÷ baseline per repetition, "
        "then the median.",
        "",
        _table(("N", "baseline", "figure", "baseline value", "agent", "agent ÷ baseline"),
               ((f"{n:,}", base, label, b.fmt(fmt[label]), a.fmt(fmt[label]), r.fmt("{:.2f}"))
                for n, base, label, b, a, r in table)),
        "",
    ]


# ------------------------------------------------------------------ verdicts


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("holds" if ok else "**does not hold**")


def _le(s: Spread, limit: float) -> bool | None:
    return None if s.runs == 0 or math.isnan(s.median) else s.median <= limit


ISOLATED = "agent, export process"
"""The scale variant with the export process, as `otel-genesys run` places telemetry."""
NO_TELEMETRY = "agent, no telemetry"
"""The scale variant with no recorder: the measurement alone."""


def _row(rows: list[ScaleRow], variant: str, n: int) -> ScaleRow | None:
    return next((r for r in rows if r.variant == variant and r.n == n), None)


def _truth_target(cells: list[TruthCell], kind: str, label: str
                  ) -> tuple[str, str, str, str] | None:
    """The overshoot-corrected truth verdict of one truth client (one placement)."""
    mine = [c for c in cells if c.kind == kind]
    corrected = [c for c in mine if c.corr is not None and c.corr.samples]
    if not corrected:
        return None
    w50 = max(corrected, key=lambda c: c.corr.abs_p50_ms if c.corr else 0.0)
    w99 = max(corrected, key=lambda c: c.corr.abs_p99_ms if c.corr else 0.0)
    ok_corr = all(c.corr is not None and c.corr.abs_p50_ms <= TRUTH_P50_MS
                  and c.corr.abs_p99_ms <= TRUTH_P99_MS for c in corrected)
    missing = [c for c in mine if c.corr is None or not c.corr.samples]
    unmatched = sum(c.corr.unmatched for c in mine if c.corr is not None)
    assert w50.corr is not None and w99.corr is not None
    return (
        "1. Truth, 1 connection: agent RTT - (D + overshoot + floor), abs error "
        "p50 ≤ 0.1 ms, p99 ≤ 0.5 ms" + label,
        f"worst p50 {w50.corr.abs_p50_ms:.3f} ms ({w50.mode}, D={w50.delay_ms:g} ms); "
        f"worst p99 {w99.corr.abs_p99_ms:.3f} ms ({w99.mode}, D={w99.delay_ms:g} ms); "
        f"pooled over repetitions, {sum(c.corr.samples for c in corrected if c.corr)} "
        f"samples, {unmatched} unpaired",
        _verdict(None if missing else ok_corr),
        "overshoot = how late the emulator's asyncio timer actually sent that pong "
        "(recorded per pong by the emulator, paired with the agent's sample in order); "
        "it is part of the delay applied, not the agent's error. Floor = the lowest "
        "D=0 median of RTT - overshoot among the clients (0 at D=0: no timer), the "
        "best estimate of the loopback floor: each client reads it plus its own overhead"
        + (f"; {len(missing)} cell(s) without pairing" if missing else ""),
    )


def targets(results: Results, cells: list[TruthCell], rows: list[ScaleRow]
            ) -> list[tuple[str, str, str, str]]:
    """(target, measured, verdict, note) rows for the summary table."""
    out: list[tuple[str, str, str, str]] = []
    agent_cells = [c for c in cells if c.kind == "agent"]
    corrected = [c for c in agent_cells if c.corr is not None and c.corr.samples]
    # Both telemetry placements, as for scale: the thread ("agent") and the export process.
    for kind, label in (("agent", ""), (ISOLATED, " [export process]")):
        verdict_row = _truth_target(cells, kind, label)
        if verdict_row is not None:
            out.append(verdict_row)
    if corrected:
        bare_floor = [c for c in corrected if c.corr_bare is not None and c.corr_bare.samples]
        if bare_floor:
            b50 = max(bare_floor, key=lambda c: c.corr_bare.abs_p50_ms if c.corr_bare else 0.0)
            b99 = max(bare_floor, key=lambda c: c.corr_bare.abs_p99_ms if c.corr_bare else 0.0)
            assert b50.corr_bare is not None and b99.corr_bare is not None
            out.append((
                "1. Truth, 1 connection, against the bare client's floor (as reports before "
                "2026-12-05 took it): same error and limits",
                f"worst p50 {b50.corr_bare.abs_p50_ms:.3f} ms ({b50.mode}, "
                f"D={b50.delay_ms:g} ms), signed {b50.corr_bare.signed_p50_ms:+.3f} ms; "
                f"worst p99 {b99.corr_bare.abs_p99_ms:.3f} ms ({b99.mode}, "
                f"D={b99.delay_ms:g} ms)",
                "reported",
                "a negative signed error is the agent reading below the bare client: its "
                "pong path is shorter than the bare loop's, whose own overhead this floor "
                "holds",
            ))
    if agent_cells:
        worst50 = max(agent_cells, key=lambda c: c.abs_p50_ms.median)
        worst99 = max(agent_cells, key=lambda c: c.abs_p99_ms.median)
        ok = all(_le(c.abs_p50_ms, TRUTH_P50_MS) and _le(c.abs_p99_ms, TRUTH_P99_MS)
                 for c in agent_cells)
        out.append((
            "1. Truth (uncorrected, for continuity): agent RTT - (D + floor), same limits",
            f"worst p50 {worst50.abs_p50_ms.fmt('{:.3f}')} ms ({worst50.mode}, "
            f"D={worst50.delay_ms:g} ms); worst p99 {worst99.abs_p99_ms.fmt('{:.3f}')} ms "
            f"({worst99.mode}, D={worst99.delay_ms:g} ms)",
            _verdict(ok) if not corrected else "reported",
            "the floor is the bare client's D=0 median; the emulator's own timer overshoot "
            "at D>0 is inside this error (see the bare rows); per-repetition medians",
        ))
        ok_vs = all(_le(c.vs_bare_p50_ms, TRUTH_P50_MS) and _le(c.vs_bare_p99_ms, TRUTH_P99_MS)
                    for c in agent_cells)
        w = max(agent_cells, key=lambda c: c.vs_bare_p99_ms.median)
        out.append((
            "1. Truth, 1 connection, overshoot removed by comparison: agent - bare client "
            "at the same D",
            f"worst p99 difference {w.vs_bare_p99_ms.fmt('{:+.3f}')} ms ({w.mode}, "
            f"D={w.delay_ms:g} ms)",
            _verdict(ok_vs) if not corrected else "reported",
            "same limits (0.1 ms p50, 0.5 ms p99); removes the overshoot only on average",
        ))
    counts = sorted({r.n for r in rows if r.n > 1})
    big = [n for n in counts if n >= 5000] or counts[-1:]
    # Both telemetry placements: the thread (variant "agent") and the export process
    # that `otel-genesys run` uses by default.
    placements = [(v, label) for v, label in (("agent", ""), (ISOLATED, " [export process]"))
                  if any(r.variant == v for r in rows)]
    for variant, label in placements:
        for n in big:
            row = _row(rows, variant, n)
            if row is not None:
                out.append((
                    f"1. Truth at {n:,} connections: agent RTT p99 - bare RTT p99 ≤ 1 ms{label}",
                    f"{row.rtt_p99_vs_bare_ms.fmt('{:+.2f}')} ms (agent p99 "
                    f"{row.rtt_p99_ms.fmt('{:.2f}')} ms)",
                    _verdict(_le(row.rtt_p99_vs_bare_ms, TRUTH_AT_N_MS)), "",
                ))
    largest = max(counts, default=0)
    for variant, label in placements:
        for n in sorted({1, largest} & {r.n for r in rows if r.variant == variant}):
            row = _row(rows, variant, n)
            if row is None:
                continue
            out.append((
                f"2. Overhead at {n:,}: agent CPU per cycle ÷ bare (defaults) ≤ 1.3{label}",
                f"{row.ratio_vs_bare.fmt('{:.2f}')}x",
                _verdict(_le(row.ratio_vs_bare, RATIO_DEFAULT)),
                "defaults = metrics every probe + spans at span_ratio 1.0 (the shipped default)"
                + ("; CPU of the export process included" if label else "")
                + ("; at one connection the telemetry's fixed work per second (gRPC's "
                   f"polling threads, {_HANDOFF[bool(label)]}, span export every 5 s, "
                   "metric export every 10 s) is divided by one cycle"
                   if n == 1 else ""),
            ))
            out.append((
                f"2. Overhead at {n:,}: spans on every cycle ≤ 1.6{label}",
                f"{row.ratio_vs_bare.fmt('{:.2f}')}x",
                _verdict(_le(row.ratio_vs_bare, RATIO_SPANS)),
                "the shipped default already spans every cycle: same runs as the row above",
            ))
    for variant, label in placements:
        row = _row(rows, variant, largest)
        if row is None:
            continue
        bare = _row(rows, "bare", largest)
        out.append((f"3. Scale at {largest:,}: CPU < 70 % of one core{label}",
                    f"{row.cpu_pct.fmt('{:.0f}')} % (bare "
                    f"{bare.cpu_pct.fmt('{:.0f}') if bare else 'n/a'} %)",
                    _verdict(None if row.cpu_pct.runs == 0 else row.cpu_pct.median < CPU_PCT_MAX),
                    "agent and export process together" if label else ""))
        # Drift compensation can pull wake-ups early (negative lateness) when the loop
        # is late all the time: a median that early is off schedule too, so it fails.
        early = row.late_p50_ms.runs > 0 and row.late_p50_ms.median < -LATENESS_P99_MS
        late_ok = _le(row.late_p99_ms, LATENESS_P99_MS)
        out.append((f"3. Scale at {largest:,}: lateness p99 ≤ 5 ms{label}",
                    f"{row.late_p99_ms.fmt('{:.1f}')} ms, p50 {row.late_p50_ms.fmt('{:.1f}')} "
                    f"ms (bare {bare.late_p99_ms.fmt('{:.1f}') if bare else 'n/a'} ms)",
                    _verdict(None if late_ok is None else late_ok and not early),
                    "a negative lateness is a probe sent before its slot (drift compensation "
                    "waking the loop early); a p50 below -5 ms counts as off schedule"
                    if early else ""))
        out.append((f"3. Scale at {largest:,}: RSS per connection ≤ 20 KiB above bare{label}",
                    f"{row.rss_above_bare_kib.fmt('{:+.1f}')} KiB "
                    f"({row.rss_per_conn_kib.fmt('{:.1f}')} KiB per connection)",
                    _verdict(_le(row.rss_above_bare_kib, RSS_ABOVE_BARE_KIB)),
                    "agent and export process together" if label else ""))
        out.append((f"3. Scale at {largest:,}: zero probes lost{label}",
                    f"lost {row.lost.fmt('{:.0f}')}; sent - server-seen "
                    f"{row.server_gap.fmt('{:.0f}')}",
                    _verdict(None if row.lost.runs == 0 else row.lost.high == 0),
                    "lost = sent - ok - timeout - aborted, plus outcomes the callback never saw"))
    for n in counts:
        row = _row(rows, "agent", n)
        if row is not None and n >= 1000:
            bare = _row(rows, "bare", n)
            out.append((f"Issue 11: share of degraded samples at {n:,} connections (reported)",
                        f"{row.degraded_share.fmt('{:.1%}')} (lateness p99 "
                        f"{row.late_p99_ms.fmt('{:.1f}')} ms; bare client's "
                        f"{bare.late_p99_ms.fmt('{:.1f}') if bare else 'n/a'} ms)",
                        "reported", "OK samples the agent flagged `degraded` (its own loop lag or "
                        "GC inside the ping→pong window above the 1 ms limit)"))
    soak = (Path(__file__).parent / "soak.py").exists()
    out.append(("4. Soak: 10⁶ cycles, RSS growth after warm-up ≤ 1 %",
                "see [bench/soak.py](../soak.py)" if soak else "bench/soak.py not present yet",
                "n/a", "separate long run, not part of `python -m bench`"))
    peer = [c for c in cells if c.kind == "websockets"]
    if peer:
        ours = {c.delay_ms: c for c in agent_cells if c.mode == "control"}
        pairs = [(ours[c.delay_ms], c) for c in peer if c.delay_ms in ours]
        use_corr = bool(pairs) and all(
            a.corr is not None and a.corr.samples and p.corr is not None and p.corr.samples
            for a, p in pairs
        )

        def p50_p99(c: TruthCell) -> tuple[float, float]:
            if use_corr and c.corr is not None:
                return c.corr.abs_p50_ms, c.corr.abs_p99_ms
            return c.abs_p50_ms.median, c.abs_p99_ms.median

        better = len(pairs) == len(peer) and all(
            p50_p99(a)[0] <= p50_p99(p)[0] and p50_p99(a)[1] <= p50_p99(p)[1] for a, p in pairs)
        out.append(("5. Peer accuracy (control frames, 1 connection): ours ≤ websockets",
                    "; ".join(f"D={p.delay_ms:g}: ours p50/p99 {p50_p99(a)[0]:.3f}/"
                              f"{p50_p99(a)[1]:.3f} vs {p50_p99(p)[0]:.3f}/{p50_p99(p)[1]:.3f} ms"
                              for a, p in pairs),
                    _verdict(better),
                    "abs error p50 and p99, every D"
                    + ("; overshoot removed pong by pong, pooled over repetitions" if use_corr
                       else "; per-repetition medians of RTT - (D + floor)")))
    ws_rows = [r for r in rows if r.variant == "websockets"]
    for wr in ws_rows:
        for variant, label in placements:
            ag = _row(rows, variant, wr.n)
            if ag is None:
                continue
            out.append((f"5. Peer CPU per cycle at {wr.n:,}: ours ≤ websockets{label}",
                        f"agent {ag.cpu_per_cycle_us.fmt('{:.0f}')} µs vs websockets "
                        f"{wr.cpu_per_cycle_us.fmt('{:.0f}')} µs",
                        _verdict(ag.cpu_per_cycle_us.median <= wr.cpu_per_cycle_us.median),
                        "CPU of the export process included" if label else ""))
        alone = _row(rows, NO_TELEMETRY, wr.n)
        if alone is not None:
            # websockets keeps its `latency` in memory and exports nothing: the agent's
            # measurement on its own is the like-for-like cost, shown beside the verdict.
            out.append((f"5. Peer CPU per cycle at {wr.n:,}, measurement alone (reported)",
                        f"agent, no telemetry {alone.cpu_per_cycle_us.fmt('{:.0f}')} µs vs "
                        f"websockets {wr.cpu_per_cycle_us.fmt('{:.0f}')} µs",
                        "reported",
                        "neither exports anything: the agent keeps its outcomes in memory, "
                        "as websockets keeps `latency`; same repetitions"))
    inst = results.instrumentation or {}
    found = re.search(r"^ratio ([0-9.]+)", inst.get("output", ""), re.MULTILINE)
    if found:
        ratio = float(found.group(1))
        out.append(("6. Instrumentation: throughput instrumented ÷ plain ≥ 0.9",
                    f"{ratio:.3f} (worst client library; median of alternating rounds)",
                    _verdict(ratio >= 0.9), "see section 6"))
    else:
        out.append(("6. Instrumentation: throughput instrumented ÷ plain ≥ 0.9",
                    f"not run ({inst.get('status', 'not in this mode')})", "n/a", ""))
    return out


# ------------------------------------------------------------------ plots


def _plots(cells: list[TruthCell], rows: list[ScaleRow], out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    modes = sorted({c.mode for c in cells})
    if modes:
        fig, axes = plt.subplots(1, len(modes), figsize=(6 * len(modes), 4.2), squeeze=False)
        for ax, mode in zip(axes[0], modes, strict=True):
            mine = [c for c in cells if c.mode == mode]
            corrected = all(c.corr is not None and c.corr.errors_ms for c in mine)
            delays = sorted({c.delay_ms for c in mine})
            kinds = [k for k in ("bare", "agent", ISOLATED, "websockets")
                     if any(c.kind == k for c in mine)]
            width = 0.8 / max(1, len(kinds))
            for i, kind in enumerate(kinds):
                data, pos = [], []
                for j, d in enumerate(delays):
                    cell = next((c for c in mine if c.kind == kind and c.delay_ms == d), None)
                    errors = (cell.corr.errors_ms if corrected and cell and cell.corr
                              else cell.errors_ms if cell else ())
                    if errors:
                        data.append(list(errors))
                        pos.append(j + (i - (len(kinds) - 1) / 2) * width)
                if data:
                    bp = ax.boxplot(data, positions=pos, widths=width * 0.9, whis=(1, 99),
                                    showfliers=False, patch_artist=True)
                    color = f"C{i}"
                    for box in bp["boxes"]:
                        box.set_facecolor(color)
                        box.set_alpha(0.6)
                    ax.plot([], [], color=color, linewidth=8, alpha=0.6, label=kind)
            ax.set_xticks(range(len(delays)), [f"{d:g}" for d in delays])
            ax.set_xlabel("injected pong delay D (ms)")
            ax.set_ylabel("RTT - (D + overshoot + floor)  (ms)" if corrected
                          else "RTT - (D + floor)  (ms)")
            ax.set_yscale("symlog", linthresh=0.1)
            ax.axhspan(-TRUTH_P50_MS, TRUTH_P50_MS, color="green", alpha=0.08)
            ax.set_title(f"RTT error, 1 connection, {mode} pings (box p25-p75, whiskers p1-p99)",
                         fontsize=9)
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out_dir / "rtt_error.png", dpi=110)
        plt.close(fig)
        written.append("rtt_error.png")

    def by_variant(metric: str, ylabel: str, title: str, filename: str, log: str) -> None:
        variants = list(dict.fromkeys(r.variant for r in rows))
        if not variants:
            return
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for i, v in enumerate(variants):
            mine = sorted((r for r in rows if r.variant == v), key=lambda r: r.n)
            pts = [(r.n, getattr(r, metric)) for r in mine if getattr(r, metric).runs]
            if not pts:
                continue
            xs = [p[0] for p in pts]
            med = [p[1].median for p in pts]
            err = [[p[1].median - p[1].low for p in pts], [p[1].high - p[1].median for p in pts]]
            ax.errorbar(xs, med, yerr=err, marker="o", capsize=3, label=v, color=f"C{i}")
        ax.set_xscale("log")
        if log == "log":
            ax.set_yscale("log")
        elif log == "symlog":
            ax.set_yscale("symlog", linthresh=1.0)
        ax.set_xlabel("connections (1 Hz each)")
        ax.set_ylabel(ylabel)
        ax.set_title(title + " — median of runs, bars min-max", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / filename, dpi=110)
        plt.close(fig)
        written.append(filename)

    by_variant("cpu_per_cycle_us", "client CPU per probe cycle (µs)", "CPU per cycle",
               "cpu_per_cycle.png", "log")
    by_variant("late_p99_ms", "schedule lateness p99 (ms)", "Lateness p99", "lateness.png",
               "symlog")
    by_variant("rtt_p99_ms", "RTT p99 (ms)", "RTT p99 vs connection count", "rtt_p99.png", "log")
    return written


# ------------------------------------------------------------------ markdown


def _table(header: Iterable[str], body: Iterable[Iterable[str]]) -> str:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def _corrected_section(cells: list[TruthCell]) -> list[str]:
    mine = [c for c in cells if c.corr is not None]
    if not mine:
        return []
    return [
        "### Truth with the emulator's timer overshoot removed, pong by pong",
        "",
        "The emulator records, for each delayed pong, how late its asyncio timer sent it "
        "(*overshoot*: 0.2-0.4 ms typical, up to ~2 ms; `GET /__emulator__/overshoots`). "
        "The delay a ping really met is D + overshoot, so the client is not to blame for "
        "the overshoot. Each client changes D in a quiet gap (just after a pong, about one "
        "interval before the next ping), so the phase's cycles and the emulator's pongs "
        "are cut at the same point; with one connection and one ping in flight, cycle i is "
        "pong i (checked against the emulator's receive timestamps; unmatched ones at phase "
        "edges are dropped and counted, never paired by guess). Error = RTT - (D + "
        "overshoot_i + floor); floor = the lowest median RTT at D=0 among the clients (no "
        "timer there: overshoot 0), same repetition and mode: every client reads the "
        "loopback floor plus its own overhead, so the lowest reading is the best estimate "
        "of the floor (the bare client's was used until the agent read below it; the "
        "targets table gives the agent's error against it too). Every cycle of the phase "
        "counts (no settle "
        "window: each sample's delay is known). p50/p99 are **pooled over repetitions**; "
        "*per rep* gives the median (min-max) of each repetition's own p50 and p99.",
        "",
        _table(
            ("mode", "D ms", "client", "floor ms", "overshoot p50/p99 ms", "signed p50 ms",
             "abs err p50 ms", "abs err p99 ms", "per rep p50 ms", "per rep p99 ms",
             "samples", "unpaired"),
            ((c.mode, f"{c.delay_ms:g}", c.kind, c.corr.floor_ms.fmt("{:.3f}"),
              f"{c.corr.overshoot_p50_ms:.3f} / {c.corr.overshoot_p99_ms:.3f}",
              f"{c.corr.signed_p50_ms:+.3f}", f"{c.corr.abs_p50_ms:.3f}",
              f"{c.corr.abs_p99_ms:.3f}", c.corr.rep_abs_p50_ms.fmt("{:.3f}"),
              c.corr.rep_abs_p99_ms.fmt("{:.3f}"), str(c.corr.samples),
              f"{c.corr.unmatched}" + (f" ({c.corr.failed_phases} phase(s) not paired)"
                                       if c.corr.failed_phases else ""))
             for c in mine if c.corr is not None),
        ),
        "",
    ]


def render(results: Results, cells: list[TruthCell], rows: list[ScaleRow],
           plots: list[str]) -> str:
    """The whole REPORT.md text."""
    m = results.machine
    plan = results.plan
    parts = [
        "# otel-genesys benchmark report",
        "",
        f"Generated by `{results.command}` ({plan['name']} mode, {plan['reps']} repetition(s)) "
        f"on {results.started}, in {results.duration_s / 60:.1f} min"
        + (f"; the scale suite's variants in the order of seed {plan['order_seed']} "
           "(`--seed` repeats it)." if "order_seed" in plan else "."),
        "",
        f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, Python "
        f"{m['python']}, {m['platform']}; load average at start {m['load_average_at_start']} "
        "(shared machine: other work ran alongside).",
        "",
        "Every cell is **median (min-max) over repetitions**; ratios and differences are taken "
        "inside one repetition (same server, minutes apart) before the median. Clients and "
        "servers are separate processes. *bare* = an aiohttp ping loop with nothing else "
        "(fixed schedule, random phase per connection, default GC); *agent* = the real "
        "`Agent` wired as `otel-genesys run` wires it (`setup_telemetry` + `gc_tune` + "
        "`make_agent`; telemetry on a worker thread, `telemetry.isolation = \"thread\"`), "
        "exporting OTLP/gRPC to a local endpoint that discards what it "
        "receives (encoding and sending included in the agent's CPU). CPU is "
        "`time.process_time()` of the client process (all threads) over the measured window.",
        "",
        "## Targets",
        "",
        _table(("target", "measured", "verdict", "note"), targets(results, cells, rows)),
        "",
    ]
    if cells:
        parts += [
            "## 1. Truth — one connection to the emulator",
            "",
            f"The emulator (separate process) delays every pong by D via "
            f"`PUT /__emulator__/faults`; pings every {plan['truth_interval_s'] * 1000:g} ms, "
            f"{plan['truth_phase_s']:g} s per D. *floor* = the bare client's median RTT at D=0 "
            "in the same repetition and mode. Error = RTT - (D + floor). The bare rows show "
            "what the emulator's own timer adds at D>0 (asyncio wakes up to ~1 ms late); "
            "*vs bare* is the agent's median/p99 minus the bare client's at the same D, "
            "which removes it on average; the next table removes it pong by pong.",
            "",
            _table(
                ("mode", "D ms", "client", "floor ms", "signed p50 ms", "abs err p50 ms",
                 "abs err p99 ms", "vs bare p50 ms", "vs bare p99 ms", "samples"),
                ((c.mode, f"{c.delay_ms:g}", c.kind, c.floor_ms.fmt("{:.3f}"),
                  c.signed_p50_ms.fmt("{:+.3f}"), c.abs_p50_ms.fmt("{:.3f}"),
                  c.abs_p99_ms.fmt("{:.3f}"),
                  "—" if c.kind == "bare" else c.vs_bare_p50_ms.fmt("{:+.3f}"),
                  "—" if c.kind == "bare" else c.vs_bare_p99_ms.fmt("{:+.3f}"), c.samples)
                 for c in cells),
            ),
            "",
        ]
        parts += _corrected_section(cells)
        if "rtt_error.png" in plots:
            parts += ["![RTT error distribution](rtt_error.png)", ""]
    if rows:
        parts += [
            "## 2-3. Overhead and scale — N connections at 1 Hz to a bare aiohttp pong server",
            "",
            f"Warm-up {plan['warmup_s']:g} s after every socket is up, then a "
            f"{plan['window_s']:g} s window ({plan['window_one_s']:g} s at one connection). "
            "*ratio* = CPU per cycle ÷ the bare client's in the same repetition. "
            "*agent, export process*: the OTel SDK in the export process that `otel-genesys "
            "run` starts by default (`telemetry.isolation = \"process\"`); its CPU and RSS "
            "growth are added to the agent's (RSS from each process's base before the first "
            "socket; the export process's fixed RSS is in *The export process's share*). "
            "*agent* (and the other agent rows) build telemetry on a "
            "worker thread of the agent's own process (`isolation = \"thread\"`). "
            "*agent, spans 10%*: `span_ratio=0.1`. *agent, export process, uvloop*: the "
            "shipped placement with the whole client on uvloop's event loop (a trial; the "
            "product runs on asyncio's). *agent, export process, OTLP/HTTP*: the shipped "
            "placement exporting over OTLP/HTTP (to a discarding HTTP endpoint) instead of "
            "gRPC. *agent, no telemetry*: no recorder at all "
            "(the agent's own cost). *agent, before*: the agent with the two scheduling "
            "optimisations undone by bench switches (every target's first probe at connect "
            "instead of staggered over the interval; CPython's default 5 ms GIL switch interval "
            "instead of 0.5 ms); *agent, 5 ms switch*: only the switch interval undone; "
            "*agent, export process, timer per alarm*, *pongs via reader* and *pickled by the "
            "shipping thread*: the shipped placement with the shared alarm clock, the pong "
            "tap or the chunked hand-off (records pickled a chunk at a time by the event "
            "loop's thread, not in batches by the shipping thread) undone; *agent, export "
            "process, nothing sent*: every chunk pickled as usual but dropped instead of "
            "sent, so the export process idles (a diagnostic: the agent's side of shipping "
            "without the export process's share of the cores); *agent, export process, "
            "not reniced*: the export process at the agent's own priority instead of "
            "`telemetry.export_nice` = 10 steps nicer; *agent, export process, pinned*: "
            "`telemetry.export_cpus` = \"1\", the export process on CPU 1 and the agent's "
            "process on the other CPUs (off by default); *agent, export process, grid 1 ms* "
            "(2 ms, 4 ms): the `stagger_grid` setting, off by default, on: targets whose "
            "offsets fall on one step of the grid share a slot and one wake-up of the loop, "
            "more targets a slot on a coarser grid; *agent, export process, wake-ups as "
            "before*: records shipped to the export process every second instead of every "
            "5 s (its main thread waking as often), and the loop's coarse stall tick on a "
            "period of its own instead of just after a ping; *agent, export process, stamped "
            "at read*: the agent on asyncio's plain event loop, so a pong's arrival is read "
            "in the callback that parses it, not taken from the kernel's receive stamp or "
            "the loop's wake-up that reported its socket; *agent, export process, stamped "
            "at wake-up*: the stamping loop without the kernel's receive stamps, so a "
            "pong's arrival is the loop's wake-up (agent/wakeclock.py) — see "
            "*Optimisations* below and docs/performance.md. *wake-ups/s*: how often a "
            "thread of the client (and of its export process) went to sleep, a second (the "
            "kernel's voluntary context switches, summed over threads); at a few "
            "connections each wake-up finds the caches cold and costs more than the work "
            "it wakes for.",
            "",
            "### CPU",
            "",
            _table(
                ("N", "client", "CPU/cycle µs", "ratio vs bare", "client CPU %", "server CPU %",
                 "wake-ups/s"),
                ((f"{r.n:,}", r.variant, r.cpu_per_cycle_us.fmt("{:.0f}"),
                  "—" if r.variant == "bare" else r.ratio_vs_bare.fmt("{:.2f}"),
                  r.cpu_pct.fmt("{:.1f}"), r.server_cpu_pct.fmt("{:.0f}"),
                  r.wakeups_per_s.fmt("{:.1f}" if r.n == 1 else "{:.0f}"))
                 for r in sorted(rows, key=lambda r: (r.n, r.variant != "bare"))),
            ),
            "",
            "### Latency, lateness, memory, losses",
            "",
            _table(
                ("N", "client", "RTT p50 ms", "RTT p99 ms", "p99 - bare ms", "lateness p50 ms",
                 "lateness p99 ms", "RSS/conn KiB", "RSS - bare KiB", "timeouts", "lost",
                 "degraded share", "connect s", "server GC max ms", "failed runs"),
                ((f"{r.n:,}", r.variant, r.rtt_p50_ms.fmt("{:.2f}"), r.rtt_p99_ms.fmt("{:.2f}"),
                  "—" if r.variant == "bare" else r.rtt_p99_vs_bare_ms.fmt("{:+.2f}"),
                  r.late_p50_ms.fmt("{:.2f}"), r.late_p99_ms.fmt("{:.2f}"),
                  r.rss_per_conn_kib.fmt("{:.1f}"),
                  "—" if r.variant == "bare" else r.rss_above_bare_kib.fmt("{:+.1f}"),
                  r.timeouts.fmt("{:.0f}"), r.lost.fmt("{:.0f}"),
                  r.degraded_share.fmt("{:.1%}"), r.connect_s.fmt("{:.1f}"),
                  r.server_gc_max_ms.fmt("{:.1f}"), r.errors)
                 for r in sorted(rows, key=lambda r: (r.n, r.variant != "bare"))),
            ),
            "",
            "*degraded share* = OK samples the agent itself flagged `degraded` (loop lag or GC "
            "over the ping→pong window above `lag_limit`, 1 ms by default — issue 11). "
            "*lost* = sent - ok - timeout - aborted plus outcomes never delivered to the "
            "callback; the pong server's own ping count is compared in raw.json "
            "(`server_pings`). *server GC max* = the pong server's longest garbage collection "
            "during that client's run (it holds back every pong at once; raw.json also has "
            "their count and total, `server_gc_*`). Lateness for *websockets* is not defined "
            "(its keepalive sleeps `ping_interval - latency`, no schedule).",
            "",
        ]
        parts += _export_split(results.scale)
        parts += _loop_waits(results.scale)
        parts += _optimisations(rows, runs_by_rep(results.scale))
        for name, alt in (("cpu_per_cycle.png", "CPU per cycle vs connections"),
                          ("lateness.png", "Lateness p99 vs connections"),
                          ("rtt_p99.png", "RTT p99 vs connections")):
            if name in plots:
                parts += [f"![{alt}]({name})", ""]
    parts += [
        "## 4. Soak",
        "",
        "One million probe cycles with RSS sampled after warm-up: "
        + ("see [bench/soak.py](../soak.py) (run separately; too long for this harness)."
           if (Path(__file__).parent / "soak.py").exists()
           else "bench/soak.py (written separately) was not present when this report was made."),
        "",
        "## 5. Peer — the websockets library's keepalive `latency`",
        "",
        "Accuracy: the *websockets* rows of the truth table (control frames, same emulator, "
        "same D). CPU: the *websockets* rows of the CPU table (keepalive `ping_interval=1`, "
        "`latency` read on every pong through a subclass hook that appends one number, as "
        "our callback does).",
        "",
        "## 6. Instrumentation overhead",
        "",
    ]
    inst = results.instrumentation
    if inst and inst.get("output", "").strip():
        parts += [f"Output of `python -m bench.instrumentation_overhead` ({inst.get('status')}; "
                  "it exits 1 when the ratio is under 0.9):", "", "```",
                  inst["output"].strip(), "```", ""]
    elif inst:
        parts += [f"bench/instrumentation_overhead.py: {inst.get('status')}.", ""]
        if inst.get("stderr"):
            parts += ["```", inst["stderr"].strip()[-1200:], "```", ""]
    else:
        parts += ["Not run in this mode (full mode runs `bench/instrumentation_overhead.py` "
                  "when it exists).", ""]
    prof = results.profile
    if prof and "error" not in prof:
        parts += [
            f"## Profile — py-spy, agent with shipped defaults at {prof['connections']:,} "
            "connections",
            "",
            f"{prof['samples']} samples of non-idle threads (shares of the process's CPU).",
            "",
            _table(("thread", "share"), ((t, f"{s:.1%}") for t, s in prof["threads"][:8])),
            "",
            _table(("slice (inclusive)", "share"), ((g, f"{s:.1%}") for g, s in prof["groups"])),
            "",
            _table(("function (self time)", "share"),
                   ((f"`{f}`", f"{s:.1%}") for f, s in prof["self"][:12])),
            "",
        ]
    elif prof:
        parts += ["## Profile", "", f"Not available: {prof['error']}", ""]
    received = m.get("otlp_received") or {}
    if received:
        parts += ["OTLP endpoint received (requests, bytes): "
                  + ", ".join(f"{k} {v[0]} / {v[1]:,}" for k, v in received.items()), ""]
    parts += ["Raw data: [raw.json](raw.json).", ""]
    return "\n".join(parts)


def write_report(results: Results, out_dir: Path) -> Path:
    """Compute, plot and write ``REPORT.md``; returns its path."""
    cells = truth_cells(results.truth)
    rows = scale_rows(results.scale)
    for name in PLOTS:
        (out_dir / name).unlink(missing_ok=True)
    plots = _plots(cells, rows, out_dir)
    path = out_dir / "REPORT.md"
    path.write_text(render(results, cells, rows, plots))
    return path
