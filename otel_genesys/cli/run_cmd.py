"""``otel-genesys run`` and ``otel-genesys check``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from otel_genesys.cli import EXIT_CONFIG


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


def register(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="monitor continuously (the embedded emulator when nothing is configured)",
        description="Monitor the configured targets until SIGINT/SIGTERM. With no targets "
        "and no credentials, an embedded Genesys Cloud emulator is started and monitored.",
    )
    _add_common(run)
    run.add_argument("--live", action="store_true", help="live terminal table (needs a TTY)")
    run.add_argument(
        "--duration", metavar="DURATION", help="stop after this long (default: until a signal)"
    )
    run.set_defaults(handler=_run)

    check = sub.add_parser(
        "check",
        help="send N probes per target, print a summary, exit 0/1/2/3",
        description="Exit codes: 0 all thresholds held; 1 a threshold was breached or a "
        "probe timed out; 2 configuration error; 3 a target could not be reached.",
    )
    _add_common(check)
    check.add_argument("--count", type=int, default=5, help="probes per target and mode")
    check.set_defaults(handler=_check)


def _load(args: argparse.Namespace) -> tuple[Any, int | None] | int:
    from otel_genesys.config import load_config
    from otel_genesys.core.durations import parse_duration
    from otel_genesys.errors import ConfigError

    try:
        config = load_config(args.config)
        interval = parse_duration(args.interval) if args.interval else None
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    except ValueError as exc:
        print(f"invalid configuration:\n  - --interval: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if interval is not None and interval < 100_000_000:
        print("invalid configuration:\n  - --interval: must be at least 100ms", file=sys.stderr)
        return EXIT_CONFIG
    return config, interval


def _run(args: argparse.Namespace) -> int:
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
            print(f"invalid configuration:\n  - --duration: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    return asyncio.run(_run_async(args, config, interval, duration_s))


async def _run_async(
    args: argparse.Namespace, config: Any, interval: int | None, duration_s: float | None
) -> int:
    from otel_genesys.agent.report import StreamSink
    from otel_genesys.agent.runner import make_agent, prepare_targets, start_telemetry
    from otel_genesys.config import ConfigError

    try:
        plan = await prepare_targets(config, target_urls=args.target, interval_ns=interval)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    telemetry = start_telemetry(config, demo=plan.emulator is not None, quiet=args.json)
    sinks = [StreamSink(sys.stdout, as_json=True)] if args.json else []
    if plan.emulator is not None and not args.json:
        print(
            f"otel-genesys: no targets configured — monitoring the embedded Genesys Cloud "
            f"emulator at {plan.emulator.base_url} (Ctrl-C to stop)",
            file=sys.stderr,
        )
    agent = make_agent(plan.targets, sinks, telemetry)
    try:
        if duration_s is not None:
            asyncio.get_running_loop().call_later(duration_s, agent.request_stop)
        await agent.run()
    finally:
        if args.json:
            print(json.dumps({"type": "summary", "targets": agent.status()}), flush=True)
        telemetry.shutdown(5.0)
        await plan.close()
    return 0


def _check(args: argparse.Namespace) -> int:
    loaded = _load(args)
    if isinstance(loaded, int):
        return loaded
    config, interval = loaded
    if args.count < 1:
        print("invalid configuration:\n  - --count: must be at least 1", file=sys.stderr)
        return EXIT_CONFIG
    return asyncio.run(_check_async(args, config, interval))


async def _check_async(args: argparse.Namespace, config: Any, interval: int | None) -> int:
    from otel_genesys.agent.report import StreamSink, summary_table
    from otel_genesys.agent.runner import make_agent, prepare_targets, run_check, start_telemetry
    from otel_genesys.config import ConfigError

    try:
        plan = await prepare_targets(
            config, target_urls=args.target, interval_ns=interval, demo_interval_ns=200_000_000
        )
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    telemetry = start_telemetry(config, demo=False, quiet=True)
    agent = make_agent(plan.targets, [], telemetry)
    printer = StreamSink(sys.stdout, as_json=args.json)
    try:
        result = await run_check(agent, count=args.count, on_outcome=printer.outcome)
    finally:
        telemetry.shutdown(5.0)
        await plan.close()
    if args.json:
        print(
            json.dumps(
                {
                    "type": "summary",
                    "targets": [s.as_dict() for s in result.summaries],
                    "unreachable": result.unreachable,
                    "exit_code": result.exit_code,
                }
            )
        )
    else:
        print(summary_table(result.summaries, result.unreachable), end="")
    return result.exit_code
