"""The example app, unchanged, under ``opentelemetry-instrument`` against the emulator.

The spans must arrive at a real OTLP gRPC receiver: discovery through the entry
point, SDK set-up from the standard ``OTEL_*`` variables, measurement, export at exit.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from otel_genesys.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator
from otel_genesys.telemetry import names as n
from tests.support.otlp_receiver import OtlpReceiver, attributes_of

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "instrumented_app.py"
INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"


@pytest.mark.skipif(not INSTRUMENT.exists(), reason="opentelemetry-instrument not installed")
@pytest.mark.parametrize("client", ["aiohttp", "websockets"])
async def test_example_app_under_opentelemetry_instrument(
    otlp_receiver: OtlpReceiver, client: str
) -> None:
    async with Emulator() as emu:
        env = {
            **os.environ,
            "GENESYS_BASE_URL": emu.base_url,
            "GENESYS_CLIENT_ID": DEFAULT_CLIENT_ID,
            "GENESYS_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "APP_CLIENT": client,
            "APP_DURATION": "1.0",
            "APP_PING_INTERVAL": "0.2",
            "OTEL_GENESYS_INSTRUMENT_HOSTS": "127.0.0.1",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.grpc_endpoint,
            "OTEL_SERVICE_NAME": "instrumented-example",
            # Metrics leave while the app runs too, not only in the exit flush.
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
        }
        env.pop("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", None)
        proc = await asyncio.create_subprocess_exec(
            str(INSTRUMENT), sys.executable, str(APP),
            env=env, cwd=str(ROOT),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert out.decode().startswith(f"client={client} pings=")

    def pings(rx: OtlpReceiver) -> list[dict[str, object]]:
        return [attributes_of(s) for s in rx.spans() if s.name == n.SPAN_PROBE]

    assert otlp_receiver.wait_for(lambda rx: len(pings(rx)) >= 3, timeout=10), (
        out.decode() + err.decode()[-2000:] + f" spans={[s.name for s in otlp_receiver.spans()]}"
    )
    json_pings = [a for a in pings(otlp_receiver) if a[n.PROBE_MODE] == "notification"]
    assert len(json_pings) >= 3
    assert all(a[n.PROBE_OUTCOME] == "ok" for a in json_pings)
    assert all(a[n.SERVER_ADDRESS] == "127.0.0.1" for a in json_pings)
    assert otlp_receiver.resource_attributes()["service.name"] == "instrumented-example"
    assert n.METRIC_RTT in otlp_receiver.metric_names()
    assert DEFAULT_CLIENT_SECRET.encode() not in otlp_receiver.raw_bytes()
