"""bench._otlp_sink.HttpDiscardSink: OTLP/HTTP exports counted and answered, over a socket."""

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
