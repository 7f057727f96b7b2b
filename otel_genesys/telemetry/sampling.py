"""Which probe cycles get a span. Metrics always see 100 % of probes.

Anomalous cycles (timeout, aborted, any threshold breach, degraded confidence)
always get a span: they are the ones an operator opens a trace for. Normal
cycles are kept at ``span_ratio`` by a deterministic accumulator rather than
a random draw, so ``0.1`` keeps exactly every tenth normal cycle and tests
are exact.
"""

from __future__ import annotations

from otel_genesys.core.outcome import Confidence, Outcome, ProbeOutcome


def is_anomalous(outcome: ProbeOutcome) -> bool:
    """True when the cycle must always be traced."""
    return (
        outcome.outcome is not Outcome.OK
        or bool(outcome.breaches)
        or outcome.confidence is Confidence.DEGRADED
    )


class SpanSampler:
    """Keeps every anomaly and a deterministic ``ratio`` share of normal cycles.

    >>> s = SpanSampler(0.25)
    >>> [s.ratio_keep() for _ in range(8)]
    [False, False, False, True, False, False, False, True]

    Not thread-safe: only the telemetry worker calls it.
    """

    def __init__(self, ratio: float) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"span ratio must be within 0..1, not {ratio}")
        self.ratio = ratio
        self._credit = 0.0

    def ratio_keep(self) -> bool:
        """Decide for one normal cycle."""
        if self.ratio >= 1.0:
            return True
        self._credit += self.ratio
        # The small epsilon keeps ratios like 0.1 from drifting below 1.0 after ten adds.
        if self._credit >= 1.0 - 1e-9:
            self._credit -= 1.0
            return True
        return False

    def keep(self, outcome: ProbeOutcome) -> bool:
        """Decide whether ``outcome`` becomes a span."""
        return is_anomalous(outcome) or self.ratio_keep()
