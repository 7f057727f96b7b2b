"""``otel-genesys emulator``: run the local Genesys Cloud stand-in until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import sys
from typing import Any

DEFAULT_PORT = 8089


def register(sub: Any) -> None:
    """Add the ``emulator`` sub-command to ``sub`` (an argparse subparsers object)."""
    p: argparse.ArgumentParser = sub.add_parser(
        "emulator",
        help="run the local Genesys Cloud emulator (with fault injection)",
        description="Serve OAuth, the Notification API and the realtime endpoint on one port, "
        "with optional faults. Faults can also be changed live through /__emulator__/ "
        "(loopback only); see docs/emulator.md.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port to bind, 0 for any free port (default {DEFAULT_PORT})")
    p.add_argument("--config", metavar="PATH", help="emulator TOML file (examples/emulator.toml)")
    p.add_argument("--heartbeat-interval", metavar="S", help="seconds between heartbeats")
    p.add_argument("--channel-lifetime", metavar="S", help="channel lifetime (default 24h)")
    p.add_argument("--pong-delay", metavar="SPEC",
                   help="e.g. fixed:5ms, uniform:1ms,10ms, normal:20ms,5ms, pareto:5ms,1.5")
    p.add_argument("--seed", type=int, help="seed for delay/drop randomness")
    p.add_argument("--drop-probability", type=float, metavar="P", help="pong drop chance 0..1")
    p.add_argument("--blackhole", action="store_true", help="answer nothing on sockets")
    p.add_argument("--duplicate", type=int, metavar="N", help="extra copies of every pong")
    p.add_argument("--unsolicited", type=int, metavar="N", help="unsolicited pongs per ping")
    p.add_argument("--heartbeat-stop", action="store_true", help="send no heartbeats")
    p.add_argument("--close-after", metavar="S[:CODE]", help="close sockets after S seconds")
    p.add_argument("--reset-after", metavar="S", help="TCP-reset sockets after S seconds")
    p.add_argument("--handshake-status", type=int, choices=(401, 403, 429, 503),
                   help="refuse WebSocket upgrades with this status")
    p.add_argument("--handshake-delay", metavar="S", help="delay before answering an upgrade")
    p.add_argument("--token-outage", choices=("drop", "503", "500"), help="token endpoint down")
    p.add_argument("--token-429-burst", type=int, metavar="N", help="429 the next N token requests")
    p.add_argument("--token-lifetime", metavar="S", help="override every token lifetime")
    p.set_defaults(handler=_run)


def _fault_overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    simple = {
        "pong_delay": args.pong_delay, "seed": args.seed,
        "drop_probability": args.drop_probability, "duplicate": args.duplicate,
        "unsolicited_per_ping": args.unsolicited, "reset_after_s": args.reset_after,
        "handshake_status": args.handshake_status, "handshake_delay_s": args.handshake_delay,
        "token_outage": args.token_outage, "token_429_burst": args.token_429_burst,
        "token_lifetime_s": args.token_lifetime,
    }
    out.update({k: v for k, v in simple.items() if v is not None})
    if args.blackhole:
        out["blackhole"] = True
    if args.heartbeat_stop:
        out["heartbeat_stop"] = True
    if args.close_after:
        after, _, code = args.close_after.partition(":")
        out["close_after_s"] = after
        if code:
            out["close_code"] = int(code) if code.isdigit() else code
    return out


def build_config(args: argparse.Namespace) -> Any:
    """The emulator config from ``--config`` plus the command-line overrides."""
    from dataclasses import replace

    from otel_genesys.emulator.config import EmulatorConfig, load_config
    from otel_genesys.emulator.faults import FaultSpec, parse_duration

    cfg = load_config(args.config) if args.config else EmulatorConfig()
    changes: dict[str, Any] = {}
    try:
        if args.heartbeat_interval is not None:
            changes["heartbeat_interval_s"] = parse_duration(args.heartbeat_interval)
        if args.channel_lifetime is not None:
            changes["channel_lifetime_s"] = parse_duration(args.channel_lifetime)
    except ValueError as exc:
        from otel_genesys.errors import ConfigError

        raise ConfigError(str(exc)) from None
    overrides = _fault_overrides(args)
    if overrides:
        changes["faults"] = FaultSpec.from_json(overrides, base=cfg.faults)
    return replace(cfg, **changes) if changes else cfg


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from otel_genesys.cli import EXIT_CONFIG, EXIT_OK, EXIT_UNREACHABLE
    from otel_genesys.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator
    from otel_genesys.errors import ConfigError

    try:
        config = build_config(args)
    except ConfigError as exc:
        print(f"otel-genesys emulator: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    async def serve() -> int:
        emulator = Emulator(config)
        try:
            await emulator.start(args.host, args.port)
        except OSError as exc:
            print(f"otel-genesys emulator: cannot listen on {args.host}:{args.port}: "
                  f"{exc.strerror}", file=sys.stderr)
            return EXIT_UNREACHABLE
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        default = config.client(DEFAULT_CLIENT_ID)
        print(f"emulator listening on {emulator.base_url}", flush=True)
        print(f"realtime endpoint: {emulator.realtime_url}", flush=True)
        if default is not None and default.client_secret.reveal() == DEFAULT_CLIENT_SECRET:
            # The demo secret is public by design; configured secrets are never printed.
            print(f"client credentials: {DEFAULT_CLIENT_ID} / {DEFAULT_CLIENT_SECRET} "
                  "(the built-in demo client)", flush=True)
        else:
            ids = ", ".join(c.client_id for c in config.clients)
            print(f"clients: {ids} (secrets from the config file)", flush=True)
        print(f"admin API: {emulator.base_url}/__emulator__/ (loopback only)", flush=True)
        try:
            await stop.wait()
        finally:
            await emulator.stop()
        return EXIT_OK

    return asyncio.run(serve())
