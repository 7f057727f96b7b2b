"""``otel-genesys check`` through ``cli.main``: summary, ``--threshold``, exit codes 0/1/2/3."""

from __future__ import annotations

import asyncio
import json
import pathlib

import pytest

from otel_genesys.cli import EXIT_BREACH, EXIT_CONFIG, EXIT_OK, EXIT_UNREACHABLE, main
from otel_genesys.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator
from otel_genesys.emulator.faults import DelaySpec, FaultSpec

FAST = ["--count", "3", "--interval", "100ms"]


@pytest.fixture(autouse=True)
def _isolated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path, restore_logging: None
) -> None:
    """No stray settings.toml or OTEL_GENESYS_* variable changes what is checked."""
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("OTEL_GENESYS_") or name.startswith("OTEL_EXPORTER_OTLP"):
            monkeypatch.delenv(name)


def _settings(tmp_path: pathlib.Path, emu: Emulator, extra: str = "") -> str:
    path = tmp_path / "faulty.toml"
    path.write_text(
        f"""
[targets.faulty]
base_url = "{emu.base_url}"
client_id = "{DEFAULT_CLIENT_ID}"
client_secret = "{DEFAULT_CLIENT_SECRET}"
mode = "control"
{extra}
"""
    )
    return str(path)


def test_exit_0_against_the_embedded_emulator(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", *FAST, "--threshold", "rtt.p99<1s", "--threshold", "stability>=99%"])
    out = capsys.readouterr().out
    assert code == EXIT_OK, out
    lines = out.splitlines()
    header = next(ln for ln in lines if ln.split()[:2] == ["target", "mode"])
    for column in ("sent", "ok", "timeouts", "p50", "p99", "stability", "degraded"):
        assert column in header
    rows = [ln.split() for ln in lines if ln.split()[:1] == ["emulator"]]
    table_rows = [r for r in rows if len(r) > 5 and r[2].isdigit()]  # not the per-probe lines
    assert {r[1] for r in table_rows} == {"control", "notification"}
    assert all(r[2] == "3" and r[3] == "3" and r[4] == "0" for r in table_rows)  # sent ok t/o
    verdicts = [
        ln.split() for ln in lines if ln.split()[:1] in (["rtt.p99<1s"], ["stability>=99%"])
    ]
    assert len(verdicts) == 4 and all(v[-1] == "ok" for v in verdicts)
    assert lines[-1].startswith("check passed (exit 0)")


def test_exit_1_when_a_strict_threshold_fails(capsys: pytest.CaptureFixture[str]) -> None:
    # No loopback round trip takes less than a microsecond.
    code = main(["check", *FAST, "--threshold", "rtt.min<0.001ms", "--threshold", "timeouts==0"])
    out = capsys.readouterr().out
    assert code == EXIT_BREACH, out
    failed = [ln.split() for ln in out.splitlines() if ln.startswith(" rtt.min<0.001ms")]
    assert len(failed) == 2 and all(f[-1] == "FAILED" for f in failed)
    held = [ln.split() for ln in out.splitlines() if ln.startswith(" timeouts==0")]
    assert len(held) == 2 and all(h[-1] == "ok" for h in held)
    assert "--threshold failed: rtt.min<0.001ms" in out.splitlines()[-1]


def test_json_summary_carries_threshold_verdicts(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", *FAST, "--json", "--threshold", "rtt.max<0.001ms"])
    lines = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert code == EXIT_BREACH
    probes = [d for d in lines if d["type"] == "probe"]
    assert len(probes) == 6
    summary = lines[-1]
    assert summary["type"] == "summary" and summary["exit_code"] == 1
    assert {t["mode"] for t in summary["thresholds"]} == {"control", "notification"}
    assert all(t["passed"] is False for t in summary["thresholds"])


async def test_exit_1_with_a_pong_delay_fault(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu = Emulator()
    await emu.start("127.0.0.1", 0)
    try:
        emu.faults.set_global(FaultSpec(pong_delay=DelaySpec.fixed(0.05)))
        config = _settings(tmp_path, emu, "max_latency_ms = 20")
        # The emulator serves from this loop; the command runs its own in a thread.
        code = await asyncio.to_thread(main, ["check", "--config", config, *FAST])
    finally:
        await emu.stop()
    out = capsys.readouterr().out
    assert code == EXIT_BREACH, out
    row = next(
        ln.split()
        for ln in out.splitlines()
        if ln.split()[:2] == ["faulty", "control"] and ln.split()[2].isdigit()
    )
    assert row[-1] == "latency=3"
    p50_ms = float(row[6])
    assert 50 <= p50_ms < 60  # the injected 50 ms, plus the loopback floor
    assert "configured threshold breach" in out.splitlines()[-1]


async def test_exit_0_with_a_delay_inside_the_thresholds(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu = Emulator()
    await emu.start("127.0.0.1", 0)
    try:
        emu.faults.set_global(FaultSpec(pong_delay=DelaySpec.fixed(0.005)))
        config = _settings(tmp_path, emu)
        args = ["check", "--config", config, *FAST, "--threshold", "rtt.p50>=5ms"]
        code = await asyncio.to_thread(main, args)
    finally:
        await emu.stop()
    assert code == EXIT_OK, capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threshold", "rtt.p99<<3ms"], "expected a number at column 9"),
        (["--threshold", "latency<3ms"], "unknown metric 'latency'"),
        (["--threshold", "stability>99"], "write 0.99 or 99%"),
        (["--interval", "10ms"], "--interval: must be at least 100ms"),
        (["--count", "0"], "--count: must be at least 1"),
        (["--connect-timeout", "soon"], "--connect-timeout"),
    ],
)
def test_exit_2_on_a_bad_expression_or_option(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", *args]) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""  # nothing was probed


def test_exit_2_on_a_bad_config_file(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[targets.x]\nurl = "http://not-a-websocket"\n')
    assert main(["check", "--config", str(path)]) == EXIT_CONFIG
    assert "targets" in capsys.readouterr().err


def test_exit_3_when_the_target_is_unreachable(
    free_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"ws://127.0.0.1:{free_port}/x"
    code = main(["check", *FAST, "--target", url, "--connect-timeout", "1s"])
    captured = capsys.readouterr()
    assert code == EXIT_UNREACHABLE, captured.out
    assert "UNREACHABLE" in captured.out
    assert "target: unreachable, last error: network error" in captured.out
    assert captured.out.splitlines()[-1] == "check failed (exit 3): unreachable: target"
    # Logs on stderr (not a terminal): JSON lines, each naming its target.
    records = [json.loads(ln) for ln in captured.err.splitlines() if ln.startswith("{")]
    about_target = [r for r in records if "target:" in r["message"]]
    assert about_target and all(r["target"] == "target" for r in about_target)
    assert any(r["message"].startswith("target: reconnecting after") for r in records)


def test_log_level_option_silences_info(free_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"ws://127.0.0.1:{free_port}/x"
    args = ["check", *FAST, "--target", url, "--connect-timeout", "500ms", "--log-level", "error"]
    assert main(args) == EXIT_UNREACHABLE
    records = [json.loads(ln) for ln in capsys.readouterr().err.splitlines() if ln.startswith("{")]
    assert all(r["level"] in ("ERROR", "CRITICAL") for r in records)
