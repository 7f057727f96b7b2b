"""Quick start: monitor a Genesys Cloud org (or the local emulator) from Python.

    python examples/quickstart_emulator.py                      # starts an embedded emulator
    python examples/quickstart_emulator.py --duration 30
    GENESYS_BASE_URL=http://127.0.0.1:8080 python examples/quickstart_emulator.py
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python examples/quickstart_emulator.py

With no ``GENESYS_BASE_URL`` (or ``--base-url``) an emulator is started in this
process, so the example runs anywhere. Telemetry goes to the console, or over
OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (start a Collector with
``examples/collector/debug.yaml`` to see it arrive). A summary per probe mode
is printed at the end.

The same thing from the command line is ``otel-genesys run``; this file shows
the library calls underneath it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from typing import Any

from otel_genesys.agent.supervisor import Agent
from otel_genesys.config import MonitorConfig, NotificationTarget, OAuthClient
from otel_genesys.core.outcome import ProbeMode
from otel_genesys.secret import Secret
from otel_genesys.telemetry import TelemetrySettings, setup_telemetry


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; each falls back to an environment variable."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base-url", default=os.environ.get("GENESYS_BASE_URL"))
    p.add_argument("--client-id", default=os.environ.get("GENESYS_CLIENT_ID"))
    p.add_argument("--duration", type=float, default=10.0, help="seconds to monitor")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between pings")
    return p.parse_args(argv)


async def main(argv: list[str] | None = None) -> int:
    """Run the quick start; returns a process exit code."""
    args = parse_args(argv)
    async with contextlib.AsyncExitStack() as stack:
        base_url, client_id, secret = args.base_url, args.client_id, None
        if base_url is None:
            # Imported only when needed: the emulator is a test/demo tool.
            from otel_genesys.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator

            emulator = await stack.enter_async_context(Emulator())
            base_url = emulator.base_url
            client_id, secret = DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
            print(f"started an embedded Genesys Cloud emulator at {base_url}")
        secret = os.environ.get("GENESYS_CLIENT_SECRET", secret)
        if not client_id or not secret:
            print("set GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET for --base-url", file=sys.stderr)
            return 2

        interval_ns = int(args.interval * 1e9)
        target = NotificationTarget(
            name="quickstart",
            region=None,
            base_url=base_url,  # for a real org: region="eu_west_1", base_url=None
            oauth=OAuthClient(client_id, Secret(secret)),
            topics=(),
            modes=frozenset({ProbeMode.NOTIFICATION, ProbeMode.CONTROL}),
            monitor=MonitorConfig(
                interval_ns=interval_ns, probe_frequency_limit_ns=min(interval_ns, 1_000_000_000)
            ),
        )

        # "auto": OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, else one console line per probe.
        telemetry = setup_telemetry(TelemetrySettings(exporter="auto"))
        stack.callback(telemetry.shutdown, 5.0)

        agent = Agent([target], sink=telemetry.recorder)
        await agent.start()
        try:
            await asyncio.sleep(args.duration)
        finally:
            await agent.stop()
        telemetry.force_flush(5.0)
        return _print_summary(agent.status())
    return 0


def _print_summary(status: list[dict[str, Any]]) -> int:
    ok_total = 0
    for target in status:
        for mode, s in target["modes"].items():
            ok_total += s["ok"]
            print(
                f"summary {target['target']}/{mode}: sent={s['sent']} ok={s['ok']} "
                f"timeout={s['timeout']} p50={s['p50_rtt_ms']}ms p99={s['p99_rtt_ms']}ms "
                f"stability={s['stability']}"
            )
    return 0 if ok_total else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
