"""TelemetrySettings validation and the exporter-choice precedence."""

from __future__ import annotations

import pytest

from otel_genesys.errors import ConfigError
from otel_genesys.telemetry import TelemetrySettings, resolve_route


def test_defaults_and_header_mapping() -> None:
    s = TelemetrySettings(headers={"api-key": "k"})  # type: ignore[arg-type]
    assert s.headers == (("api-key", "k"),)
    assert s.exporter == "auto" and s.span_ratio == 1.0 and not s.logs_export


def test_invalid_settings_list_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        TelemetrySettings(exporter="zipkin", span_ratio=2.0, export_interval_ns=0)  # type: ignore[arg-type]
    assert len(info.value.problems) == 3


@pytest.mark.parametrize(
    ("exporter", "endpoint", "env", "expected"),
    [
        ("auto", None, {}, ("console", "console", "none")),
        ("auto", "http://c:4317", {}, ("grpc", "grpc", "none")),
        ("auto", None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, ("http", "http", "none")),
        ("auto", None, {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "console"},
         ("grpc", "console", "none")),
        ("otlp", None, {"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf"},
         ("grpc", "http", "none")),
        ("otlp_http", None, {"OTEL_TRACES_EXPORTER": "none"}, ("none", "http", "none")),
        ("otlp_grpc", None, {"OTEL_TRACES_EXPORTER": "console"}, ("grpc", "grpc", "none")),
        ("none", "http://c:4317", {}, ("none", "none", "none")),
    ],
)  # fmt: skip
def test_route_precedence(
    exporter: str, endpoint: str | None, env: dict[str, str], expected: tuple[str, str, str]
) -> None:
    s = TelemetrySettings(exporter=exporter, endpoint=endpoint)  # type: ignore[arg-type]
    got = (
        resolve_route(s, "traces", env),
        resolve_route(s, "metrics", env),
        resolve_route(s, "logs", env),
    )
    assert got == expected


def test_logs_follow_logs_export() -> None:
    s = TelemetrySettings(exporter="otlp_grpc", logs_export=True)
    assert resolve_route(s, "logs", {}) == "grpc"
    assert resolve_route(s, "logs", {"OTEL_LOGS_EXPORTER": "none"}) == "none"
    console = TelemetrySettings(exporter="console", logs_export=True)
    assert resolve_route(console, "logs", {}) == "none"
