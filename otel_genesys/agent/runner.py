"""Putting it together: config → (embedded emulator) → telemetry → agent.

`prepare_targets` decides what to monitor (configured targets, ``--target``
URLs, or the embedded emulator when nothing is configured); `run_agent`
monitors until a signal; `run_check` sends N probes per target and judges the
result. The CLI is a thin shell over these so library users get the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_genesys.agent.monitor import Target
from otel_genesys.agent.supervisor import Agent
from otel_genesys.config import (
    AgentConfig,
    MonitorConfig,
    NotificationTarget,
    OAuthClient,
    generic_target_from_url,
)
from otel_genesys.core.outcome import Outcome, ProbeMode, ProbeOutcome
from otel_genesys.core.sink import TelemetrySink
from otel_genesys.secret import Secret

log = logging.getLogger("otel_genesys.agent")

EMULATOR_TARGET_NAME = "emulator"


@dataclass
class Plan:
    """What to monitor, and the embedded emulator if one is needed."""

    targets: tuple[Target, ...]
    emulator: Any | None = None

    async def close(self) -> None:
        if self.emulator is not None:
            await self.emulator.stop()
            self.emulator = None


def _with_interval(monitor: MonitorConfig, interval_ns: int | None) -> MonitorConfig:
    if interval_ns is None:
        return monitor
    return dataclasses.replace(monitor, interval_ns=interval_ns)


async def prepare_targets(
    config: AgentConfig,
    *,
    target_urls: Sequence[str] = (),
    interval_ns: int | None = None,
    demo_interval_ns: int = 1_000_000_000,
) -> Plan:
    """Resolve the targets; start the embedded emulator when nothing is configured."""
    targets: list[Target] = [
        dataclasses.replace(t, monitor=_with_interval(t.monitor, interval_ns))
        for t in config.targets
    ]
    defaults = _with_interval(config.defaults, interval_ns)
    for i, url in enumerate(target_urls):
        name = f"target-{i + 1}" if len(target_urls) > 1 else "target"
        targets.append(generic_target_from_url(url, defaults=defaults, name=name))
    if targets:
        return Plan(tuple(targets))
    from otel_genesys.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator

    emulator = Emulator()
    await emulator.start("127.0.0.1", 0)
    log.info("no targets configured: monitoring the embedded emulator at %s", emulator.base_url)
    monitor = (
        defaults
        if interval_ns is not None
        else dataclasses.replace(defaults, interval_ns=demo_interval_ns)
    )
    target = NotificationTarget(
        name=EMULATOR_TARGET_NAME,
        region=None,
        base_url=emulator.base_url,
        oauth=OAuthClient(DEFAULT_CLIENT_ID, Secret(DEFAULT_CLIENT_SECRET)),
        topics=(),
        modes=frozenset({ProbeMode.NOTIFICATION, ProbeMode.CONTROL}),
        monitor=monitor,
    )
    return Plan((target,), emulator)


@dataclass
class ModeSummary:
    """What ``check`` concluded for one target and probe mode."""

    target: str
    mode: str
    sent: int = 0
    ok: int = 0
    timeout: int = 0
    aborted: int = 0
    breaches: dict[str, int] = field(default_factory=dict)
    rtts_ns: list[int] = field(default_factory=list)
    degraded: int = 0

    def add(self, o: ProbeOutcome) -> None:
        self.sent += 1
        if o.outcome is Outcome.OK:
            self.ok += 1
            assert o.rtt_ns is not None
            self.rtts_ns.append(o.rtt_ns)
        elif o.outcome is Outcome.TIMEOUT:
            self.timeout += 1
        else:
            self.aborted += 1
        for b in o.breaches:
            self.breaches[b.threshold] = self.breaches.get(b.threshold, 0) + 1
        if o.confidence.value == "degraded":
            self.degraded += 1

    def quantile_ms(self, q: float) -> float | None:
        if not self.rtts_ns:
            return None
        data = sorted(self.rtts_ns)
        idx = min(len(data) - 1, max(0, round(q * (len(data) - 1))))
        return data[idx] / 1e6

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "mode": self.mode,
            "sent": self.sent,
            "ok": self.ok,
            "timeout": self.timeout,
            "aborted": self.aborted,
            "breaches": dict(self.breaches),
            "degraded": self.degraded,
            "rtt_p50_ms": self.quantile_ms(0.5),
            "rtt_p99_ms": self.quantile_ms(0.99),
            "rtt_max_ms": self.quantile_ms(1.0),
        }


@dataclass
class CheckResult:
    summaries: list[ModeSummary]
    unreachable: list[str]
    exit_code: int


async def run_check(
    agent: Agent,
    *,
    count: int,
    connect_timeout_s: float = 15.0,
    on_outcome: Callable[[ProbeOutcome], None] | None = None,
) -> CheckResult:
    """Send ``count`` probes per target and mode; exit code 0/1/3 as documented."""
    summaries: dict[tuple[str, str], ModeSummary] = {}
    done = asyncio.Event()
    expected = {
        (t.name, mode.value)
        for t in agent.targets
        for mode in (t.modes if isinstance(t, NotificationTarget) else (ProbeMode.CONTROL,))
    }

    def collect(o: ProbeOutcome) -> None:
        key = (o.target.name, o.mode.value)
        s = summaries.setdefault(key, ModeSummary(*key))
        if s.sent >= count:
            return
        s.add(o)
        if on_outcome is not None:
            on_outcome(o)
        if all(k in summaries and summaries[k].sent >= count for k in expected):
            done.set()

    agent.on_outcome(collect)
    await agent.start()
    interval_s = max((t.monitor.interval_ns for t in agent.targets), default=0) / 1e9
    timeout_s = max((t.monitor.timeout_max_ns for t in agent.targets), default=0) / 1e9
    deadline = connect_timeout_s + count * interval_s + min(timeout_s, 10.0) + 2.0
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), deadline)
    await agent.stop()
    unreachable = [
        m.target.name
        for m in agent.monitors
        if not any(summaries.get((m.target.name, mode.value)) for mode in m.sessions)
    ]
    ordered = [summaries[k] for k in sorted(summaries)]
    if unreachable:
        code = 3
    elif any(s.timeout or s.breaches or s.sent < count for s in ordered):
        code = 1
    else:
        code = 0
    return CheckResult(ordered, unreachable, code)


def start_telemetry(config: AgentConfig, *, demo: bool = False, quiet: bool = False) -> Any:
    """Logging and OpenTelemetry set up from the configuration.

    In the emulator demo with no exporter configured, the console exporter
    prints one line per probe; ``quiet`` (``--json``, ``check``) turns the
    console exporter off so stdout carries only what was asked for.
    """
    from otel_genesys.telemetry import (
        TelemetrySettings,
        configure_logging,
        gc_tune,
        register_secret,
        setup_telemetry,
    )

    configure_logging(config.log.level, config.log.format)  # type: ignore[arg-type]
    for target in config.targets:
        if isinstance(target, NotificationTarget):
            register_secret(target.oauth.client_secret)
    tc = config.telemetry
    exporter = tc.exporter
    if quiet and exporter in ("auto", "console"):
        import os

        has_endpoint = tc.endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        exporter = "otlp" if (exporter == "auto" and has_endpoint) else "none"
    settings = TelemetrySettings(
        exporter=exporter,  # type: ignore[arg-type]
        endpoint=tc.endpoint,
        span_ratio=tc.span_ratio,
        logs_export=tc.logs_export,
        export_interval_ns=tc.export_interval_ns,
    )
    telemetry = setup_telemetry(settings, set_global=True)
    gc_tune()
    del demo
    return telemetry


def make_agent(
    targets: Sequence[Target],
    sinks: Sequence[TelemetrySink],
    telemetry: Any | None = None,
) -> Agent:
    """An `Agent` wired to telemetry (loop lag, GC pauses, OAuth request metrics)."""
    from otel_genesys.core.sink import FanoutSink

    recorder = getattr(telemetry, "recorder", None)
    all_sinks: list[TelemetrySink] = list(sinks)
    on_oauth: Callable[[Any], None] | None = None
    if recorder is not None:
        all_sinks.insert(0, recorder)

        def on_oauth(record: Any) -> None:
            recorder.oauth_request(record.duration_s, record.outcome)
            if record.reason != "initial":
                recorder.token_refresh(record.outcome)

    return Agent(
        targets,
        sink=FanoutSink(all_sinks) if len(all_sinks) != 1 else all_sinks[0],
        on_lag=getattr(recorder, "record_loop_lag", None),
        on_gc=getattr(recorder, "record_gc_pause", None),
        on_oauth_request=on_oauth,
    )
