"""Threshold matrix: which breaches, and consecutive counts."""

from __future__ import annotations

import pytest

from otel_genesys.core.outcome import Breach
from otel_genesys.core.thresholds import ThresholdMatrix


def test_within_limits_no_breach() -> None:
    m = ThresholdMatrix(300, 50)
    assert m.judge_sample(300, 50) == ()  # limits are inclusive


def test_latency_and_jitter_streaks() -> None:
    m = ThresholdMatrix(300, 50)
    assert m.judge_sample(301, None) == (Breach("latency", 301, 300, 1),)
    assert m.judge_sample(400, 99) == (
        Breach("latency", 400, 300, 2),
        Breach("jitter", 99, 50, 1),
    )
    assert m.judge_sample(100, 300) == (Breach("jitter", 300, 50, 2),)
    assert m.latency_streak == 0
    assert m.judge_sample(350, 250) == (
        Breach("latency", 350, 300, 1),
        Breach("jitter", 250, 50, 3),
    )


def test_timeouts_have_their_own_streak_and_reset_the_others() -> None:
    m = ThresholdMatrix(300, 50)
    m.judge_sample(900, 600)
    assert m.judge_timeout(1_200, 1_000) == (Breach("timeout", 1_200, 1_000, 1),)
    assert m.judge_timeout(1_000, 1_000)[0].consecutive == 2
    assert (m.latency_streak, m.jitter_streak) == (0, 0)
    assert m.judge_sample(900, None) == (Breach("latency", 900, 300, 1),)
    assert m.timeout_streak == 0


def test_invalid_limits() -> None:
    with pytest.raises(ValueError):
        ThresholdMatrix(0, 1)
