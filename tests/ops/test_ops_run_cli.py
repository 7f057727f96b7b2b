"""``otel-genesys run`` wiring: --health/--prometheus over HTTP, --live without a terminal."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import pathlib
import socket

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from otel_genesys.cli import EXIT_CONFIG, main
from otel_genesys.cli.run_cmd import _live_wanted


@pytest.fixture(autouse=True)
def _isolated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path, restore_logging: None
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("OTEL_GENESYS_", "OTEL_EXPORTER_OTLP")):
            monkeypatch.delenv(name)


async def test_run_serves_health_and_prometheus_while_monitoring(
    free_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "run",
        "--duration",
        "1.5s",
        "--interval",
        "100ms",
        "--health",
        f"127.0.0.1:{free_port}",
        "--prometheus",
        "--live",  # stdout is not a terminal here: plain lines instead
    ]
    command = asyncio.create_task(asyncio.to_thread(main, args))
    base = f"http://127.0.0.1:{free_port}"
    ready = metrics = None
    async with aiohttp.ClientSession() as http:
        for _ in range(250):
            await asyncio.sleep(0.02)
            try:
                async with http.get(base + "/readyz") as resp:
                    ready = resp.status
                if ready != 200:
                    continue
                async with http.get(base + "/metrics") as resp:
                    text = await resp.text()
                families = {f.name: f for f in text_string_to_metric_families(text)}
                if "genesys_websocket_probes" in families:
                    metrics = families
                    break
            except aiohttp.ClientConnectionError:
                continue
    code = await command
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert ready == 200
    assert metrics is not None and "genesys_websocket_rtt_seconds" in metrics
    assert "--live needs a terminal" in captured.err
    assert "monitoring the embedded Genesys Cloud emulator" in captured.err


def test_bad_health_address_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--health", "nope", "--duration", "1s"]) == EXIT_CONFIG
    assert "--health" in capsys.readouterr().err


def test_health_port_in_use_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["run", "--health", str(port), "--duration", "1s", "--interval", "100ms"])
    assert code == EXIT_CONFIG
    assert f"cannot serve the health endpoint on 127.0.0.1:{port}" in capsys.readouterr().err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("live", "as_json", "stream", "wanted"),
    [
        (True, False, _Tty(), True),
        (True, False, io.StringIO(), False),  # not a terminal: plain lines
        (True, True, _Tty(), False),  # --json wins
        (False, False, _Tty(), False),
    ],
)
def test_live_only_on_a_terminal(
    live: bool, as_json: bool, stream: io.StringIO, wanted: bool
) -> None:
    args = argparse.Namespace(live=live, json=as_json)
    assert _live_wanted(args, stream) is wanted
