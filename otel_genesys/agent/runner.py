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
from otel_genesys.core.outcome import Confidence, Outcome, ProbeMode, ProbeOutcome
from otel_genesys.core.sharding import select_shard
from otel_genesys.core.sink import TelemetrySink
from otel_genesys.core.threshold_expr import (
    ThresholdData,
    ThresholdExpr,
    ThresholdVerdict,
    evaluate_all,
)
from otel_genesys.core.window import nearest_rank
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
    """Resolve the targets; start the embedded emulator when nothing is configured.

    With ``shard_count > 1`` only this replica's share of the configured targets
    is kept (rendezvous hashing, :mod:`otel_genesys.core.sharding`); targets
    given as URLs on the command line are always kept. A replica whose share is
    empty runs with no targets rather than falling back to the emulator.
    """
    owned = select_shard(config.targets, config.shard_index, config.shard_count)
    if config.shard_count > 1:
        log.info(
            "shard %d of %d: monitoring %d of %d configured targets",
            config.shard_index,
            config.shard_count,
            len(owned),
            len(config.targets),
        )
    targets: list[Target] = [
        dataclasses.replace(t, monitor=_with_interval(t.monitor, interval_ns)) for t in owned
    ]
    defaults = _with_interval(config.defaults, interval_ns)
    for i, url in enumerate(target_urls):
        name = f"target-{i + 1}" if len(target_urls) > 1 else "target"
        targets.append(generic_target_from_url(url, defaults=defaults, name=name))
    if targets or config.targets:
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
    jitters_ns: list[int] = field(default_factory=list)
    degraded: int = 0
    breached: int = 0
    """Probes that broke at least one configured threshold."""

    def add(self, o: ProbeOutcome) -> None:
        """Fold one outcome in."""
        self.sent += 1
        if o.outcome is Outcome.OK:
            self.ok += 1
            assert o.rtt_ns is not None
            self.rtts_ns.append(o.rtt_ns)
            if o.jitter_ns is not None:
                self.jitters_ns.append(o.jitter_ns)
        elif o.outcome is Outcome.TIMEOUT:
            self.timeout += 1
        else:
            self.aborted += 1
        for b in o.breaches:
            self.breaches[b.threshold] = self.breaches.get(b.threshold, 0) + 1
        if o.breaches:
            self.breached += 1
        if o.confidence is Confidence.DEGRADED:
            self.degraded += 1

    def quantile_ms(self, q: float) -> float | None:
        """Nearest-rank RTT quantile in ms (as ``--threshold rtt.pNN`` sees it)."""
        if not self.rtts_ns:
            return None
        return nearest_rank(sorted(self.rtts_ns), q) / 1e6

    def threshold_data(self) -> ThresholdData:
        """The numbers ``--threshold`` expressions are judged against."""
        return ThresholdData(
            sent=self.sent,
            ok=self.ok,
            timeouts=self.timeout,
            aborted=self.aborted,
            degraded=self.degraded,
            breaches=self.breached,
            rtts_ns=tuple(self.rtts_ns),
            jitters_ns=tuple(self.jitters_ns),
        )

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` summary entry (schema in docs/cli.md)."""
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


@dataclass(frozen=True, slots=True)
class TargetVerdict:
    """One ``--threshold`` expression judged against one target and mode."""

    target: str
    mode: str
    verdict: ThresholdVerdict


@dataclass
class CheckResult:
    """The outcome of `run_check`: summaries, unreachable targets, verdicts, exit code."""

    summaries: list[ModeSummary]
    unreachable: list[str]
    exit_code: int
    verdicts: list[TargetVerdict] = field(default_factory=list)
    errors: dict[str, str | None] = field(default_factory=dict)
    """The last connection error of each target (why an unreachable one failed)."""


def _ever_connected(agent: Agent, summaries: dict[tuple[str, str], ModeSummary]) -> set[str]:
    seen = {name for name, _ in summaries}
    seen.update(m.target.name for m in agent.connected())
    return seen


async def run_check(
    agent: Agent,
    *,
    count: int,
    connect_timeout_s: float = 15.0,
    on_outcome: Callable[[ProbeOutcome], None] | None = None,
    thresholds: Sequence[ThresholdExpr] = (),
) -> CheckResult:
    """Send ``count`` probes per target and mode; exit code 0/1/3 as documented.

    Exit code 3 when a target never produced an outcome; 1 when a probe timed
    out, a configured threshold was breached, fewer than ``count`` probes
    settled, or a ``thresholds`` expression failed for any target and mode.
    When no target has connected within ``connect_timeout_s``, the check ends
    there rather than waiting out the probing time as well.
    """
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
    probing_s = count * interval_s + min(timeout_s, 10.0) + 2.0
    loop = asyncio.get_running_loop()
    connect_deadline = loop.time() + connect_timeout_s
    all_reached_at: float | None = None
    names = {t.name for t in agent.targets}
    while not done.is_set():
        now = loop.time()
        reached = _ever_connected(agent, summaries)
        if all_reached_at is None and names <= reached:
            all_reached_at = now
        if now >= connect_deadline and not reached:
            break  # nothing reachable at all: no point waiting for probes
        if now >= (all_reached_at or connect_deadline) + probing_s:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 0.05)
    await agent.stop()
    unreachable = [
        m.target.name
        for m in agent.monitors
        if not any(summaries.get((m.target.name, mode.value)) for mode in m.sessions)
    ]
    ordered = [summaries[k] for k in sorted(summaries)]
    verdicts = [
        TargetVerdict(s.target, s.mode, v)
        for s in ordered
        for v in evaluate_all(thresholds, s.threshold_data())
    ]
    if unreachable:
        code = 3
    elif any(s.timeout or s.breaches or s.sent < count for s in ordered) or any(
        not tv.verdict.passed for tv in verdicts
    ):
        code = 1
    else:
        code = 0
    errors = {m.target.name: m.status.last_error for m in agent.monitors}
    return CheckResult(ordered, unreachable, code, verdicts, errors)


def start_telemetry(
    config: AgentConfig,
    *,
    quiet: bool = False,
    log_level: str | None = None,
    extra_metric_readers: Sequence[Any] = (),
    isolate: bool = False,
    targets_hint: int = 0,
) -> Any:
    """Logging and OpenTelemetry set up from the configuration.

    In the emulator demo with no exporter configured, the console exporter
    prints one line per probe; ``quiet`` (``--json``, ``check``, ``--live``)
    turns the console exporter off so the terminal carries only what was asked
    for. ``log_level`` overrides ``[log] level``; ``extra_metric_readers`` are
    added next to the configured exporter (the Prometheus pull reader).

    ``targets_hint`` (how many targets will report) sizes the metric cardinality
    limit so no target's series is merged into the SDK's overflow point.
    ``isolate`` (``run``) starts the OTel SDK in a separate export process when
    ``telemetry.isolation`` is ``process`` and nothing needs the SDK in this
    process: no Prometheus reader, no OTLP log export, and some exporter on.
    """
    from otel_genesys.telemetry import (
        TelemetrySettings,
        configure_logging,
        gc_tune,
        register_secret,
        setup_telemetry,
    )

    configure_logging(log_level or config.log.level, config.log.format)  # type: ignore[arg-type]
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
        targets_hint=targets_hint,
    )
    telemetry: Any
    if (
        isolate
        and tc.isolation == "process"
        and not extra_metric_readers
        and not tc.logs_export
        and exporter != "none"
    ):
        from otel_genesys.telemetry.isolated import start_isolated_telemetry

        telemetry = start_isolated_telemetry(
            settings,
            nice=tc.export_nice,
            cpus=tc.export_cpus,
            log_level=log_level or config.log.level,
            log_format=config.log.format,
            secrets=[
                t.oauth.client_secret.reveal()
                for t in config.targets
                if isinstance(t, NotificationTarget)
            ],
        )
    else:
        telemetry = setup_telemetry(
            settings, set_global=True, extra_metric_readers=tuple(extra_metric_readers)
        )
    gc_tune()
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
