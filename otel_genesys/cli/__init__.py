"""The ``otel-genesys`` command.

Each sub-command lives in its own module with a ``register(subparsers)``
function; the modules keep heavy imports inside their handlers so that
``otel-genesys --help`` stays fast.

Exit codes (a contract scripts rely on):
    0  success / all thresholds held
    1  a threshold was breached or a probe timed out (``check``)
    2  configuration or usage error
    3  a target could not be reached (``check``)
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

EXIT_OK = 0
EXIT_BREACH = 1
EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3

_COMMAND_MODULES = ("run_cmd", "config_cmd", "emulator_cmd")


def build_parser() -> argparse.ArgumentParser:
    from otel_genesys import __version__

    parser = argparse.ArgumentParser(
        prog="otel-genesys",
        description="Measure Genesys Cloud WebSocket ping/pong latency and export it "
        "as OpenTelemetry data.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"otel_genesys.cli.{name}")
        except ModuleNotFoundError as exc:  # a command not built into this install
            if exc.name != f"otel_genesys.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_CONFIG
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
