"""The runnable examples run: each is executed against the emulator so it cannot rot."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_helpers import EXAMPLES, ROOT

from otel_genesys.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "GENESYS_"))  # a developer's Collector must not leak in
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


async def _run(script: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(script), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_quickstart_starts_its_own_emulator() -> None:
    done = await _run(
        EXAMPLES / "quickstart_emulator.py",
        "--duration",
        "1.2",
        "--interval",
        "0.2",
        env=_env(OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "started an embedded Genesys Cloud emulator" in done.stdout
    summaries = [line for line in done.stdout.splitlines() if line.startswith("summary ")]
    assert {line.split()[1].rstrip(":") for line in summaries} == {
        "quickstart/control",
        "quickstart/notification",
    }
    for line in summaries:
        ok = int(line.split("ok=")[1].split()[0])
        assert ok >= 2, line


async def test_embed_asyncio_uses_the_given_org_and_calls_back() -> None:
    async with Emulator() as emulator:
        done = await _run(
            EXAMPLES / "embed_asyncio.py",
            "--count",
            "4",
            "--interval",
            "0.2",
            "--base-url",
            emulator.base_url,
            env=_env(
                GENESYS_CLIENT_ID=DEFAULT_CLIENT_ID, GENESYS_CLIENT_SECRET=DEFAULT_CLIENT_SECRET
            ),
        )
        counters = emulator.counters.snapshot()["global"]
    assert done.returncode == 0, done.stderr[-2000:]
    outcomes = [line for line in done.stdout.splitlines() if line.startswith("outcome ")]
    assert len(outcomes) >= 4
    assert all(" ok " in line for line in outcomes[:4]), outcomes
    (app_line,) = [line for line in done.stdout.splitlines() if line.startswith("app says ")]
    served = json.loads(app_line.removeprefix("app says "))
    assert served["seen"] >= 4
    assert served["last_rtt_ms"]["embedded/notification"] > 0
    # It talked to *our* emulator, not an embedded one of its own.
    assert counters["tokens_issued"] >= 1
    assert counters["pings_json"] >= 4
    assert DEFAULT_CLIENT_SECRET not in done.stdout + done.stderr


async def test_embed_asyncio_refuses_a_base_url_without_credentials() -> None:
    done = await _run(EXAMPLES / "embed_asyncio.py", "--base-url", "http://127.0.0.1:9", env=_env())
    assert done.returncode == 2
    assert "GENESYS_CLIENT_SECRET" in done.stderr


@pytest.mark.parametrize("script", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_every_python_example_is_run_by_some_test(script: Path) -> None:
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    assert script.name in tests, f"{script.name} is not run by any test"
    assert '__name__ == "__main__"' in script.read_text()
