"""The benchmark harness must keep working: a smoke run end to end, plus its arithmetic."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench._stats import Spread, quantile
from bench.harness import Plan, Results, run
from bench.profile import summarise
from bench.report import scale_rows, targets, truth_cells

pytest.importorskip("matplotlib")


def test_bench_quantile_and_spread() -> None:
    assert quantile([4, 1, 3, 2], 0.0) == 1
    assert quantile([4, 1, 3, 2], 1.0) == 4
    assert quantile(list(range(101)), 0.99) == 99
    s = Spread.of([3.0, float("nan"), 1.0, 2.0])
    assert (s.median, s.low, s.high, s.runs) == (2.0, 1.0, 3.0, 3)
    assert Spread.of([]).fmt() == "n/a"


def _scale(rep: int, variant: str, cpu_s: float, rtt_p99_ns: int) -> dict[str, Any]:
    return {
        "rep": rep, "variant": variant, "n": 100, "server_pings": 1000, "cycles": 1000,
        "cpu_s": cpu_s, "window_s": 10.0, "rss_base": 0, "rss_steady": 100 * 1024 * 10,
        "rtt": {"p50": 100_000, "p99": rtt_p99_ns}, "lateness": {"p50": 0, "p99": 1_000_000},
        "timeouts": 0, "ok": 1000, "degraded": 10 if variant == "agent" else 0,
        "totals": {"sent": 1000, "ok": 1000, "timeout": 0, "aborted": 0, "lost": 0,
                   "unseen": 0} if variant == "agent" else None,
    }


def test_bench_ratios_are_taken_within_a_repetition() -> None:
    # Rep 0 is a slow machine moment for both clients, rep 1 a fast one: the ratio is 2.0
    # in both, whereas mixing repetitions would give 0.5 or 8.0.
    records = [
        _scale(0, "bare", 0.4, 500_000), _scale(0, "agent", 0.8, 700_000),
        _scale(1, "bare", 0.1, 300_000), _scale(1, "agent", 0.2, 2_300_000),
    ]
    rows = {r.variant: r for r in scale_rows(records)}
    agent = rows["agent"]
    assert agent.ratio_vs_bare.median == pytest.approx(2.0)
    assert (agent.ratio_vs_bare.low, agent.ratio_vs_bare.high) == pytest.approx((2.0, 2.0))
    assert agent.rtt_p99_vs_bare_ms.high == pytest.approx(2.0)
    assert agent.degraded_share.median == pytest.approx(0.01)
    results = Results(plan={}, machine={}, started="", command="")
    verdicts = {t[0]: t[2] for t in targets(results, [], list(rows.values()))}
    assert verdicts["2. Overhead at 100: agent CPU per cycle ÷ bare (defaults) ≤ 1.3"] != "holds"
    assert verdicts["3. Scale at 100: zero probes lost"] == "holds"


def test_bench_one_connection_note_names_each_placements_hand_off() -> None:
    from bench.report import ISOLATED

    records = [
        {**_scale(0, variant, cpu, 500_000), "n": 1, "cycles": 10}
        for variant, cpu in (("bare", 0.005), ("agent", 0.02), (ISOLATED, 0.02))
    ]
    results = Results(plan={}, machine={}, started="", command="")
    notes = {t[0]: t[3] for t in targets(results, [], scale_rows(records))}
    thread = notes["2. Overhead at 1: agent CPU per cycle ÷ bare (defaults) ≤ 1.3"]
    isolated = notes["2. Overhead at 1: agent CPU per cycle ÷ bare (defaults) ≤ 1.3 "
                     "[export process]"]
    assert "telemetry thread woken by each record" in thread
    assert "shipped to the export process every 5 s" not in thread
    assert "shipped to the export process every 5 s" in isolated
    assert "woken by each record" not in isolated


def test_bench_loop_wait_table_is_per_second_of_window() -> None:
    from bench.report import _loop_waits

    bare = _scale(0, "bare", 0.4, 500_000)
    agent = {**_scale(0, "agent", 0.8, 700_000), "loop_cpu_s": 6.0, "loop_runqueue_s": 0.5}
    other = {**_scale(1, "agent", 0.8, 700_000), "loop_cpu_s": 7.0, "loop_runqueue_s": 1.5}
    lines = _loop_waits([bare, agent, other])
    # Only runs that read the loop thread are tabled: 60-70 % of a core, 50-150 ms/s.
    rows = [line for line in "\n".join(lines).splitlines() if line.startswith("| 100 |")]
    assert rows == ["| 100 | agent | 65 (60-70) | 100 (50-150) | 1.0 |"]
    assert _loop_waits([bare]) == []


def test_bench_truth_error_uses_the_floor_of_the_same_repetition() -> None:
    def phase(delay: float, rtts_ms: list[float]) -> dict[str, Any]:
        return {"delay_ms": delay, "rtt_ns": [int(x * 1e6) for x in rtts_ms]}

    records = [
        {"rep": 0, "mode": "control", "kind": "bare",
         "phases": [phase(0, [0.3] * 5), phase(5, [5.5] * 5)]},
        {"rep": 0, "mode": "control", "kind": "agent",
         "phases": [phase(0, [0.32] * 5), phase(5, [5.36] * 5)]},
    ]
    cells = {(c.kind, c.delay_ms): c for c in truth_cells(records)}
    agent5 = cells[("agent", 5.0)]
    assert agent5.floor_ms.median == pytest.approx(0.3)
    assert agent5.signed_p50_ms.median == pytest.approx(0.06)
    assert agent5.vs_bare_p50_ms.median == pytest.approx(-0.14)


def test_bench_profile_summary_groups_and_threads() -> None:
    raw = (
        "thread (1): MainThread;run (a.py:1);ConnectionMonitor._probe_loop (m.py:5) 6\n"
        "thread (2): otel-genesys-telemetry;_Materializer._outcome (r.py:3);"
        "ProbeMetrics.record (i.py:9) 3\n"
        "thread (3): ThreadPoolExecutor-0_1;encode_spans (t.py:2) 1\n"
    )
    s = summarise(raw)
    assert s["samples"] == 10
    assert dict(s["threads"]) == {"MainThread": 0.6, "otel-genesys-telemetry": 0.3,
                                  "ThreadPoolExecutor": 0.1}
    groups = dict(s["groups"])
    assert groups["probe metrics: in-house aggregation (per probe)"] == pytest.approx(0.3)
    assert groups["probe loop: ConnectionMonitor._probe_loop"] == pytest.approx(0.6)
    assert groups["OTLP encode: SDK spans"] == pytest.approx(0.1)


def test_bench_harness_smoke_run_writes_report_and_plots(tmp_path: Path) -> None:
    run(replace(Plan.smoke(), order_seed=917), tmp_path, command="pytest smoke")
    report = (tmp_path / "REPORT.md").read_text()
    assert "in the order of seed 917 (`--seed` repeats it)" in report
    for heading in ("## Targets", "## 1. Truth", "### CPU", "## 5. Peer"):
        assert heading in report
    for name in ("rtt_error.png", "cpu_per_cycle.png", "lateness.png", "rtt_p99.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    raw = json.loads((tmp_path / "raw.json").read_text())
    scale = {r["variant"]: r for r in raw["scale"]}
    assert "error" not in scale["agent"], scale["agent"].get("error")
    assert scale["agent"]["cycles"] > 0 and scale["bare"]["cycles"] > 0
    assert scale["agent"]["totals"]["lost"] == 0
    # Wake-ups are counted per process (the loop sleeps between pings at 3 connections).
    assert scale["agent"]["wakeups"] > 0 and scale["bare"]["wakeups"] > 0
    assert scale["agent, export process"]["export_wakeups"] > 0  # gRPC's threads at least
    assert "wake-ups/s" in report
    assert scale["agent"]["totals"]["sent"] == scale["agent"]["server_pings"]
    # The export process's CPU is measured and counted with the agent's.
    isolated = scale["agent, export process"]
    assert "error" not in isolated, isolated.get("error")
    assert isolated["totals"]["lost"] == 0 and isolated["cycles"] > 0
    # Read per thread in ns: the child's share is never 0 (gRPC's threads run even
    # when no shipment lands in a smoke window: records leave every 5 s); the OS's
    # 10 ms ticks (the fallback) may read 0 in a smoke window.
    assert isolated["export_cpu_read"] in ("schedstat", "ticks")
    if isolated["export_cpu_read"] == "schedstat":
        assert 0 < isolated["export_cpu_s"] <= isolated["cpu_s"]
        # Split by thread: Python's threads (the recorder's) and gRPC's own.
        threads = isolated["export_cpu_by_thread"]
        assert "python" in threads and len(threads) > 1
        assert sum(threads.values()) == pytest.approx(isolated["export_cpu_s"])
    else:
        assert 0 <= isolated["export_cpu_s"] <= isolated["cpu_s"]
    assert isolated["export_pid"] and isolated["export_rss"] > 0
    # Its RSS at ready is its base, counted apart from the agent's growth.
    assert 0 < isolated["export_rss_base"] < isolated["rss_base"]
    agent_truth = next(r for r in raw["truth"] if r["kind"] == "agent")
    delayed = next(p for p in agent_truth["phases"] if p["delay_ms"] == 5.0)
    assert delayed["rtt_ns"], "no samples in the 5 ms phase"
    # The injected delay really reached the agent's numbers.
    assert min(delayed["rtt_ns"]) >= 5_000_000
    # The truth suite also measures the shipped placement: the agent with its export
    # process, with a verdict of its own.
    shipped = next(r for r in raw["truth"] if r["kind"] == "agent, export process")
    assert "error" not in shipped, shipped.get("error")
    assert shipped["export_pid"]
    delayed = next(p for p in shipped["phases"] if p["delay_ms"] == 5.0)
    assert delayed["rtt_ns"] and min(delayed["rtt_ns"]) >= 5_000_000
    assert "p99 ≤ 0.5 ms [export process] |" in report
    # Every cycle of the phase met the emulator's record of its own pong.
    assert delayed["pairing"] == "ok", delayed
    assert delayed["paired_rtt_ns"] and len(delayed["overshoot_ns"]) == len(
        delayed["paired_rtt_ns"])
    assert all(o >= 0 for o in delayed["overshoot_ns"])
    assert all(r >= 5_000_000 + o for r, o in zip(delayed["paired_rtt_ns"],
                                                   delayed["overshoot_ns"], strict=True))
    assert "### Truth with the emulator's timer overshoot removed" in report
    assert "| 1. Truth, 1 connection: agent RTT - (D + overshoot + floor)" in report
    assert "| control | 5 | agent |" in report.split("overshoot removed, pong by pong")[1]


def test_bench_optimisation_ratio_is_after_over_before_per_repetition() -> None:
    from bench.report import optimisation_rows, runs_by_rep

    records = [
        {**_scale(0, "agent", 0.2, 2_000_000), "variant": "agent, before"},
        _scale(0, "agent", 0.2, 1_000_000),
        {**_scale(1, "agent", 0.1, 8_000_000), "variant": "agent, before"},
        _scale(1, "agent", 0.1, 2_000_000),
    ]
    rows = {label: (b, a, r) for _, _, label, b, a, r in optimisation_rows(runs_by_rep(records))}
    before, after, ratio = rows["RTT p99 ms"]
    assert (before.low, before.high) == pytest.approx((2.0, 8.0))
    assert (after.low, after.high) == pytest.approx((1.0, 2.0))
    assert (ratio.low, ratio.high) == pytest.approx((0.25, 0.5))


def test_bench_peer_cpu_is_judged_for_both_placements_and_shown_for_measurement_alone() -> None:
    # websockets 2.0 s, the thread placement 3.0 s, the export process 1.5 s, the agent
    # without telemetry 1.8 s, for the same cycles: one verdict per placement, and the
    # measurement-alone row reported beside them.
    records = [
        _scale(0, "bare", 1.0, 500_000), _scale(0, "websockets", 2.0, 500_000),
        _scale(0, "agent", 3.0, 500_000), _scale(0, "agent, export process", 1.5, 500_000),
        _scale(0, "agent, no telemetry", 1.8, 500_000),
    ]
    results = Results(plan={}, machine={}, started="", command="")
    rows = {t[0]: t for t in targets(results, [], scale_rows(records))}
    thread = rows["5. Peer CPU per cycle at 100: ours ≤ websockets"]
    isolated = rows["5. Peer CPU per cycle at 100: ours ≤ websockets [export process]"]
    alone = rows["5. Peer CPU per cycle at 100, measurement alone (reported)"]
    assert thread[2] != "holds" and "3000 µs vs websockets 2000 µs" in thread[1]
    assert isolated[2] == "holds" and "1500 µs" in isolated[1]
    assert alone[2] == "reported" and "agent, no telemetry 1800 µs" in alone[1]
