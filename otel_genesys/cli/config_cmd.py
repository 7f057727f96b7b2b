"""``otel-genesys check-config``: validate the settings and show them, secrets redacted."""

from __future__ import annotations

import argparse
import json
import sys

EXIT_OK = 0
EXIT_CONFIG = 2


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``check-config`` sub-command."""
    parser = sub.add_parser(
        "check-config",
        help="validate the configuration and print it with secrets redacted",
        description="Load settings.toml, .secrets.toml and OTEL_GENESYS_* variables, "
        "validate them, and print the effective configuration (secrets shown as ***). "
        "Exit 0 when valid; 2 with every problem listed otherwise.",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="settings file (default: $OTEL_GENESYS_CONFIG, else ./settings.toml if present)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    parser.set_defaults(handler=_check_config)


def _check_config(args: argparse.Namespace) -> int:
    from otel_genesys.config import load_config, redacted_dict, redacted_toml
    from otel_genesys.errors import ConfigError

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        if args.json:
            print(json.dumps({"valid": False, "problems": list(exc.problems)}, indent=2))
        else:
            count = len(exc.problems)
            print(f"invalid configuration ({count} problem{'s' * (count != 1)}):", file=sys.stderr)
            for problem in exc.problems:
                print(f"  - {problem}", file=sys.stderr)
        return EXIT_CONFIG
    if args.json:
        document = {"valid": True, "sources": list(config.sources), "config": redacted_dict(config)}
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(redacted_toml(config))
    return EXIT_OK
