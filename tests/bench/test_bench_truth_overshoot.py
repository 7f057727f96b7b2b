"""The truth suite's pong-by-pong overshoot pairing and the corrected error, on synthetic data."""

from __future__ import annotations

from typing import Any

import pytest

from bench._client import pair_phase
from bench.harness import Results
from bench.report import targets, truth_cells

MS = 1_000_000
INTERVAL_NS = 100 * MS


def _cycles(n: int, rtt_ms: list[float] | None = None, start_ns: int = 10**12
            ) -> list[tuple[int, int | None]]:
    rtts = rtt_ms or [5.5] * n
    return [(start_ns + i * INTERVAL_NS, int(rtts[i] * MS)) for i in range(n)]


def _entry(cycle: tuple[int, int | None], overshoot_ms: float, delay_ms: float = 5.0
           ) -> tuple[float, float, float]:
    # The emulator read the ping 50 µs after it was sent (same monotonic clock).
    return (overshoot_ms, delay_ms, (cycle[0] + 50_000) / 1e9)


def test_bench_pairing_is_in_order_when_counts_match() -> None:
    cycles = _cycles(4, [5.3, 5.9, 5.4, 6.2])
    overs = [0.2, 0.8, 0.3, 1.1]
    out = pair_phase(5.0, cycles, [_entry(c, o) for c, o in zip(cycles, overs, strict=True)])
    assert out["pairing"] == "ok"
    assert out["paired_rtt_ns"] == [c[1] for c in cycles]
    assert out["overshoot_ns"] == [round(o * MS) for o in overs]
    assert (out["unmatched_cycles"], out["unmatched_pongs"], out["foreign_pongs"]) == (0, 0, 0)


def test_bench_pairing_trims_unmatched_edges_using_timestamps() -> None:
    cycles = _cycles(6)
    overs = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    entries = [_entry(c, o) for c, o in zip(cycles, overs, strict=True)]
    # The emulator's list starts one pong later (its first pong was cut at the edge)
    # and has one extra at the end (a ping whose cycle the client did not see finish).
    extra = _entry((cycles[-1][0] + INTERVAL_NS, None), 9.9)
    out = pair_phase(5.0, cycles, [*entries[1:], extra])
    assert out["pairing"] == "edges trimmed"
    assert (out["unmatched_cycles"], out["unmatched_pongs"]) == (1, 1)
    # Cycle i met overshoot i: the order was shifted, not paired blindly from the start.
    assert out["overshoot_ns"] == [round(o * MS) for o in overs[1:]]
    assert out["paired_rtt_ns"] == [c[1] for c in cycles[1:]]


def test_bench_pairing_refuses_to_guess() -> None:
    cycles = _cycles(5)
    # Timestamps from another clock: nothing lines up, and the counts differ.
    entries = [(0.3, 5.0, 12.0 + i * 0.1) for i in range(4)]
    out = pair_phase(5.0, cycles, entries)
    assert out["pairing"].startswith("counts differ")
    assert out["paired_rtt_ns"] == [] and out["overshoot_ns"] == []
    assert (out["unmatched_cycles"], out["unmatched_pongs"]) == (5, 4)


def test_bench_pairing_keeps_order_across_a_timeout_and_drops_foreign_pongs() -> None:
    cycles = _cycles(4)
    cycles[1] = (cycles[1][0], None)  # timed out: its pong exists but is not a sample
    overs = [0.1, 0.2, 0.3, 0.4]
    entries = [_entry(c, o) for c, o in zip(cycles, overs, strict=True)]
    # A pong delayed with the previous phase's D sent inside this span is not paired.
    foreign = (0.7, 50.0, (cycles[0][0] - 30 * MS) / 1e9)
    out = pair_phase(5.0, cycles, [foreign, *entries])
    assert out["foreign_pongs"] == 1
    assert out["overshoot_ns"] == [round(o * MS) for o in (0.1, 0.3, 0.4)]
    assert len(out["paired_rtt_ns"]) == 3


def test_bench_pairing_at_zero_delay() -> None:
    cycles = _cycles(3, [0.3, 0.4, 0.35])
    out = pair_phase(0.0, cycles, [])
    assert out["pairing"] == "ok"
    assert out["overshoot_ns"] == [0, 0, 0]
    assert len(out["paired_rtt_ns"]) == 3
    # A timer-sent pong at D=0 cannot be explained: nothing is paired.
    bad = pair_phase(0.0, cycles, [_entry(cycles[0], 0.2, delay_ms=0.0)])
    assert bad["pairing"] == "pongs recorded at D=0" and bad["paired_rtt_ns"] == []


def _phase(delay: float, rtts_ms: list[float], overs_ms: list[float]) -> dict[str, Any]:
    return {"delay_ms": delay, "rtt_ns": [int(x * MS) for x in rtts_ms],
            "pairing": "ok", "paired_rtt_ns": [int(x * MS) for x in rtts_ms],
            "overshoot_ns": [int(o * MS) for o in overs_ms], "unmatched_cycles": 0,
            "unmatched_pongs": 0, "foreign_pongs": 0}


def test_bench_corrected_error_subtracts_each_pongs_overshoot() -> None:
    overs = [0.25, 1.8, 0.3, 0.4, 0.25]
    records = []
    for rep, floor in ((0, 0.30), (1, 0.50)):
        # The bare client's floor differs per repetition; the agent is 0.02 ms slower than
        # D + overshoot + floor on every pong: that is its own error.
        records += [
            {"rep": rep, "mode": "control", "kind": "bare",
             "phases": [_phase(0, [floor] * 5, [0] * 5),
                        _phase(5, [5 + o + floor for o in overs], overs)]},
            {"rep": rep, "mode": "control", "kind": "agent",
             "phases": [_phase(0, [floor + 0.02] * 5, [0] * 5),
                        _phase(5, [5 + o + floor + 0.02 for o in overs], overs)]},
        ]
    cells = {(c.kind, c.delay_ms): c for c in truth_cells(records)}
    agent5 = cells[("agent", 5.0)]
    assert agent5.corr is not None
    assert (agent5.corr.floor_ms.low, agent5.corr.floor_ms.high) == pytest.approx((0.3, 0.5))
    assert agent5.corr.samples == 10  # pooled over both repetitions
    assert agent5.corr.abs_p50_ms == pytest.approx(0.02, abs=1e-5)
    assert agent5.corr.abs_p99_ms == pytest.approx(0.02, abs=1e-5)
    assert agent5.corr.overshoot_p99_ms == pytest.approx(1.8)
    # Uncorrected, the 1.8 ms overshoot lands in the agent's error.
    assert agent5.abs_p99_ms.median == pytest.approx(1.82, abs=1e-5)
    assert cells[("bare", 5.0)].corr is not None
    assert cells[("bare", 5.0)].corr.abs_p99_ms == pytest.approx(0.0, abs=1e-5)
    rows = {t[0]: t for t in targets(Results(plan={}, machine={}, started="", command=""),
                                      list(cells.values()), [])}
    corrected = next(t for name, t in rows.items() if "D + overshoot + floor" in name)
    assert corrected[2] == "holds"
    assert "20 samples" in corrected[1]
    uncorrected = next(t for name, t in rows.items() if "uncorrected" in name)
    assert uncorrected[2] == "reported"


def test_bench_corrected_verdict_fails_on_the_agents_own_error() -> None:
    def recs(extra_ms: float) -> list[dict[str, Any]]:
        overs = [0.3] * 10
        return [
            {"rep": 0, "mode": "control", "kind": "bare",
             "phases": [_phase(0, [0.3] * 10, [0] * 10)]},
            {"rep": 0, "mode": "control", "kind": "agent",
             "phases": [_phase(0, [0.3] * 10, [0] * 10),
                        _phase(5, [5.6] * 9 + [5.6 + extra_ms], overs)]},
        ]

    results = Results(plan={}, machine={}, started="", command="")
    for extra, verdict in ((0.0, "holds"), (0.8, "**does not hold**")):
        rows = targets(results, truth_cells(recs(extra)), [])
        row = next(t for t in rows if "D + overshoot + floor" in t[0])
        assert row[2] == verdict, (extra, row)


def test_bench_floor_is_the_lowest_client_reading_at_d0() -> None:
    """A client whose pong path is shorter than the bare loop's reads below the bare
    client's floor at every D: the loopback floor is the lowest D=0 reading, and the
    error against the bare client's floor stays in the report as a reported row."""
    overs = [0.25, 0.4, 0.3]
    records = [
        {"rep": 0, "mode": "control", "kind": "bare",
         "phases": [_phase(0, [0.50] * 3, [0] * 3),
                    _phase(5, [5 + o + 0.50 for o in overs], overs)]},
        {"rep": 0, "mode": "control", "kind": "agent",
         "phases": [_phase(0, [0.45] * 3, [0] * 3),
                    _phase(5, [5 + o + 0.45 for o in overs], overs)]},
    ]  # fmt: skip
    cells = {(c.kind, c.delay_ms): c for c in truth_cells(records)}
    agent5, bare5 = cells[("agent", 5.0)], cells[("bare", 5.0)]
    assert agent5.corr is not None and bare5.corr is not None
    assert agent5.corr.floor_ms.median == pytest.approx(0.45)
    assert agent5.corr.abs_p50_ms == pytest.approx(0.0, abs=1e-5)
    assert bare5.corr.signed_p50_ms == pytest.approx(0.05, abs=1e-5)  # its own overhead
    assert agent5.corr_bare is not None
    assert agent5.corr_bare.signed_p50_ms == pytest.approx(-0.05, abs=1e-5)
    rows = {t[0]: t for t in targets(Results(plan={}, machine={}, started="", command=""),
                                      list(cells.values()), [])}
    against_bare = next(t for name, t in rows.items() if "bare client's floor" in name)
    assert against_bare[2] == "reported" and "signed -0.050 ms" in against_bare[1]
