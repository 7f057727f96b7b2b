"""Where the OTel SDK runs: nowhere vs a thread of the agent vs a separate export process.

Side by side in one run, against one pong server in its own process, N generic
targets at 1 Hz, OTLP/gRPC to a local endpoint that discards what it receives::

    python -m bench.export_isolation --connections 1000 --variants none,thread,process

Prints one line per variant: RTT p50/p99, scheduling lateness p99, the share
of samples flagged degraded, the agent process's CPU over the window, CPU per
probe cycle in the agent process, and (``process``) the export process's CPU
over its whole life divided by the window (start-up included, so an upper bound).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._otlp_sink import DiscardSink

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("none", "thread", "process")


def _q(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@dataclass
class _Samples:
    recording: bool = False
    rtt_ms: list[float] = field(default_factory=list)
    lateness_ms: list[float] = field(default_factory=list)
    degraded: int = 0


async def run_variant(
    variant: str,
    url: str,
    endpoint: str,
    connections: int,
    window_s: float,
    warm_s: float,
    span_ratio: float = 1.0,
) -> dict[str, Any]:
    """Monitor ``connections`` targets with telemetry placed as ``variant``; return figures."""
    from otel_genesys.agent.runner import make_agent
    from otel_genesys.config import GenericTarget, MonitorConfig
    from otel_genesys.core.outcome import Confidence, Outcome, ProbeOutcome
    from otel_genesys.telemetry import TelemetrySettings, gc_tune, setup_telemetry
    from otel_genesys.telemetry.isolated import start_isolated_telemetry

    settings = TelemetrySettings(
        exporter="otlp_grpc", endpoint=endpoint, span_ratio=span_ratio, targets_hint=connections
    )
    telemetry: Any = None
    if variant == "thread":
        telemetry = setup_telemetry(settings)
    elif variant == "process":
        telemetry = start_isolated_telemetry(settings)
        telemetry.recorder.wait_ready(30.0)
    gc_tune()
    monitor = MonitorConfig(interval_ns=1_000_000_000, probe_frequency_limit_ns=1_000_000_000)
    targets = [
        GenericTarget(name=f"t{i:05d}", url=url, first_message=None, monitor=monitor)
        for i in range(connections)
    ]
    s = _Samples()

    def collect(o: ProbeOutcome) -> None:
        if s.recording and o.outcome is Outcome.OK and o.rtt_ns is not None:
            s.rtt_ms.append(o.rtt_ns / 1e6)
            s.lateness_ms.append(o.lateness_ns / 1e6)
            s.degraded += o.confidence is Confidence.DEGRADED

    agent = make_agent(targets, [], telemetry)
    agent.on_outcome(collect)
    await agent.start()
    while sum(m.status.state.value == "connected" for m in agent.monitors) < connections:
        await asyncio.sleep(0.2)
    await asyncio.sleep(warm_s)
    cpu0, kids0 = time.process_time(), _children_cpu_s()
    s.recording = True
    await asyncio.sleep(window_s)
    s.recording = False
    cpu = time.process_time() - cpu0
    await agent.stop()
    if telemetry is not None:
        telemetry.shutdown(10.0)
    n = max(1, len(s.rtt_ms))
    return {
        "variant": variant,
        "samples": len(s.rtt_ms),
        "rtt_p50_ms": _q(s.rtt_ms, 0.5),
        "rtt_p99_ms": _q(s.rtt_ms, 0.99),
        "lateness_p99_ms": _q(s.lateness_ms, 0.99),
        "degraded": s.degraded / n,
        "agent_cpu": cpu / window_s,
        "cpu_per_cycle_us": cpu / n * 1e6,
        "export_process_cpu": (_children_cpu_s() - kids0) / window_s,
    }


async def main_async(args: argparse.Namespace) -> None:
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.pong_server", "--port", "0",
        stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    assert server.stdout is not None
    url = (await server.stdout.readline()).decode().strip()
    try:
        with DiscardSink() as sink:
            for variant in args.variants.split(","):
                r = await run_variant(
                    variant, url, sink.endpoint, args.connections, args.window, args.warmup,
                    args.span_ratio,
                )  # fmt: skip
                print(
                    f"{r['variant']:8s} n={args.connections} span_ratio={args.span_ratio} "
                    f"samples={r['samples']} "
                    f"rtt p50={r['rtt_p50_ms']:.2f} p99={r['rtt_p99_ms']:.2f} ms "
                    f"lateness p99={r['lateness_p99_ms']:.2f} ms degraded={r['degraded']:.1%} "
                    f"agent cpu={r['agent_cpu']:.0%} ({r['cpu_per_cycle_us']:.0f} us/cycle) "
                    f"export process cpu<={r['export_process_cpu']:.0%}",
                    flush=True,
                )
    finally:
        server.terminate()
        await server.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export_isolation", description=__doc__)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--window", type=float, default=8.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after connecting")
    parser.add_argument("--span-ratio", type=float, default=1.0, help="telemetry.span_ratio")
    args = parser.parse_args(argv)
    unknown = set(args.variants.split(",")) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {VARIANTS}")
    logging.disable(logging.INFO)  # audit lines (drift corrections) would flood the output
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
