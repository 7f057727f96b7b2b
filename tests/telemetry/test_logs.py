"""Structured logs, the audit logger and secret redaction (logs and exported bytes)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from otel_genesys.core.events import AuditKind, LifecycleStep
from otel_genesys.secret import Secret
from otel_genesys.telemetry import TelemetrySettings, configure_logging, setup_telemetry
from otel_genesys.telemetry.logs import register_secret, scrub, unregister_secret
from tests.support.fixtures import MemoryTelemetry
from tests.support.otlp_receiver import OtlpReceiver, attributes_of
from tests.support.outcomes import make_event, make_lifecycle, make_outcome

SECRET = "s3cr3t-TOKEN-value-123"


@pytest.fixture
def secret() -> Iterator[str]:
    register_secret(SECRET)
    yield SECRET
    unregister_secret(SECRET)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handler = configure_logging("INFO", "json", stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_scrub_and_registry() -> None:
    register_secret(Secret("another-secret-value"))
    register_secret("abc")  # too short to register safely
    try:
        assert scrub("x another-secret-value y") == "x *** y"
        assert scrub("abc") == "abc"
    finally:
        unregister_secret("another-secret-value")
    assert scrub("another-secret-value") == "another-secret-value"


def test_audit_events_are_json_lines_from_the_worker_thread(
    memory_telemetry: MemoryTelemetry, log_stream: io.StringIO
) -> None:
    threads: list[str] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            threads.append(str(record.threadName))

    spy = Spy()
    logging.getLogger("otel_genesys.audit").addHandler(spy)
    try:
        memory_telemetry.recorder.event(
            make_event(AuditKind.RECONNECT, attributes=(("genesys.reconnect.cause", "rollover"),))
        )
        memory_telemetry.recorder.event(make_event(AuditKind.LATE_PONG, sequence=4))
        memory_telemetry.flush()
    finally:
        logging.getLogger("otel_genesys.audit").removeHandler(spy)
    assert threads == ["otel-genesys-telemetry"] * 2
    lines = [line for line in _lines(log_stream) if line["logger"] == "otel_genesys.audit"]
    reconnect, late = lines
    assert set(reconnect) == {"ts", "level", "logger", "message", "target", "event", "attrs"}
    assert reconnect["level"] == "INFO"
    assert reconnect["event"] == "genesys.connection.reconnect"
    assert reconnect["target"] == "demo"
    assert reconnect["attrs"] == {"genesys.reconnect.cause": "rollover"}
    assert late["level"] == "WARNING"
    assert late["attrs"] == {"genesys.probe.sequence": 4}


def test_text_format_on_a_tty() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("INFO", "auto", stream=stream)
    try:
        logging.getLogger("otel_genesys.audit").warning(
            "threshold breach", extra={"target": "demo", "event": "x", "attributes": {"k": 1}}
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    line = stream.getvalue().strip()
    assert not line.startswith("{")
    assert "WARNING" in line and "threshold breach" in line and "target=demo" in line
    assert "k=1" in line


def test_secret_never_reaches_log_output(secret: str, log_stream: io.StringIO) -> None:
    log = logging.getLogger("otel_genesys.genesys.oauth")
    log.warning("token %s was rejected", secret)
    log.info("plain", extra={"attributes": {"auth": f"Bearer {secret}"}})
    try:
        raise RuntimeError(f"server echoed {secret}")
    except RuntimeError:
        log.exception("request failed")
    out = log_stream.getvalue()
    assert secret not in out
    assert out.count("***") >= 3


def test_secret_never_reaches_exported_bytes(
    secret: str, otlp_receiver: OtlpReceiver, log_stream: io.StringIO
) -> None:
    t = setup_telemetry(
        TelemetrySettings(
            exporter="otlp_http",
            endpoint=otlp_receiver.http_endpoint,
            logs_export=True,
            export_interval_ns=200_000_000,
            export_timeout_s=1.0,
            drain_interval_s=0.01,
        )
    )
    try:
        rec = t.recorder
        rec.outcome(make_outcome(1))
        rec.event(make_event(AuditKind.AUTH_FAILURE, attributes=(("detail", f"tok={secret}"),)))
        rec.event(make_event(AuditKind.LATE_PONG, sequence=1, attributes=(("echo", secret),)))
        rec.lifecycle(make_lifecycle(LifecycleStep.TOKEN_FETCH, attributes=(("response", secret),)))
        logging.getLogger("otel_genesys.genesys").error("bad token %s", secret)
        assert t.force_flush(5.0)
        assert otlp_receiver.wait_for(
            lambda r: len(r.spans()) >= 3 and len(r.log_records()) >= 3, timeout=10
        )
    finally:
        t.shutdown(3.0)
    raw = otlp_receiver.raw_bytes()
    assert secret.encode() not in raw
    assert b"***" in raw
    assert {r.transport for r in otlp_receiver.received} == {"http"}
    records = otlp_receiver.log_records()
    audit = [r for r in records if r.event_name == "genesys.oauth.failure"]
    assert audit and attributes_of(audit[0])["detail"] == "tok=***"
    assert secret not in log_stream.getvalue()
