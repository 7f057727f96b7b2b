"""``otel-genesys run`` and ``otel-genesys check``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from typing import IO, Any

from otel_genesys.cli import EXIT_CONFIG

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", metavar="PATH", help="settings.toml to load (default: ./settings.toml)"
    )
    p.add_argument(
        "--target",
        metavar="URL",
        action="append",
        default=[],
        help="monitor a generic ws:// or wss:// URL with control-frame pings (repeatable)",
    )
    p.add_argument("--interval", metavar="DURATION", help="probe interval, e.g. 500ms or 2s")
    p.add_argument(
        "--json", action="store_true", help="print one JSON object per probe, then a summary"
    )
    p.add_argument(
        "--log-level",
        metavar="LEVEL",
        type=str.upper,
        choices=LOG_LEVELS,
        help="DEBUG, INFO, WARNING, ERROR or CRITICAL (default: [log] level, INFO)",
    )


def register(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="monitor continuously (the embedded emulator when nothing is configured)",
        description="Monitor the configured targets until SIGINT/SIGTERM. With no targets "
        "and no credentials, an embedded Genesys Cloud emulator is started and monitored.",
    )
    _add_common(run)
    run.add_argument(
        "--live",
        action="store_true",
        help="live terminal table, refreshed twice a second (plain lines when not a terminal)",
    )
    run.add_argument(
        "--duration", metavar="DURATION", help="stop after this long (default: until a signal)"
    )
    run.add_argument(
        "--health",
        metavar="[HOST:]PORT",
        help="serve /healthz, /readyz and /status on HOST:PORT (default host 127.0.0.1)",
    )
    run.add_argument(
        "--prometheus",
        action="store_true",
        help="also serve Prometheus metrics at /metrics on the health endpoint",
    )
    run.set_defaults(handler=_run)

    check = sub.add_parser(
        "check",
        help="send N probes per target, print a summary, exit 0/1/2/3",
        description="Exit codes: 0 all thresholds held; 1 a threshold was breached or a "
        "probe timed out; 2 configuration error or bad --threshold; 3 a target could not "
        "be reached.",
    )
    _add_common(check)
    check.add_argument("--count", type=int, default=5, help="probes per target and mode")
    check.add_argument(
        "--threshold",
        metavar="EXPR",
        action="append",
        default=[],
        help="a limit every target and mode must meet, e.g. 'rtt.p99<300ms', "
        "'stability>0.99', 'timeouts==0' (repeatable; grammar in docs/operations.md)",
    )
    check.add_argument(
        "--connect-timeout",
        metavar="DURATION",
        default="15s",
        help="give up on targets that have not connected after this long (default 15s)",
    )
    check.set_defaults(handler=_check)


def _config_error(option: str, exc: Exception) -> int:
    print(f"invalid configuration:\n  - {option}: {exc}", file=sys.stderr)
    return EXIT_CONFIG


def _load(args: argparse.Namespace) -> tuple[Any, int | None] | int:
    from otel_genesys.config import load_config
    from otel_genesys.core.durations import parse_duration
    from otel_genesys.errors import ConfigError

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    try:
        interval = parse_duration(args.interval) if args.interval else None
    except ValueError as exc:
        return _config_error("--interval", exc)
    if interval is not None and interval < 100_000_000:
        return _config_error("--interval", ValueError("must be at least 100ms"))
    return config, interval


# ---------------------------------------------------------------------- run


def _run(args: argparse.Namespace) -> int:
    from otel_genesys.telemetry.gctune import limit_malloc_arenas

    limit_malloc_arenas()  # before any thread starts: a months-long run keeps a flat RSS
    loaded = _load(args)
    if isinstance(loaded, int):
        return loaded
    config, interval = loaded
    duration_s = None
    if args.duration:
        from otel_genesys.core.durations import parse_duration

        try:
            duration_s = parse_duration(args.duration) / 1e9
        except ValueError as exc:
            return _config_error("--duration", exc)
    health = config.health
    if args.health:
        from otel_genesys.agent.health import parse_listen

        try:
            host, port = parse_listen(args.health, health.host)
        except ValueError as exc:
            return _config_error("--health", exc)
        health = dataclasses.replace(health, enabled=True, host=host, port=port)
    if args.prometheus:
        health = dataclasses.replace(health, enabled=True, prometheus=True)
    config = dataclasses.replace(config, health=health)
    from otel_genesys.agent import wakeclock

    # The loop notes when each wait for I/O returns: a pong's arrival (agent/wakeclock.py).
    return wakeclock.run(_run_async(args, config, interval, duration_s))


def _live_wanted(args: argparse.Namespace, stdout: IO[str]) -> bool:
    if not args.live or args.json:
        return False
    isatty = getattr(stdout, "isatty", None)
    return bool(callable(isatty) and isatty())


async def _run_async(
    args: argparse.Namespace, config: Any, interval: int | None, duration_s: float | None
) -> int:
    from otel_genesys.agent.live import LiveView, background, watch_startup
    from otel_genesys.agent.report import StreamSink
    from otel_genesys.agent.runner import make_agent, prepare_targets, start_telemetry
    from otel_genesys.config import ConfigError

    live = _live_wanted(args, sys.stdout)
    if args.live and not live and not args.json:
        print(
            "otel-genesys: --live needs a terminal on stdout; printing one line per probe",
            file=sys.stderr,
        )
    try:
        plan = await prepare_targets(config, target_urls=args.target, interval_ns=interval)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    exposition = None
    if config.health.enabled and config.health.prometheus:
        from otel_genesys.agent.health import PrometheusExposition

        exposition = PrometheusExposition()
    telemetry = start_telemetry(
        config,
        # The console span lines would scroll the live table away.
        quiet=args.json or live,
        log_level=args.log_level,
        extra_metric_readers=[exposition.reader] if exposition is not None else [],
        isolate=True,
        targets_hint=len(plan.targets),
    )
    sinks = [StreamSink(sys.stdout, as_json=True)] if args.json else []
    if plan.emulator is not None and not args.json:
        print(
            f"otel-genesys: no targets configured — monitoring the embedded Genesys Cloud "
            f"emulator at {plan.emulator.base_url} (Ctrl-C to stop)",
            file=sys.stderr,
        )
    agent = make_agent(plan.targets, sinks, telemetry)
    server = None
    try:
        if config.health.enabled:
            from otel_genesys.agent.health import HealthServer

            server = HealthServer(
                agent, host=config.health.host, port=config.health.port, prometheus=exposition
            )
            try:
                await server.start()
            except OSError as exc:
                server = None
                print(
                    f"otel-genesys: cannot serve the health endpoint on "
                    f"{config.health.host}:{config.health.port}: {exc.strerror or exc}",
                    file=sys.stderr,
                )
                return EXIT_CONFIG
        if duration_s is not None:
            asyncio.get_running_loop().call_later(duration_s, agent.request_stop)
        async with background(watch_startup(agent)):
            if live:
                view = LiveView(agent, relog=_relogger(config, args.log_level))
                async with background(view.run()):
                    await agent.run()
            else:
                await agent.run()
    finally:
        if args.json:
            print(json.dumps({"type": "summary", "targets": agent.status()}), flush=True)
        if server is not None:
            await server.stop()
        telemetry.shutdown(5.0)
        await plan.close()
    return 0


def _relogger(config: Any, level: str | None) -> Any:
    """Points logging at the stream rich captures while the live table is up."""
    from otel_genesys.telemetry import configure_logging

    def relog(stream: IO[str] | None) -> None:
        configure_logging(level or config.log.level, config.log.format, stream=stream)

    return relog


# -------------------------------------------------------------------- check


def _check(args: argparse.Namespace) -> int:
    from otel_genesys.core.durations import parse_duration
    from otel_genesys.core.threshold_expr import parse_threshold

    thresholds = []
    for text in args.threshold:
        try:
            thresholds.append(parse_threshold(text))
        except ValueError as exc:
            print(f"otel-genesys check: --threshold: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    loaded = _load(args)
    if isinstance(loaded, int):
        return loaded
    config, interval = loaded
    if args.count < 1:
        return _config_error("--count", ValueError("must be at least 1"))
    try:
        connect_timeout_s = parse_duration(args.connect_timeout) / 1e9
    except ValueError as exc:
        return _config_error("--connect-timeout", exc)
    if connect_timeout_s <= 0:
        return _config_error("--connect-timeout", ValueError("must be positive"))
    from otel_genesys.agent import wakeclock

    return wakeclock.run(_check_async(args, config, interval, thresholds, connect_timeout_s))


async def _check_async(
    args: argparse.Namespace,
    config: Any,
    interval: int | None,
    thresholds: list[Any],
    connect_timeout_s: float,
) -> int:
    from otel_genesys.agent.live import background, watch_startup
    from otel_genesys.agent.report import StreamSink, summary_table, verdict_line
    from otel_genesys.agent.runner import make_agent, prepare_targets, run_check, start_telemetry
    from otel_genesys.config import ConfigError

    try:
        plan = await prepare_targets(
            config, target_urls=args.target, interval_ns=interval, demo_interval_ns=200_000_000
        )
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    telemetry = start_telemetry(
        config, quiet=True, log_level=args.log_level, targets_hint=len(plan.targets)
    )
    agent = make_agent(plan.targets, [], telemetry)
    printer = StreamSink(sys.stdout, as_json=args.json)
    try:
        async with background(watch_startup(agent)):
            result = await run_check(
                agent,
                count=args.count,
                on_outcome=printer.outcome,
                thresholds=thresholds,
                connect_timeout_s=connect_timeout_s,
            )
    finally:
        telemetry.shutdown(5.0)
        await plan.close()
    if args.json:
        summary: dict[str, Any] = {
            "type": "summary",
            "targets": [s.as_dict() for s in result.summaries],
            "unreachable": result.unreachable,
            "exit_code": result.exit_code,
        }
        if result.verdicts:
            summary["thresholds"] = [
                {
                    "threshold": tv.verdict.expr.source,
                    "target": tv.target,
                    "mode": tv.mode,
                    "observed": tv.verdict.observed_text(),
                    "passed": tv.verdict.passed,
                }
                for tv in result.verdicts
            ]
        print(json.dumps(summary))
    else:
        print(
            summary_table(result.summaries, result.unreachable, result.verdicts, result.errors),
            end="",
        )
        print(verdict_line(result))
    return result.exit_code
