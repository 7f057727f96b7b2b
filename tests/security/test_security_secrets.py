"""A known client secret and known access tokens never leave the process in readable form.

The agent runs against an emulator whose client has a known secret (a second
target uses a known *wrong* secret); every token the emulator issues is
recorded. Faults push the agent through its error paths (policy closes, a
refused handshake with a forced token refresh, a token outage during refresh,
rejected credentials). Nothing is registered with the log redaction filter, so
the test proves the values are never emitted, not merely scrubbed.

Scanned: every log record (message, arguments, exception text, extra fields)
as captured raw and as rendered by ``configure_logging`` (JSON and text), every
span, span event, metric and resource attribute (in-memory exporters), every
byte exported over OTLP gRPC and OTLP HTTP (traces, metrics and logs), the
agent's status, the health endpoint's ``/status`` and Prometheus ``/metrics``,
exception messages and reprs, config object reprs and ``check-config`` output.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest

from otel_genesys.agent.health import HealthServer, PrometheusExposition
from otel_genesys.agent.supervisor import Agent
from otel_genesys.cli import main as cli_main
from otel_genesys.config import NotificationTarget, load_config
from otel_genesys.core.outcome import ProbeMode
from otel_genesys.core.sink import FanoutSink
from otel_genesys.emulator import ClientConfig, Emulator, EmulatorConfig, FaultSpec
from otel_genesys.errors import OtelGenesysError
from otel_genesys.genesys.channels import ChannelsClient
from otel_genesys.genesys.oauth import Token, TokenProvider
from otel_genesys.secret import Secret
from otel_genesys.telemetry import TelemetrySettings, configure_logging, setup_telemetry
from otel_genesys.telemetry.logs import TextFormatter, registered_secret_count, scrub
from tests.chaos.chaos_harness import monitor_config, notification_target
from tests.support.fixtures import make_memory_telemetry
from tests.support.otlp_receiver import OtlpReceiver, attributes_of

CLIENT_ID = "sec-client"
KNOWN_SECRET = "Kn0wn-Cl1ent-S3cret-q7Zx-Vb2"
WRONG_SECRET = "Wr0ng-Cl1ent-S3cret-m4Tp-Hs9"
MODES = frozenset({ProbeMode.NOTIFICATION, ProbeMode.CONTROL})


def _forbidden(tokens: list[str]) -> list[str]:
    """Every value that must never appear, in every encoding we could leak it in."""
    values = [KNOWN_SECRET, WRONG_SECRET, *tokens]
    for secret in (KNOWN_SECRET, WRONG_SECRET):
        values.append(base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode())
    return values


def _leaks(blob: str | bytes, forbidden: list[str]) -> list[str]:
    if isinstance(blob, bytes):
        return [v for v in forbidden if v.encode() in blob]
    return [v for v in forbidden if v in blob]


def _fast_settings(exporter: Literal["otlp_grpc", "otlp_http"], endpoint: str) -> TelemetrySettings:
    return TelemetrySettings(
        exporter=exporter,
        endpoint=endpoint,
        export_interval_ns=200_000_000,
        logs_export=True,
        drain_interval_s=0.02,
    )


def _record_text(record: logging.LogRecord) -> str:
    parts = [str(record.msg), repr(record.args)]
    try:
        parts.append(record.getMessage())
    except Exception:  # a bad format string is a bug of its own; still scan the parts
        parts.append("<unformattable>")
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
        parts.append(repr(record.exc_info[1]))
    if record.exc_text:
        parts.append(record.exc_text)
    standard = set(vars(logging.makeLogRecord({})))
    parts.extend(repr(v) for k, v in vars(record).items() if k not in standard)
    return "\n".join(parts)


async def _exercise(
    emu: Emulator, agent: Agent, health_status: list[str], exposition: PrometheusExposition
) -> None:
    await agent.start()
    await asyncio.sleep(0.5)
    # A policy close (1008): the agent forces a token refresh.
    emu.faults.set_global(FaultSpec(close_after_s=0.0, close_code=1008))
    await asyncio.sleep(0.2)
    # A refused handshake (401) after a close: refresh, retry, back off.
    emu.faults.set_global(FaultSpec(close_after_s=0.0, close_code=1011, handshake_status=401))
    await asyncio.sleep(0.3)
    emu.faults.clear()
    await asyncio.sleep(0.3)
    # The login service fails while tokens (1 s lifetime) need refreshing.
    emu.faults.set_global(FaultSpec(token_outage="503"))
    await asyncio.sleep(0.6)
    emu.faults.clear()
    await asyncio.sleep(0.6)
    server = HealthServer(agent, port=0, prometheus=exposition)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/status", "/readyz", "/healthz", "/metrics"):
                async with http.get(server.url + path) as resp:
                    health_status.append(await resp.text())
    finally:
        await server.stop()
    await agent.stop()


async def _exceptions(emu: Emulator, token: str) -> list[BaseException]:
    """Errors raised with the secret or a token in hand: wrong secret, expired token."""
    caught: list[BaseException] = []
    async with aiohttp.ClientSession() as http:
        provider = TokenProvider(
            http, emu.base_url + "/oauth/token", CLIENT_ID, Secret(WRONG_SECRET), max_attempts=1
        )
        try:
            await provider.get()
        except OtelGenesysError as exc:
            caught.append(exc)
        channels = ChannelsClient(http, emu.base_url + "/api/v2/notifications/channels")
        stale = Token(Secret(token), 1.0, 0, 0, 0, 1)
        emu.tokens.clear()  # the token is now unknown to the server
        try:
            await channels.create(stale)
        except OtelGenesysError as exc:
            caught.append(exc)
        caught.append(OtelGenesysError(repr(provider)))
    return caught


def test_security_secret_and_tokens_never_leave_in_readable_form(
    caplog: pytest.LogCaptureFixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    assert scrub(KNOWN_SECRET) == KNOWN_SECRET, "the secret must not be pre-registered"
    registered_before = registered_secret_count()

    json_out, text_out = io.StringIO(), io.StringIO()
    json_handler = configure_logging("DEBUG", "json", stream=json_out)
    text_handler = logging.StreamHandler(text_out)
    text_handler.setFormatter(TextFormatter())
    logging.getLogger().addHandler(text_handler)

    grpc_rx, http_rx = OtlpReceiver().start(), OtlpReceiver().start()
    exposition = PrometheusExposition()
    tel_grpc = setup_telemetry(
        _fast_settings("otlp_grpc", grpc_rx.grpc_endpoint),
        extra_metric_readers=[exposition.reader],
    )
    tel_http = setup_telemetry(_fast_settings("otlp_http", http_rx.http_endpoint))
    memory = make_memory_telemetry()
    recorders = [tel_grpc.recorder, tel_http.recorder, memory.recorder]

    def on_oauth(record: Any) -> None:
        for recorder in recorders:
            recorder.oauth_request(record.duration_s, record.outcome)

    issued: list[str] = []
    channel_ids: list[str] = []
    health_status: list[str] = []
    caught: list[BaseException] = []

    async def scenario() -> dict[str, Any]:
        emu = Emulator(
            EmulatorConfig(
                clients=(ClientConfig(CLIENT_ID, Secret(KNOWN_SECRET), token_lifetime_s=1.0),),
                heartbeat_interval_s=0.2,
            )
        )
        issue = emu.tokens.issue

        def recording_issue(client_id: str, lifetime_s: float) -> str:
            token = issue(client_id, lifetime_s)
            issued.append(token)
            return token

        emu.tokens.issue = recording_issue  # type: ignore[method-assign]
        create_channel = emu.create_channel

        def recording_create(client_id: str) -> Any:
            channel = create_channel(client_id)
            channel_ids.append(channel.id)
            return channel

        emu.create_channel = recording_create  # type: ignore[method-assign]
        await emu.start()
        try:
            good = notification_target(
                "sec-good",
                emu.base_url,
                MODES,
                monitor_config(),
                client_id=CLIENT_ID,
                client_secret=KNOWN_SECRET,
                topics=("v2.users.x.presence",),
            )
            bad = notification_target(
                "sec-bad",
                emu.base_url,
                MODES,
                monitor_config(operator_retry_ns=200_000_000),
                client_id=CLIENT_ID,
                client_secret=WRONG_SECRET,
            )
            agent = Agent([good, bad], sink=FanoutSink(recorders), on_oauth_request=on_oauth)
            await _exercise(emu, agent, health_status, exposition)
            status = agent.status()
            caught.extend(await _exceptions(emu, issued[-1]))
            return {"status": status, "targets": [repr(good), repr(bad)]}
        finally:
            await emu.stop()

    try:
        result = asyncio.run(scenario())
        for telemetry in (tel_grpc, tel_http, memory.telemetry):
            assert telemetry.force_flush(5.0)
        spans = memory.spans.get_finished_spans()
        metrics = memory.reader.get_metrics_data()
        for telemetry in (tel_grpc, tel_http, memory.telemetry):
            telemetry.shutdown(5.0)
    finally:
        logging.getLogger().removeHandler(json_handler)
        logging.getLogger().removeHandler(text_handler)
        grpc_rx.stop()
        http_rx.stop()

    # check-config on files holding the secret (the same secret, another path).
    (tmp_path / "settings.toml").write_text(
        f'[targets.sec]\nbase_url = "http://127.0.0.1:1"\nclient_id = "{CLIENT_ID}"\n'
    )
    secrets_file = tmp_path / ".secrets.toml"
    secrets_file.write_text(f'[targets.sec]\nclient_secret = "{KNOWN_SECRET}"\n')
    secrets_file.chmod(0o600)
    capsys.readouterr()
    assert cli_main(["check-config", "--config", str(tmp_path / "settings.toml")]) == 0
    assert cli_main(["check-config", "--json", "--config", str(tmp_path / "settings.toml")]) == 0
    check_output = capsys.readouterr()
    config = load_config(tmp_path / "settings.toml", env={})
    target = config.targets[0]
    assert isinstance(target, NotificationTarget)
    assert target.oauth.client_secret.reveal() == KNOWN_SECRET  # it was really loaded

    # The scan is meaningful only if the run produced what is being scanned.
    assert len(issued) >= 2, "expected a refreshed token too"
    assert grpc_rx.spans() and http_rx.spans() and spans
    assert grpc_rx.log_records() and http_rx.log_records()
    assert any(r.levelno >= logging.ERROR for r in caplog.records)  # the wrong secret
    assert len(caught) == 3
    assert "genesys_websocket" in health_status[-1], "/metrics served no agent metric"

    # Channel ids are bearer capabilities too (docs/security.md); the emulator's
    # own log lines may name them, the agent's must not.
    assert channel_ids
    agent_records = [r for r in caplog.records if not r.name.startswith("otel_genesys.emulator")]
    forbidden = _forbidden(issued)
    forbidden_ids = [*forbidden, *channel_ids]
    places: dict[str, str | bytes] = {
        "raw log records": "\n".join(_record_text(r) for r in caplog.records),
        "json log": json_out.getvalue(),
        "text log": text_out.getvalue(),
        "otlp grpc bytes": grpc_rx.raw_bytes(),
        "otlp http bytes": http_rx.raw_bytes(),
        "otlp decoded": repr(
            [attributes_of(s) for s in grpc_rx.spans() + http_rx.spans()]
            + [str(r) for r in grpc_rx.log_records() + http_rx.log_records()]
        ),
        "memory spans": "\n".join(
            s.to_json() + repr([dict(e.attributes or {}) for e in s.events]) for s in spans
        ),
        "memory metrics": metrics.to_json() if metrics is not None else "",
        "agent status": json.dumps(result["status"], default=str),
        "health endpoint": "\n".join(health_status),
        "exceptions": "\n".join(f"{e!s}\n{e!r}\n{e.args!r}" for e in caught),
        "reprs": "\n".join(result["targets"]) + repr(config) + str(config),
        "check-config": check_output.out + check_output.err,
    }
    found = {name: _leaks(blob, forbidden) for name, blob in places.items()}
    agent_places: dict[str, str | bytes] = {
        "agent log records": "\n".join(_record_text(r) for r in agent_records),
        **{k: v for k, v in places.items() if k.startswith(("otlp", "memory", "agent", "health"))},
    }
    found.update(
        {
            f"{name} (channel ids)": _leaks(blob, forbidden_ids)
            for name, blob in agent_places.items()
        }
    )
    assert {k: v for k, v in found.items() if v} == {}
    assert registered_secret_count() == registered_before
