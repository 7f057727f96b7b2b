"""The bench's pong server counts its own garbage collections, and the harness reads
them around each client: a server pause holds back every pong at once."""

from __future__ import annotations

import gc
import subprocess
import sys

import aiohttp

from bench.harness import server_gc
from bench.pong_server import FULL_COLLECTION_NEVER, GcClock, make_app
from tests.support.loopback import serve


async def _counters(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with session.get(url) as resp:
        data: dict[str, float] = await resp.json()
        return data


async def test_the_pong_server_times_its_collections_over_http() -> None:
    runner, port = await serve(make_app())
    url = f"http://127.0.0.1:{port}/counters"
    was_enabled = gc.isenabled()
    gc.disable()  # only the collections the test makes
    try:
        async with aiohttp.ClientSession() as session:
            before = await _counters(session, url)
            gc.collect()
            gc.collect()
            after = await _counters(session, url)
            again = await _counters(session, url)
            async with session.post(url.replace("/counters", "/collect")) as resp:
                collect = await resp.json()
            last = await _counters(session, url)
    finally:
        if was_enabled:
            gc.enable()
        await runner.cleanup()
    during = server_gc(before, after)
    assert during["server_gc_pauses"] >= 2  # each full collection, at least
    assert 0 < during["server_gc_pause_max_s"] <= during["server_gc_pause_s"]
    assert again["gc_pause_max_s"] == 0.0  # each read starts the longest pause afresh
    assert again["gc_pauses"] == after["gc_pauses"]
    # POST /collect: one full collection, timed, and counted like any other.
    assert collect["seconds"] > 0 and collect["collected"] >= 0
    assert last["gc_pauses"] >= again["gc_pauses"] + 1 and last["gc_pause_max_s"] > 0
    # The clock left gc.callbacks with the application.
    assert not any(isinstance(cb, GcClock) for cb in gc.callbacks)


def test_a_server_without_gc_counters_adds_nothing_to_a_result() -> None:
    assert server_gc({"pings": 1}, {"pings": 2}) == {}


def test_the_pong_server_process_makes_no_full_collection_by_itself() -> None:
    code = (
        "import gc\n"
        "from bench.pong_server import quiet_full_collections\n"
        "before = gc.get_threshold()\n"
        "quiet_full_collections()\n"
        "now = gc.get_threshold()\n"
        "print(before[:2] == now[:2], now[2], gc.get_freeze_count() > 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", str(FULL_COLLECTION_NEVER), "True"]
