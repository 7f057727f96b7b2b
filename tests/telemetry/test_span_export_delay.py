"""Span batching delay: the OpenTelemetry default, OTEL_BSP_SCHEDULE_DELAY, or a setting."""

from __future__ import annotations

import time

import pytest

from otel_genesys.errors import ConfigError
from otel_genesys.telemetry import TelemetrySettings, setup_telemetry
from otel_genesys.telemetry.settings import DEFAULT_SPAN_EXPORT_DELAY_S
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.outcomes import make_outcome


def test_the_default_is_the_opentelemetry_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_BSP_SCHEDULE_DELAY", raising=False)
    assert TelemetrySettings().span_delay_s() == DEFAULT_SPAN_EXPORT_DELAY_S == 5.0


def test_the_environment_variable_is_read_in_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "2500")
    assert TelemetrySettings().span_delay_s() == 2.5
    assert TelemetrySettings(span_export_delay_s=0.25).span_delay_s() == 0.25  # setting wins


@pytest.mark.parametrize("raw", ["soon", "-5", "0", "99999999999"])
def test_a_bad_environment_value_warns_and_keeps_the_default(
    raw: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", raw)
    assert TelemetrySettings().span_delay_s() == DEFAULT_SPAN_EXPORT_DELAY_S
    assert "OTEL_BSP_SCHEDULE_DELAY" in caplog.text


@pytest.mark.parametrize("delay", [0.0, -1.0, 3601.0])
def test_an_out_of_range_setting_is_a_config_error(delay: float) -> None:
    with pytest.raises(ConfigError, match="span_export_delay_s"):
        TelemetrySettings(span_export_delay_s=delay)


@pytest.mark.parametrize("exporter", ["otlp_grpc", "otlp_http"])
def test_probe_spans_leave_after_the_delay_not_one_request_each(exporter: str) -> None:
    """Over a real socket: spans recorded a few at a time leave together, once the
    delay has passed; with a short delay they leave sooner."""
    with OtlpReceiver() as rx:
        endpoint = rx.endpoint(exporter)
        telemetry = setup_telemetry(
            TelemetrySettings(exporter=exporter, endpoint=endpoint, span_export_delay_s=1.5)  # type: ignore[arg-type]
        )
        try:
            started = time.monotonic()
            for seq in range(1, 6):
                telemetry.recorder.outcome(make_outcome(seq))
                time.sleep(0.1)
            time.sleep(0.5)
            assert rx.spans() == []  # still batching: no request per span
            deadline = started + 10.0
            while len(rx.spans()) < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
            waited = time.monotonic() - started
            assert len(rx.spans()) == 5
            assert 1.2 <= waited <= 6.0, waited
            assert len(rx.requests("traces")) == 1  # all five in one export
        finally:
            telemetry.shutdown(5.0)
