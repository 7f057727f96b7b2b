"""bench.telemetry_cost: the SDK path and the recorder's own, side by side."""

from __future__ import annotations

from bench.telemetry_cost import measure


def test_telemetry_cost_runs_and_the_own_path_is_cheaper() -> None:
    result = measure(targets=40, rounds=1)
    assert result["probes"] == 120 and result["points"] > 0
    # Ratios taken in one process: the in-house paths are many times cheaper, so a
    # ratio this low would mean one of them fell back to the SDK's general path.
    assert result["ratio_metrics"] > 3
    assert result["ratio_span"] > 3
    assert result["ratio_metric_encode"] > 1.5
    # The outcome as a named tuple is built and unpickled in C: a ratio near 1 would
    # mean it went back through a Python constructor.
    assert result["ratio_outcome_build"] > 1.5
    assert result["ratio_outcome_unpickle"] > 1.5
    assert result["recorder_us_per_outcome"] > 0
    assert result["state_kib_per_target"] > 0
