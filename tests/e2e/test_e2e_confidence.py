"""Our own stalls must not masquerade as network latency (sample confidence)."""

from __future__ import annotations

import asyncio
import gc
import time

from otel_genesys.agent.supervisor import Agent
from otel_genesys.core.outcome import Confidence, Outcome, ProbeMode, ProbeOutcome
from otel_genesys.emulator import DelaySpec, Emulator, FaultSpec
from tests.e2e.e2e_helpers import Collector, notification_target, wait_until

DELAY_S = 0.08
BLOCK_S = 0.05
LAG_LIMIT_NS = 5_000_000


class _Disturber(Collector):
    """After the 5th pong, stall the loop 40 ms into the next ping's flight."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.disturbed_seq: int | None = None
        self._junk: list[object] = []

    def outcome(self, outcome: ProbeOutcome) -> None:
        super().outcome(outcome)
        if outcome.sequence == 5 and self.disturbed_seq is None:
            self.disturbed_seq = 6
            # The 6th ping leaves ~20 ms after this pong; act 40 ms into its flight.
            asyncio.get_running_loop().call_later(0.06, self._disturb)

    def _disturb(self) -> None:
        if self.action == "block":
            time.sleep(BLOCK_S)  # the event loop is blocked: no frame can be read
        else:
            self._junk = [[i] for i in range(300_000)]
            gc.collect()
            self._junk = []


async def _run(action: str) -> _Disturber:
    sink = _Disturber(action)
    async with Emulator() as emu:
        emu.faults.set_global(FaultSpec(pong_delay=DelaySpec.fixed(DELAY_S)))
        target = notification_target(
            emu, modes={ProbeMode.CONTROL}, lag_limit_ns=LAG_LIMIT_NS, timeout_ns=1_000_000_000
        )
        agent = Agent([target], sink=sink)
        await agent.start()
        await wait_until(lambda: len(sink.by(outcome=Outcome.OK)) >= 12, timeout_s=8)
        await agent.stop()
    return sink


async def test_blocked_loop_flags_the_sample_degraded_with_the_right_lag() -> None:
    sink = await _run("block")
    hit = next(o for o in sink.outcomes if o.sequence == sink.disturbed_seq)
    assert hit.outcome is Outcome.OK
    assert hit.confidence is Confidence.DEGRADED
    # The ticker sees the 50 ms block (less its timer slack), clipped to the ping's
    # window; on a loaded machine the ping may leave late, so the block can start
    # before it: at least half the block always overlaps, and never more than it.
    assert 25e6 <= hit.loop_lag_ns <= 75e6, hit.loop_lag_ns
    others = [o for o in sink.by(outcome=Outcome.OK) if o.sequence != sink.disturbed_seq]
    trusted = [o for o in others if o.confidence is Confidence.TRUSTED]
    assert len(trusted) >= 0.8 * len(others), [o.loop_lag_ns for o in others]


async def test_gc_pause_during_a_ping_flags_it_degraded() -> None:
    sink = await _run("gc")
    hit = next(o for o in sink.outcomes if o.sequence == sink.disturbed_seq)
    assert hit.gc_pause_ns > 0
    assert hit.confidence is Confidence.DEGRADED
    before = [o for o in sink.outcomes if o.sequence < 5 and o.ok]
    assert all(o.gc_pause_ns == 0 or o.confidence is Confidence.DEGRADED for o in before)
