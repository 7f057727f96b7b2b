"""Run a real `Agent` against a `HostileServer` and judge what happened.

Shared by the fuzz tests: `run_against` drives one short agent run on a fresh
event loop and returns a `Run`; `Run.problems` lists every invariant broken
(an empty list means the agent survived the input).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from otel_genesys.agent.supervisor import Agent
from otel_genesys.config import MonitorConfig
from otel_genesys.core.outcome import ProbeMode
from otel_genesys.core.probe import ProbeCounters
from otel_genesys.genesys.oauth import OAuthRequestRecord
from tests.chaos.chaos_harness import (
    CollectingSink,
    ProblemLog,
    monitor_config,
    notification_target,
)
from tests.fuzz.fuzz_server import HostileServer

MAX_MESSAGE_BYTES = 1024
RECOVERY_LIMIT_S = 3.0
"""After the hostile script: reconnect (backoff <= 50 ms) and probe OK in every mode."""
BOTH = frozenset({ProbeMode.NOTIFICATION, ProbeMode.CONTROL})


def fuzz_monitor() -> MonitorConfig:
    """Fast probing, a small frame limit, heartbeats that cannot time out during a run."""
    return monitor_config(
        interval_ns=30_000_000,
        probe_frequency_limit_ns=30_000_000,
        timeout_ns=200_000_000,
        heartbeat_interval_ns=10_000_000_000,
        reconnect_base_ns=20_000_000,
        reconnect_cap_ns=50_000_000,
        max_message_bytes=MAX_MESSAGE_BYTES,
    )


@dataclass
class Run:
    """What one agent run against a hostile server left behind."""

    server: HostileServer
    sink: CollectingSink
    counters: dict[ProbeMode, ProbeCounters]
    outstanding: dict[ProbeMode, int]
    status: dict[str, Any]
    oauth: list[OAuthRequestRecord]
    loop_errors: list[dict[str, Any]]
    logs: list[logging.LogRecord]
    modes: frozenset[ProbeMode] = BOTH
    expect_recovery: bool = True
    problem_logs: list[logging.LogRecord] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Every broken invariant: crash, double count, unsettled ping, phantom OK."""
        out: list[str] = []
        if self.loop_errors:
            out.append(f"unhandled: {[e.get('message') for e in self.loop_errors]}")
        if self.problem_logs:
            out.append(f"exception logged: {[r.getMessage() for r in self.problem_logs]}")
        if self.status.get("state") != "stopped":
            out.append(f"state {self.status.get('state')}")
        seen = Counter((o.mode, o.sequence) for _, o in self.sink.outcomes)
        if any(n > 1 for n in seen.values()):
            out.append("a ping got two outcomes")
        for mode, c in self.counters.items():
            if c.sent != c.ok + c.timeout + c.aborted or self.outstanding[mode]:
                out.append(f"{mode.value}: unsettled {c}")
            if len([k for k in seen if k[0] is mode]) != c.sent:
                out.append(f"{mode.value}: outcomes delivered != sent")
        server = self.server
        fifo = self.counters.get(ProbeMode.NOTIFICATION)
        if fifo is not None and fifo.ok > server.json_pongs + server.scripted_pongs:
            out.append(
                f"json ok {fifo.ok} > pongs given {server.json_pongs + server.scripted_pongs}"
            )
        control = self.counters.get(ProbeMode.CONTROL)
        if control is not None and control.ok > server.control_pongs:
            out.append(f"control ok {control.ok} > pongs given {server.control_pongs}")
        done = server.script_done_ns
        if not self.expect_recovery:
            pass
        elif done is None or not all(self.sink.first_ok_after(m, done) for m in self.modes):
            out.append("no OK probe in every mode after the hostile input (no recovery)")
        if self.status.get("failures", {}).get("close_1009") and 1009 not in (
            server.client_close_codes
        ):
            out.append("agent counted close_1009 but never sent it")
        return out


async def _run(
    server: HostileServer,
    seconds: float,
    modes: frozenset[ProbeMode],
    recover: bool,
    monitor: MonitorConfig,
) -> Run:
    await server.start()
    sink = CollectingSink()
    oauth: list[OAuthRequestRecord] = []
    target = notification_target("fuzz", server.base_url, modes, monitor)
    agent = Agent([target], sink=sink, on_oauth_request=oauth.append)
    loop_errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, ctx: loop_errors.append(ctx))
    try:
        await agent.start()
        await asyncio.sleep(seconds)
        # Then until the hostile script has been played and every mode probed OK after it.
        deadline = time.perf_counter() + (RECOVERY_LIMIT_S if recover else 0.0)
        while time.perf_counter() < deadline:
            done = server.script_done_ns
            if done is not None and all(sink.first_ok_after(m, done) for m in modes):
                break
            await asyncio.sleep(0.01)
        await agent.stop()
    finally:
        await server.stop()
    snaps = agent.monitors[0].snapshots()
    return Run(
        server=server,
        sink=sink,
        counters={m: s.counters for m, s in snaps.items()},
        outstanding={m: s.outstanding for m, s in snaps.items()},
        status=agent.status()[0],
        oauth=oauth,
        loop_errors=loop_errors,
        logs=[],
        modes=modes,
        expect_recovery=recover,
    )


def run_against(
    server: HostileServer,
    seconds: float = 0.1,
    modes: frozenset[ProbeMode] = BOTH,
    *,
    recover: bool = True,
    monitor: MonitorConfig | None = None,
) -> Run:
    """One agent run on a fresh event loop, with every log record kept.

    With ``recover`` the run lasts until the hostile script was played and every
    mode probed OK after it (at most `RECOVERY_LIMIT_S` more); else ``seconds``.
    """
    problems = ProblemLog()
    every: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            every.append(record)

    keep = Keep(logging.DEBUG)
    logger = logging.getLogger("otel_genesys")
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(problems)
    logger.addHandler(keep)
    started = time.perf_counter()
    try:
        run = asyncio.run(_run(server, seconds, modes, recover, monitor or fuzz_monitor()))
    finally:
        logger.removeHandler(problems)
        logger.removeHandler(keep)
        logger.setLevel(old_level)
    assert time.perf_counter() - started < 10.0
    run.logs = every
    run.problem_logs = problems.records
    return run
