"""``otel-genesys emulator`` as a real process, and its flag parsing."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from otel_genesys.cli import EXIT_CONFIG, build_parser, main
from otel_genesys.cli.emulator_cmd import build_config
from otel_genesys.emulator import DelaySpec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "emulator.toml"


def test_flags_become_config() -> None:
    args = build_parser().parse_args([
        "emulator", "--config", str(EXAMPLE), "--heartbeat-interval", "250ms",
        "--pong-delay", "uniform:1ms,3ms", "--seed", "4", "--drop-probability", "0.2",
        "--close-after", "5:4001", "--handshake-status", "503", "--token-429-burst", "2",
        "--blackhole", "--heartbeat-stop", "--duplicate", "1", "--unsolicited", "2",
        "--reset-after", "9s", "--token-outage", "drop", "--token-lifetime", "60",
        "--handshake-delay", "10ms", "--channel-lifetime", "1h",
    ])
    cfg = build_config(args)
    f = cfg.faults
    assert cfg.heartbeat_interval_s == 0.25 and cfg.channel_lifetime_s == 3600
    assert f.pong_delay == DelaySpec.uniform(0.001, 0.003) and f.seed == 4
    assert (f.drop_probability, f.close_after_s, f.close_code) == (0.2, 5.0, 4001)
    assert (f.handshake_status, f.token_429_burst, f.blackhole, f.heartbeat_stop) == (
        503, 2, True, True)
    assert (f.duplicate, f.unsolicited_per_ping, f.reset_after_s) == (1, 2, 9.0)
    assert (f.token_outage, f.token_lifetime_s, f.handshake_delay_s) == ("drop", 60.0, 0.01)
    assert cfg.client("limited-client") is not None


def test_bad_flags_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "--pong-delay", "gamma:1ms"]) == EXIT_CONFIG
    assert "distribution" in capsys.readouterr().err
    assert main(["emulator", "--heartbeat-interval", "soon"]) == EXIT_CONFIG


async def test_runs_until_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "otel_genesys", "emulator", "--port", "0", "--duplicate", "1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert first.startswith("emulator listening on http://127.0.0.1:")
        base_url = first.split()[-1]
        rest = "".join([(await asyncio.wait_for(proc.stdout.readline(), 5)).decode()
                        for _ in range(3)])
        assert "otel-genesys-demo / demo-secret" in rest
        async with aiohttp.ClientSession() as http, http.get(
                base_url + "/__emulator__/faults") as resp:
            assert (await resp.json())["global"]["duplicate"] == 1
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
