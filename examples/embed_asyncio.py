"""Embed the monitor in an existing asyncio application, with a callback.

Your service already runs an event loop (here a tiny aiohttp web app). The
otel-genesys `Agent` runs beside it on the same loop; a callback sees every
probe outcome and keeps what the app needs — the latest round trip per
target, recent timeouts — which the app serves at ``GET /genesys-latency``.

    python examples/embed_asyncio.py                      # embedded emulator, 20 outcomes
    python examples/embed_asyncio.py --count 100
    GENESYS_BASE_URL=… GENESYS_CLIENT_ID=… GENESYS_CLIENT_SECRET=… python examples/embed_asyncio.py

The callback runs inline on the event loop, between two probes: keep it to a
few microseconds (update a dict, set an event). Slow work (HTTP calls, disk)
belongs in a task it wakes, or in ``otel_genesys.telemetry.CallbackSink``,
which calls back from its own thread. OpenTelemetry export is optional: set
``OTEL_EXPORTER_OTLP_ENDPOINT`` and the probes also go out over OTLP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from otel_genesys.agent.supervisor import Agent
from otel_genesys.config import MonitorConfig, NotificationTarget, OAuthClient
from otel_genesys.core.outcome import ProbeMode, ProbeOutcome
from otel_genesys.secret import Secret
from otel_genesys.telemetry.callbacks import apm_tuple


@dataclass
class LatencyBoard:
    """What the application keeps from the probes; the callback fills it."""

    want: int
    """Outcomes to see before ``done`` is set (the example's stop condition)."""
    last_rtt_ms: dict[str, float] = field(default_factory=dict)
    timeouts: dict[str, int] = field(default_factory=dict)
    seen: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def on_outcome(self, outcome: ProbeOutcome) -> None:
        """The callback: microseconds of work on the agent's loop."""
        key = f"{outcome.target.name}/{outcome.mode.value}"
        latency_ms, jitter_ms, stability_pct, timed_out = apm_tuple(outcome)
        if latency_ms is not None:
            self.last_rtt_ms[key] = round(latency_ms, 3)
        if timed_out:
            self.timeouts[key] = self.timeouts.get(key, 0) + 1
        self.seen += 1
        print(
            f"outcome {key} #{outcome.sequence} {outcome.outcome.value} "
            f"latency_ms={latency_ms} jitter_ms={jitter_ms} stability={stability_pct:.1f}%"
        )
        if self.seen >= self.want:
            self.done.set()


def build_app(board: LatencyBoard) -> web.Application:
    """The 'existing' application: one route that reads the board."""

    async def latency(_: web.Request) -> web.Response:
        return web.json_response(
            {"last_rtt_ms": board.last_rtt_ms, "timeouts": board.timeouts, "seen": board.seen}
        )

    app = web.Application()
    app.router.add_get("/genesys-latency", latency)
    return app


async def main(argv: list[str] | None = None) -> int:
    """Run the app and the agent together until ``--count`` outcomes were seen."""
    p = argparse.ArgumentParser(description="otel-genesys embedded in an asyncio app")
    p.add_argument("--base-url", default=os.environ.get("GENESYS_BASE_URL"))
    p.add_argument("--client-id", default=os.environ.get("GENESYS_CLIENT_ID"))
    p.add_argument("--count", type=int, default=20, help="outcomes to wait for")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between pings")
    p.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")
    args = p.parse_args(argv)

    async with contextlib.AsyncExitStack() as stack:
        base_url, client_id = args.base_url, args.client_id
        secret = os.environ.get("GENESYS_CLIENT_SECRET")
        if base_url is None:
            from otel_genesys.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator

            emulator = await stack.enter_async_context(Emulator())
            base_url = emulator.base_url
            client_id, secret = DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
        if not client_id or not secret:
            print("set GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET for --base-url", file=sys.stderr)
            return 2

        # The application's own server, on the same loop as the agent.
        board = LatencyBoard(want=args.count)
        runner = web.AppRunner(build_app(board))
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]

        sink = None
        if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            from otel_genesys.telemetry import TelemetrySettings, setup_telemetry

            telemetry = setup_telemetry(TelemetrySettings(exporter="otlp"))
            stack.callback(telemetry.shutdown, 5.0)
            sink = telemetry.recorder

        interval_ns = int(args.interval * 1e9)
        target = NotificationTarget(
            name="embedded",
            region=None,
            base_url=base_url,
            oauth=OAuthClient(client_id, Secret(secret)),
            topics=(),
            modes=frozenset({ProbeMode.NOTIFICATION}),
            monitor=MonitorConfig(
                interval_ns=interval_ns, probe_frequency_limit_ns=min(interval_ns, 1_000_000_000)
            ),
        )
        agent = Agent([target], sink=sink)
        agent.on_outcome(board.on_outcome)
        await agent.start()
        stack.push_async_callback(agent.stop)

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(board.done.wait(), args.timeout)

        # The app keeps serving while the agent probes: ask it what it knows.
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/genesys-latency") as resp,
        ):
            print("app says", json.dumps(await resp.json(), sort_keys=True))
        return 0 if board.seen >= args.count else 1
    return 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
