"""Overhead of the auto-instrumentation on an app's message path.

An echo server runs in its own process (so its cost is not shared with the
measured client). In this process, one client connection sends ``--messages``
text frames (``--size`` bytes, default 1 KiB, shaped like notification events;
plus a Genesys JSON ping every ``--ping-every`` messages) without waiting, and reads every
echo back. Rounds alternate uninstrumented / instrumented in the same run
(``instrument()`` / ``uninstrument()`` between them); the figure is the median,
over the pairs of adjacent rounds, of

    ratio = instrumented throughput / uninstrumented throughput

per client library (target: >= 0.9)::

    .venv/bin/python bench/instrumentation_overhead.py [--messages 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

PING = '{"message":"ping"}'
PONG = '{"topicName":"channel.metadata","eventBody":{"message":"pong"}}'


def make_event(size: int) -> str:
    """A notification-shaped JSON text of about ``size`` bytes."""
    head = {"topicName": "v2.routing.queues.0f1e2d3c.conversations", "version": "2"}
    body = {"id": "a" * 36, "state": "connected", "padding": ""}
    base = len(json.dumps({**head, "eventBody": body}))
    body["padding"] = "x" * max(0, size - base)
    return json.dumps({**head, "eventBody": body})


def _serve(port_out: Any) -> None:
    from aiohttp import WSMsgType, web

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(PONG if msg.data == PING else msg.data)
        return ws

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/channels/bench", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_out.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


async def _aiohttp_round(url: str, messages: int, ping_every: int, event: str) -> float:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.ws_connect(url, compress=0) as ws:
        start = time.perf_counter()

        async def sender() -> None:
            for i in range(messages):
                await ws.send_str(PING if i % ping_every == 0 else event)

        task = asyncio.create_task(sender())
        for _ in range(messages):
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"unexpected {msg.type}")
        await task
        return messages / (time.perf_counter() - start)


async def _websockets_round(url: str, messages: int, ping_every: int, event: str) -> float:
    from websockets.asyncio.client import connect

    async with connect(url, compression=None, max_queue=None) as ws:
        start = time.perf_counter()

        async def sender() -> None:
            for i in range(messages):
                await ws.send(PING if i % ping_every == 0 else event)

        task = asyncio.create_task(sender())
        for _ in range(messages):
            await ws.recv()
        await task
        return messages / (time.perf_counter() - start)


Round = Callable[[str, int, int, str], Awaitable[float]]


async def measure(url: str, round_: Round, args: argparse.Namespace) -> tuple[float, float, float]:
    """Median throughput (messages/s) without and with instrumentation, median pair ratio."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    from otel_genesys.instrumentation import GenesysWebSocketInstrumentor, shutdown_all

    tracer_provider, meter_provider = TracerProvider(), MeterProvider()
    inst = GenesysWebSocketInstrumentor()
    event = make_event(args.size)

    async def one(instrumented: bool) -> float:
        if not instrumented:
            return await round_(url, args.messages, args.ping_every, event)
        inst.instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider, hosts=["127.0.0.1"]
        )
        try:
            return await round_(url, args.messages, args.ping_every, event)
        finally:
            inst.uninstrument()

    await one(False)  # warm-up
    await one(True)
    plain: list[float] = []
    instr: list[float] = []
    for i in range(args.rounds):
        # Alternate which goes first, so drift in machine load hits both alike.
        order = (False, True) if i % 2 == 0 else (True, False)
        for flag in order:
            (instr if flag else plain).append(await one(flag))
    shutdown_all(5.0)
    ratio = statistics.median(a / b for a, b in zip(instr, plain, strict=True))
    return statistics.median(plain), statistics.median(instr), ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--size", type=int, default=1024, help="bytes per event message")
    parser.add_argument("--ping-every", type=int, default=100)
    parser.add_argument("--client", choices=["aiohttp", "websockets", "both"], default="both")
    args = parser.parse_args(argv)

    ctx = mp.get_context("spawn")
    port_q: Any = ctx.Queue()
    server = ctx.Process(target=_serve, args=(port_q,), daemon=True)
    server.start()
    try:
        url = f"ws://127.0.0.1:{port_q.get(timeout=30)}/channels/bench"
        rounds: dict[str, Round] = {"aiohttp": _aiohttp_round, "websockets": _websockets_round}
        clients = list(rounds) if args.client == "both" else [args.client]
        worst = 1.0
        for name in clients:
            plain, instr, ratio = asyncio.run(measure(url, rounds[name], args))
            worst = min(worst, ratio)
            print(
                f"{name:10s} uninstrumented {plain:9.0f} msg/s  instrumented {instr:9.0f} msg/s"
                f"  ratio {ratio:.3f}"
            )
        print(f"ratio {worst:.3f} (worst client; {args.size}-byte events; target >= 0.9)")
        return 0 if worst >= 0.9 else 1
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    sys.exit(main())
