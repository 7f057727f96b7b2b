"""A bare aiohttp WebSocket pong server: the cheapest honest peer for scale runs.

It answers every RFC 6455 ping frame with a pong echoing the payload and
counts what it saw, so the harness can check "probes lost" against the far
end. Runs in its own process so the client being measured shares nothing
with it but the loopback interface::

    python -m bench.pong_server --port 0
    # prints: ws://127.0.0.1:PORT/ws   (counters at http://127.0.0.1:PORT/counters)

Its garbage collector makes no full collection by itself; ``POST /collect``
runs one, which the harness asks for between clients (`quiet_full_collections`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
import time
from dataclasses import asdict, dataclass

from aiohttp import WSMsgType, web

BACKLOG = 4096
"""Listen backlog: the agent opens thousands of sockets at once at start-up."""


@dataclass(slots=True)
class Counters:
    """What the server saw since it started."""

    connections: int = 0
    """Sockets open right now."""
    accepted: int = 0
    pings: int = 0
    pongs: int = 0
    gc_pauses: int = 0
    """Collections by the cyclic garbage collector: each stops every pong."""
    gc_pause_s: float = 0.0
    """Their total time."""
    gc_pause_max_s: float = 0.0
    """The longest one since ``/counters`` was last read (each read starts it afresh)."""


class GcClock:
    """Times this process's garbage collections into ``counters`` (``gc.callbacks``).

    With thousands of sockets open a full collection of the server's heap can take
    long enough to hold back every pong at once; the harness reads these counters
    around each client's run, so a client's RTT tail can be told from the server's.
    """

    __slots__ = ("_counters", "_started")

    def __init__(self, counters: Counters) -> None:
        self._counters = counters
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        c = self._counters
        c.gc_pauses += 1
        c.gc_pause_s += took
        if took > c.gc_pause_max_s:
            c.gc_pause_max_s = took


async def _socket(request: web.Request) -> web.WebSocketResponse:
    counters: Counters = request.app[COUNTERS]
    # autoping off: aiohttp would answer pings itself and we could not count them.
    ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 20)
    await ws.prepare(request)
    counters.connections += 1
    counters.accepted += 1
    ping = WSMsgType.PING
    try:
        while True:
            msg = await ws.receive()
            if msg.type is ping:
                counters.pings += 1
                await ws.pong(msg.data)
                counters.pongs += 1
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                              WSMsgType.ERROR):
                break
    finally:
        counters.connections -= 1
    return ws


async def _collect(request: web.Request) -> web.Response:
    """A full collection now: the harness asks for one between clients, while no
    client is measured (see `quiet_full_collections`)."""
    started = time.perf_counter()
    found = gc.collect()
    return web.json_response({"collected": found, "seconds": time.perf_counter() - started})


FULL_COLLECTION_NEVER = 1 << 30
"""Young-generation collections before a full one: never, in a bench run."""


def quiet_full_collections() -> None:
    """No automatic full collection in this process: only `_collect` runs one.

    A full collection over the heap of 10,000 open sockets took 190-300 ms here,
    holding back every pong at once, in the middle of whichever client was being
    measured (``python -m bench --only scale --counts 1000,10000 --reps 2``, the
    report's *server GC max* column). The start-up heap is frozen out of the
    collector's sight, and the oldest generation's threshold is set out of reach;
    the young generations are collected as before.
    """
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_NEVER)


async def _counters(request: web.Request) -> web.Response:
    counters = request.app[COUNTERS]
    body = asdict(counters)
    counters.gc_pause_max_s = 0.0
    return web.json_response(body)


COUNTERS: web.AppKey[Counters] = web.AppKey("counters", Counters)


def make_app() -> web.Application:
    """The application: ``/ws`` (pong) and ``/counters`` (JSON)."""
    app = web.Application()
    app[COUNTERS] = counters = Counters()
    clock = GcClock(counters)
    gc.callbacks.append(clock)

    async def forget_clock(_: web.Application) -> None:
        gc.callbacks.remove(clock)

    app.on_cleanup.append(forget_clock)
    app.router.add_get("/ws", _socket)
    app.router.add_get("/counters", _counters)
    app.router.add_post("/collect", _collect)
    return app


async def serve(host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT; print the WebSocket URL first."""
    quiet_full_collections()
    runner = web.AppRunner(make_app(), handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=BACKLOG)
    await site.start()
    server = site._server
    assert server is not None
    bound = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"ws://{host}:{bound}/ws", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``--host``, ``--port`` (0 = any free port)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
