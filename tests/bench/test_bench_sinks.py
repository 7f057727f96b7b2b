"""bench._otlp_sink: OTLP exports counted and answered, over sockets; the gRPC sink also
as the process ``bench.soak`` starts."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from bench._otlp_sink import HttpDiscardSink


def _post(url: str, body: bytes) -> int:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/x-protobuf"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_exports_are_counted_per_signal_and_answered_empty() -> None:
    with HttpDiscardSink() as sink:
        assert sink.endpoint.startswith("http://127.0.0.1:")
        assert _post(f"{sink.endpoint}/v1/traces", b"x" * 10) == 200
        assert _post(f"{sink.endpoint}/v1/traces", b"y" * 5) == 200
        assert _post(f"{sink.endpoint}/v1/metrics", b"z") == 200
        assert _post(f"{sink.endpoint}/v1/other", b"q") == 404  # not a signal: not counted
        assert sink.snapshot() == {"traces": (2, 15), "metrics": (1, 1), "logs": (0, 0)}


def test_the_agents_otlp_http_exporter_reaches_it() -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    from otel_genesys.telemetry.raw_export import EncodedHttpSpanExporter

    with HttpDiscardSink() as sink:
        exporter = EncodedHttpSpanExporter(endpoint=f"{sink.endpoint}/v1/traces")
        try:
            assert exporter.export_encoded(b"\x0a\x00", 1)
        finally:
            exporter.shutdown()
        assert sink.snapshot()["traces"] == (1, 2)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_the_sink_process_serves_until_stdin_closes_and_reports_what_it_got(
    protocol: str,
) -> None:
    """``bench.soak`` reads the endpoint from the first line: without it the agent would
    export to the default localhost:4317 and the soak would judge an agent whose exports
    all fail."""
    import subprocess
    import sys
    from pathlib import Path

    from otel_genesys.telemetry.raw_export import EncodedGrpcSpanExporter, EncodedHttpSpanExporter

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench._otlp_sink", protocol], cwd=root, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdin is not None
        endpoint = proc.stdout.readline().strip()
        assert endpoint.startswith("http://127.0.0.1:")
        exporter: EncodedGrpcSpanExporter | EncodedHttpSpanExporter = (
            EncodedGrpcSpanExporter(endpoint=endpoint, insecure=True)
            if protocol == "grpc"
            else EncodedHttpSpanExporter(endpoint=f"{endpoint}/v1/traces")
        )
        try:
            assert exporter.export_encoded(b"\x0a\x00", 1)
        finally:
            exporter.shutdown()
        proc.stdin.close()
        assert proc.stdout.readline().split() == ["traces=1/2", "metrics=0/0", "logs=0/0"]
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
