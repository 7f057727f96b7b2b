"""Adaptive probe timeout after RFC 6298 (TCP's retransmission timer).

Per sample ``R`` (integer nanoseconds):

* first sample: ``SRTT = R``, ``RTTVAR = R / 2``;
* later: ``RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|`` (with the *old* SRTT), then
  ``SRTT = 7/8 SRTT + 1/8 R``;
* ``RTO = SRTT + max(G, 4 * RTTVAR)`` with ``G = 1 ms`` (clock granularity),
  clamped to ``[min, max]``.

Before the first sample the timeout is ``initial`` (clamped). Each timeout
doubles the current RTO (clamped to ``max``); the next sample that is fed in
recomputes it from SRTT and RTTVAR, which ends the backoff. Karn's rule is
the caller's job: samples whose ping cannot be identified with certainty are
simply not fed (see ``ProbeSession``). With ``fixed_ns`` set the timeout is
that constant and neither samples nor timeouts move it.
"""

from __future__ import annotations

GRANULARITY_NS = 1_000_000
"""RFC 6298's ``G``: keeps RTO above SRTT even when the variance is ~0."""


class RtoEstimator:
    """RFC 6298 SRTT/RTTVAR/RTO in integer nanoseconds.

    >>> rto = RtoEstimator(initial_ns=1_000_000_000, min_ns=200_000_000, max_ns=10**10)
    >>> rto.rto_ns
    1000000000
    >>> rto.on_sample(100_000_000)   # SRTT 100 ms, RTTVAR 50 ms -> 300 ms
    >>> rto.rto_ns
    300000000
    >>> rto.on_timeout(); rto.rto_ns
    600000000
    """

    __slots__ = (
        "_rto_ns",
        "backoffs",
        "fixed_ns",
        "granularity_ns",
        "max_ns",
        "min_ns",
        "rttvar_ns",
        "srtt_ns",
    )

    def __init__(
        self,
        *,
        initial_ns: int = 1_000_000_000,
        min_ns: int = 200_000_000,
        max_ns: int = 10_000_000_000,
        granularity_ns: int = GRANULARITY_NS,
        fixed_ns: int | None = None,
    ) -> None:
        if min_ns <= 0 or max_ns < min_ns:
            raise ValueError(
                f"timeout bounds must satisfy 0 < min <= max, got [{min_ns}, {max_ns}]"
            )
        if fixed_ns is not None and fixed_ns <= 0:
            raise ValueError(f"fixed timeout must be positive, got {fixed_ns} ns")
        self.min_ns = min_ns
        self.max_ns = max_ns
        self.granularity_ns = granularity_ns
        self.fixed_ns = fixed_ns
        self.srtt_ns: int | None = None
        self.rttvar_ns: int | None = None
        self.backoffs = 0
        """Timeouts since the last sample (how many times the RTO was doubled)."""
        self._rto_ns = self._clamp(initial_ns)

    def _clamp(self, ns: int) -> int:
        return self.min_ns if ns < self.min_ns else self.max_ns if ns > self.max_ns else ns

    @property
    def rto_ns(self) -> int:
        """The timeout to give the next ping."""
        return self.fixed_ns if self.fixed_ns is not None else self._rto_ns

    def on_sample(self, rtt_ns: int) -> None:
        """Fold in an unambiguous round trip and recompute the RTO."""
        r = max(0, rtt_ns)
        srtt = self.srtt_ns
        rttvar = self.rttvar_ns
        if srtt is None or rttvar is None:
            srtt = r
            rttvar = r // 2
        else:
            rttvar = (3 * rttvar + abs(srtt - r)) // 4
            srtt = (7 * srtt + r) // 8
        self.srtt_ns = srtt
        self.rttvar_ns = rttvar
        self.backoffs = 0
        self._rto_ns = self._clamp(srtt + max(self.granularity_ns, 4 * rttvar))

    def on_timeout(self) -> None:
        """A ping timed out: back off by doubling the RTO (clamped)."""
        self.backoffs += 1
        self._rto_ns = min(self.max_ns, self._rto_ns * 2)
