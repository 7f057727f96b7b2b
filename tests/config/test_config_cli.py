"""``otel-genesys check-config`` on the shipped examples, in-process and as a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from otel_genesys.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "settings.toml"
BROKEN = ROOT / "examples" / "broken-settings.toml"
SECRET = "cli-secret-4f9a2b7c"
SECRET_VAR = "OTEL_GENESYS_TARGETS__PROD_EU__CLIENT_SECRET"

# One line per rule broken in examples/broken-settings.toml.
BROKEN_PATHS = [
    "logg",
    "defaults.intervall",
    "defaults.connection_id",
    "defaults.probe_frequency_limit",
    "defaults.max_latency_ms",
    "defaults.max_jitter_ms",
    "defaults.timeout",
    "defaults.drift.max_drift_ms",
    "defaults.drift.adjust_factor",
    "defaults.timeout_max",
    "targets.prod-eu.interval",
    "targets.prod-eu.region",
    "targets.prod-eu.client_secret",
    "targets.prod-eu.topics[0]",
    "targets.prod-eu.mode",
    "targets.nowhere",
    "targets.nowhere.client_secret",
    "targets.tutorial.url",
    "targets.tutorial.first_message",
    "telemetry.exporter",
    "telemetry.span_ratio",
    "log.level",
    "health.port",
    "health.enabled",
    "sharding.shard_index",
]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_GENESYS_"):
            monkeypatch.delenv(name)


def test_check_config_example_ok_and_redacted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SECRET_VAR, SECRET)
    assert main(["check-config", "--config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert SECRET not in out
    document = tomllib.loads(out)
    assert document["targets"]["prod-eu"]["client_secret"] == "***"
    assert document["targets"]["prod-eu"]["interval"] == "1s"
    assert f"# loaded: {EXAMPLE}" in out


def test_check_config_example_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SECRET_VAR, SECRET)
    assert main(["check-config", "--config", str(EXAMPLE), "--json"]) == 0
    out = capsys.readouterr().out
    assert SECRET not in out
    document = json.loads(out)
    assert document["valid"] is True
    assert document["sources"] == [str(EXAMPLE)]
    assert document["config"]["targets"]["prod-eu"]["client_secret"] == "***"
    assert document["config"]["targets"]["tutorial"]["url"].startswith("wss://")


def test_check_config_with_secrets_file_from_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(EXAMPLE, tmp_path / "settings.toml")
    secrets = tmp_path / ".secrets.toml"
    shutil.copy(ROOT / "examples" / ".secrets.toml.example", secrets)
    secrets.chmod(0o600)
    assert main(["check-config", "--config", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "replace-with-the-oauth-client-secret" not in out
    assert f"# loaded: {secrets}" in out


def test_check_config_example_without_secret_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(EXAMPLE)]) == 2
    err = capsys.readouterr().err
    assert "targets.prod-eu.client_secret: missing" in err


def test_check_config_broken_lists_every_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(BROKEN)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[0] == f"invalid configuration ({len(BROKEN_PATHS)} problems):"
    paths = [line.removeprefix("  - ").split(": ", 1)[0] for line in lines[1:]]
    assert paths == BROKEN_PATHS
    assert all(line.endswith(f"(from {BROKEN})") for line in lines[1:])


def test_check_config_broken_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(BROKEN), "--json"]) == 2
    document = json.loads(capsys.readouterr().out)
    assert document["valid"] is False
    assert len(document["problems"]) == len(BROKEN_PATHS)


def test_check_config_as_subprocess() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_GENESYS_")}
    command = [sys.executable, "-m", "otel_genesys", "check-config", "--config"]
    ok = subprocess.run(
        [*command, str(EXAMPLE)],
        env={**env, SECRET_VAR: SECRET},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert ok.returncode == 0, ok.stderr
    assert SECRET not in ok.stdout + ok.stderr
    assert 'client_secret = "***"' in ok.stdout

    bad = subprocess.run(
        [*command, str(BROKEN)], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert bad.returncode == 2
    assert sum(line.startswith("  - ") for line in bad.stderr.splitlines()) == len(BROKEN_PATHS)
