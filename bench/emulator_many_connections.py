"""Sanity check: thousands of notification sockets on one emulator process.

Starts ``otel-genesys emulator`` in its own process (heartbeat every 1 s),
opens N channels and sockets from this process, sends one JSON ping per
socket per second for a while, and prints the server's RSS and CPU, the
heartbeats received and the RTT percentiles seen by the (busy) client.

    .venv/bin/python bench/emulator_many_connections.py [--connections 2000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import statistics
import sys
import tempfile
import time

import aiohttp
import psutil
import websockets


async def _client(uri: str, stop_at: float, rtts: list[float], beats: list[int]) -> None:
    async with websockets.connect(uri, max_queue=None, ping_interval=None) as ws:
        await asyncio.sleep(random.random())
        next_ping = time.monotonic()
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            await ws.send('{"message":"ping"}')
            while True:
                msg = await ws.recv()
                if '"pong"' in str(msg):
                    rtts.append(time.perf_counter() - started)
                    break
                beats[0] += 1
            next_ping += 1.0
            await asyncio.sleep(max(0.0, next_ping - time.monotonic()))


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    # Genesys allows 20 channels per client; lift that so one client can hold them all.
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as config:
        config.write(f"channels_per_client = {args.connections + 1}\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "otel_genesys", "emulator", "--port", "0", "--config", config.name,
        "--heartbeat-interval", "1", stdout=asyncio.subprocess.PIPE)
    server = psutil.Process(proc.pid)
    try:
        assert proc.stdout is not None
        base_url = (await proc.stdout.readline()).decode().split()[-1]
        rss_idle = server.memory_info().rss
        basic = base64.b64encode(b"otel-genesys-demo:demo-secret").decode()
        async with aiohttp.ClientSession() as http:
            async with http.post(base_url + "/oauth/token", data="grant_type=client_credentials",
                                 headers={"Authorization": "Basic " + basic,
                                          "Content-Type": "application/x-www-form-urlencoded"}
                                 ) as resp:
                token = (await resp.json())["access_token"]
            uris = []
            for _ in range(args.connections):
                async with http.post(base_url + "/api/v2/notifications/channels",
                                     headers={"Authorization": "Bearer " + token}) as resp:
                    uris.append((await resp.json())["connectUri"])
        rtts: list[float] = []
        beats = [0]
        stop_at = time.monotonic() + args.seconds
        cpu_before = server.cpu_times()
        started = time.monotonic()
        results = await asyncio.gather(*(_client(u, stop_at, rtts, beats) for u in uris),
                                       return_exceptions=True)
        wall = time.monotonic() - started
        cpu_after = server.cpu_times()
        failures = [r for r in results if isinstance(r, BaseException)]
        rss = server.memory_info().rss
        cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / wall
        rtts.sort()
        print(f"connections={args.connections} failures={len(failures)} seconds={wall:.1f}")
        if failures:
            print("first failure:", repr(failures[0]))
        print(f"server RSS idle={rss_idle / 2**20:.0f} MiB loaded={rss / 2**20:.0f} MiB "
              f"(~{(rss - rss_idle) / max(1, args.connections) / 1024:.0f} KiB per socket)")
        print(f"server CPU {cpu * 100:.0f}% of one core; heartbeats received={beats[0]}")
        if rtts:
            print(f"client-seen RTT p50={statistics.median(rtts) * 1e3:.2f} ms "
                  f"p99={rtts[int(0.99 * (len(rtts) - 1))] * 1e3:.2f} ms over {len(rtts)} pings")
    finally:
        proc.terminate()
        await proc.wait()
        os.unlink(config.name)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
