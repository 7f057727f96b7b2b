"""The threshold matrix: which limits one probe broke, and how many in a row.

Three thresholds, each with its own streak:

======== ============================== ==================================
name     breached when                  ``value_ns`` / ``limit_ns``
======== ============================== ==================================
latency  an OK probe's RTT > max        RTT / max latency
jitter   an OK probe's jitter > max     jitter / max jitter
timeout  the probe timed out            time waited / the probe's timeout
======== ============================== ==================================

A streak counts judged probes in a row that breached that threshold; any
judged probe that did not breach it resets it to zero (a timeout resets the
latency and jitter streaks; an OK probe resets the timeout streak; an OK
probe without a jitter value, i.e. the first one, resets the jitter streak).
Probes that are not judged (aborted, or degraded under the ``exclude``
policy) leave every streak untouched. ``Breach.consecutive`` includes the
probe it is attached to, so ``consecutive == 3`` means "third in a row".
"""

from __future__ import annotations

from otel_genesys.core.outcome import Breach

LATENCY = "latency"
JITTER = "jitter"
TIMEOUT = "timeout"

NO_BREACHES: tuple[Breach, ...] = ()


class ThresholdMatrix:
    """Per-probe latency/jitter/timeout breaches with consecutive counts.

    >>> m = ThresholdMatrix(max_latency_ns=300, max_jitter_ns=50)
    >>> m.judge_sample(350, None)[0].consecutive
    1
    >>> [(b.threshold, b.consecutive) for b in m.judge_sample(400, 50)]
    [('latency', 2)]
    >>> m.judge_timeout(1_000, 1_000)[0].threshold, m.latency_streak
    ('timeout', 0)
    """

    __slots__ = (
        "jitter_streak",
        "latency_streak",
        "max_jitter_ns",
        "max_latency_ns",
        "timeout_streak",
    )

    def __init__(self, max_latency_ns: int, max_jitter_ns: int) -> None:
        if max_latency_ns <= 0 or max_jitter_ns <= 0:
            raise ValueError("latency and jitter limits must be positive")
        self.max_latency_ns = max_latency_ns
        self.max_jitter_ns = max_jitter_ns
        self.latency_streak = 0
        self.jitter_streak = 0
        self.timeout_streak = 0

    def judge_sample(self, rtt_ns: int, jitter_ns: int | None) -> tuple[Breach, ...]:
        """Judge an answered probe; return its breaches (often the empty tuple)."""
        self.timeout_streak = 0
        latency_hit = rtt_ns > self.max_latency_ns
        jitter_hit = jitter_ns is not None and jitter_ns > self.max_jitter_ns
        self.latency_streak = self.latency_streak + 1 if latency_hit else 0
        self.jitter_streak = self.jitter_streak + 1 if jitter_hit else 0
        if not latency_hit and not jitter_hit:
            return NO_BREACHES
        out: list[Breach] = []
        if latency_hit:
            out.append(Breach(LATENCY, rtt_ns, self.max_latency_ns, self.latency_streak))
        if jitter_hit and jitter_ns is not None:
            out.append(Breach(JITTER, jitter_ns, self.max_jitter_ns, self.jitter_streak))
        return tuple(out)

    def judge_timeout(self, waited_ns: int, timeout_ns: int) -> tuple[Breach, ...]:
        """Judge a probe that timed out after ``waited_ns`` (its limit: ``timeout_ns``)."""
        self.latency_streak = 0
        self.jitter_streak = 0
        self.timeout_streak += 1
        return (Breach(TIMEOUT, waited_ns, timeout_ns, self.timeout_streak),)
