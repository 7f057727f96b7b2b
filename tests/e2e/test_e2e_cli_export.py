"""``otel-genesys run`` exports through its separate export process, end to end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from otel_genesys.telemetry import names as n
from tests.support.fixtures import otlp_receiver  # noqa: F401
from tests.support.otlp_receiver import OtlpReceiver

ROOT = Path(__file__).resolve().parents[2]


def _run(
    receiver: OtlpReceiver, tmp_path: Path, isolation: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HOSTNAME"))}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.grpc_endpoint,
        OTEL_GENESYS_TELEMETRY__EXPORT_INTERVAL="500ms",
        OTEL_GENESYS_TELEMETRY__ISOLATION=isolation,
        PYTHONPATH=str(ROOT),
    )
    return subprocess.run(
        [sys.executable, "-m", "otel_genesys", "run", "--duration", "3s", "--interval", "200ms",
         "--log-level", "DEBUG"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_run_exports_to_the_collector(
    otlp_receiver: OtlpReceiver,  # noqa: F811
    tmp_path: Path,
    isolation: str,
) -> None:
    done = _run(otlp_receiver, tmp_path, isolation)
    assert done.returncode == 0, done.stderr[-3000:]
    assert ("telemetry export process" in done.stderr) is (isolation == "process")
    # 3 s at 5 Hz, two probe modes: every span made it out before exit
    assert otlp_receiver.wait_for(lambda r: len(r.spans()) >= 20, 10.0), len(otlp_receiver.spans())
    probes = [s for s in otlp_receiver.spans() if s.name == n.SPAN_PROBE]
    assert len(probes) >= 20
    assert n.METRIC_RTT in otlp_receiver.metric_names()
    found = re.search(r"telemetry export process (\d+) ready", done.stderr)
    if isolation == "process":
        assert found is not None
        assert not Path(f"/proc/{found.group(1)}").exists(), "the export process outlived run"
