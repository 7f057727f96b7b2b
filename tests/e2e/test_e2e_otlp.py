"""Agent → emulator → real OTLP (gRPC and HTTP/protobuf) into a receiver the test runs."""

from __future__ import annotations

import asyncio
import io
import logging
from collections import Counter
from typing import Any

import pytest

from otel_genesys.agent.supervisor import Agent
from otel_genesys.core.outcome import Outcome, ProbeMode
from otel_genesys.core.sink import FanoutSink
from otel_genesys.emulator import DEFAULT_CLIENT_SECRET, Emulator, EmulatorConfig
from otel_genesys.telemetry import (
    TelemetrySettings,
    configure_logging,
    register_secret,
    setup_telemetry,
)
from otel_genesys.telemetry import names as n
from otel_genesys.telemetry.logs import unregister_secret
from tests.e2e.e2e_helpers import (
    Collector,
    assert_each_ping_settled_once,
    notification_target,
    wait_until,
)
from tests.support.fixtures import otlp_receiver  # noqa: F401
from tests.support.otlp_receiver import OtlpReceiver, attributes_of


def _last_counter(receiver: OtlpReceiver, name: str) -> dict[tuple[tuple[str, Any], ...], int]:
    """The latest cumulative value of each series of a counter."""
    latest: dict[tuple[tuple[str, Any], ...], int] = {}
    for metric in receiver.metrics():
        if metric.name != name:
            continue
        for point in metric.sum.data_points:
            latest[tuple(sorted(attributes_of(point).items()))] = point.as_int
    return latest


def _telemetry(protocol: str, receiver: OtlpReceiver) -> Any:
    endpoint = receiver.endpoint(protocol)
    return setup_telemetry(
        TelemetrySettings(
            exporter="otlp_grpc" if protocol == "grpc" else "otlp_http",
            endpoint=endpoint,
            export_interval_ns=300_000_000,
            drain_interval_s=0.02,
            logs_export=True,
        )
    )


@pytest.mark.parametrize("protocol", ["grpc", "http"])
async def test_spans_metrics_and_events_arrive_and_agree(
    protocol: str,
    otlp_receiver: OtlpReceiver,  # noqa: F811
) -> None:
    log_stream = io.StringIO()
    handler = configure_logging("DEBUG", "json", stream=log_stream)
    telemetry = _telemetry(protocol, otlp_receiver)
    register_secret(DEFAULT_CLIENT_SECRET)
    token_value = ""
    try:
        async with Emulator(EmulatorConfig(heartbeat_interval_s=0.2)) as emu:
            sink = Collector()
            agent = Agent(
                [notification_target(emu)],
                sink=FanoutSink([telemetry.recorder, sink]),
            )
            await agent.start()
            await wait_until(lambda: len(sink.by(outcome=Outcome.OK)) >= 16)
            provider = agent.monitors[0]._tokens
            assert provider is not None
            current = provider.current()
            assert current is not None
            token_value = current.value.reveal()
            await agent.stop()
            pings = emu.counters.total.pings_json + emu.counters.total.pings_control
        assert telemetry.shutdown(10.0)
    finally:
        logging.getLogger().removeHandler(handler)
        unregister_secret(DEFAULT_CLIENT_SECRET)
    assert_each_ping_settled_once(sink, agent)

    spans = [s for s in otlp_receiver.spans() if s.name == n.SPAN_PROBE]
    assert len(spans) == len(sink.outcomes)  # span_ratio 1.0: one span per probe
    by_mode = Counter(attributes_of(s)[n.PROBE_MODE] for s in spans)
    assert by_mode == Counter(o.mode.value for o in sink.outcomes)
    ok_span = next(s for s in spans if attributes_of(s)[n.PROBE_OUTCOME] == "ok")
    attrs = attributes_of(ok_span)
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["network.protocol.name"] == "websocket"
    assert attrs[n.TARGET] == "emu"
    assert attrs[n.RTT] > 0

    probes = _last_counter(otlp_receiver, n.METRIC_PROBES)
    assert sum(probes.values()) == len(sink.outcomes)
    ok_metric = sum(v for k, v in probes.items() if (n.PROBE_OUTCOME, "ok") in k)
    assert ok_metric == len(sink.by(outcome=Outcome.OK))
    # The server saw every ping the agent sent, bar one possibly cut off at stop per mode.
    assert len(sink.outcomes) - 2 <= pings <= len(sink.outcomes)

    names = otlp_receiver.metric_names()
    assert {n.METRIC_RTT, n.METRIC_STABILITY, n.METRIC_LATENESS, n.METRIC_HEARTBEATS} <= names
    lifecycle = {s.name for s in otlp_receiver.spans()} - {n.SPAN_PROBE}
    assert {"genesys.oauth.token", "genesys.channel.create"} <= lifecycle

    # No secret anywhere: exported bytes (traces, metrics, logs) or log lines.
    raw = otlp_receiver.raw_bytes()
    logs = log_stream.getvalue()
    assert token_value and len(token_value) >= 8
    for secret in (DEFAULT_CLIENT_SECRET, token_value):
        assert secret.encode() not in raw
        assert secret not in logs


async def test_collector_down_mid_run_keeps_probing_on_schedule(
    otlp_receiver: OtlpReceiver,  # noqa: F811
) -> None:
    telemetry = _telemetry("grpc", otlp_receiver)
    async with Emulator() as emu:
        sink = Collector()
        agent = Agent(
            [notification_target(emu, modes={ProbeMode.CONTROL})],
            sink=FanoutSink([telemetry.recorder, sink]),
        )
        await agent.start()
        await wait_until(lambda: len(sink.outcomes) >= 10)
        assert otlp_receiver.wait_for(lambda r: bool(r.spans()), 5.0)
        before = len(sink.outcomes)
        otlp_receiver.stop()
        await asyncio.sleep(1.5)
        after = sink.outcomes[before:]
        await agent.stop()
    telemetry.shutdown(3.0)
    # 10 Hz for 1.5 s: probing went on at its cadence with the Collector gone ...
    assert len(after) >= 12
    assert all(o.outcome is Outcome.OK for o in after[:-1])
    lateness_ms = sorted(o.lateness_ns / 1e6 for o in after)
    # An export path that blocked the loop would show the exporter's retry and
    # timeout scale (seconds); 50 ms leaves room for a loaded two-core machine.
    assert lateness_ms[int(0.9 * (len(lateness_ms) - 1))] < 50.0, lateness_ms
    # ... and the failed exports were counted, not silently lost.
    health = telemetry.health
    assert health.span_export_failures + health.metric_export_failures >= 1
