"""The health endpoint over real HTTP: /healthz, /readyz, /status and Prometheus /metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from ops_helpers import closed_port_target, emulator_target, eventually
from prometheus_client.parser import text_string_to_metric_families

from otel_genesys.agent.health import (
    HealthServer,
    PrometheusExposition,
    is_loopback,
    parse_listen,
)
from otel_genesys.agent.supervisor import Agent
from otel_genesys.emulator import Emulator
from otel_genesys.telemetry import TelemetrySettings, setup_telemetry


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.text()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8787", ("127.0.0.1", 8787)),
        ("0", ("127.0.0.1", 0)),
        ("0.0.0.0:9000", ("0.0.0.0", 9000)),
        (":9000", ("127.0.0.1", 9000)),
        ("localhost:1", ("localhost", 1)),
        ("[::1]:8787", ("::1", 8787)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["", "x", "65536", "host:", "[::1]8787", "-1"])
def test_parse_listen_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(text)


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    assert not is_loopback("example.com")


async def test_before_the_agent_starts_nothing_is_healthy_or_ready(
    agents: Callable[..., Agent], emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    agent = agents([emulator_target(emulator)])
    async with HealthServer(agent, port=0) as server:
        status, body = await _get(http, server.url + "/healthz")
        assert status == 503 and body["reason"] == "agent not started"
        status, body = await _get(http, server.url + "/readyz")
        assert status == 503
        assert body["reasons"] == ["no target is being monitored yet"]
        status, _ = await _get(http, server.url + "/metrics")
        assert status == 404  # Prometheus is opt-in


async def test_healthy_ready_and_status_while_monitoring_the_emulator(
    agents: Callable[..., Agent],
    emulator: Emulator,
    http: aiohttp.ClientSession,
    free_port: int,
) -> None:
    agent = agents([emulator_target(emulator), closed_port_target(free_port, "dead")])
    await agent.start()
    async with HealthServer(agent, port=0) as server:
        assert server.url.startswith("http://127.0.0.1:")
        await eventually(
            lambda: all(s.counters.ok >= 2 for s in agent.monitors[0].snapshots().values()),
            what="two OK probes per mode",
        )
        status, body = await _get(http, server.url + "/healthz")
        assert status == 200 and body["status"] == "ok" and body["loop_responsive"] is True

        status, body = await _get(http, server.url + "/readyz")
        assert status == 200, body
        assert body == {"status": "ready", "ready_targets": ["emulator"]}

        status, doc = await _get(http, server.url + "/status")
        assert status == 200 and doc["ready"] is True and doc["loop"]["responsive"] is True
        by_name = {t["target"]: t for t in doc["targets"]}
        emu = by_name["emulator"]
        assert emu["state"] == "connected" and emu["ready"] is True
        assert emu["kind"] == "notification" and emu["server_address"] == "127.0.0.1"
        assert 0 < emu["token_expires_in_s"] <= 86_400
        assert emu["connected_for_s"] >= 0
        assert set(emu["modes"]) == {"control", "notification"}
        assert emu["modes"]["control"]["ok"] >= 2
        assert emu["modes"]["control"]["p99_rtt_ms"] > 0
        dead = by_name["dead"]
        assert dead["ready"] is False and dead["state"] in ("connecting", "reconnecting")
        assert dead["token_expires_in_s"] is None and dead["connected_for_s"] is None


async def test_not_ready_when_no_target_is_connected(
    agents: Callable[..., Agent], http: aiohttp.ClientSession, free_port: int
) -> None:
    agent = agents([closed_port_target(free_port, "dead")])
    await agent.start()
    await eventually(lambda: agent.monitors[0].status.reconnects >= 1, what="a failed dial")
    async with HealthServer(agent, port=0) as server:
        status, body = await _get(http, server.url + "/healthz")
        assert status == 200  # alive: the process is fine, the network is not
        status, body = await _get(http, server.url + "/readyz")
        assert status == 503 and body["status"] == "not ready"
        assert body["ready_targets"] == []
        assert len(body["reasons"]) == 1
        assert body["reasons"][0].startswith("dead: reconnecting (network error")


async def test_not_ready_once_the_token_has_expired(
    agents: Callable[..., Agent], emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    agent = agents([emulator_target(emulator)])
    await agent.start()
    await eventually(lambda: bool(agent.connected()), what="a connection")
    day_later = lambda: time.perf_counter_ns() + 2 * 86_400 * 10**9  # noqa: E731
    async with HealthServer(agent, port=0, clock=day_later) as server:
        status, body = await _get(http, server.url + "/readyz")
        assert status == 503
        assert body["reasons"] == ["emulator: access token expired"]
        _, doc = await _get(http, server.url + "/status")
        assert doc["targets"][0]["token_expires_in_s"] < 0


async def test_healthz_fails_when_the_loop_ticker_stops(
    agents: Callable[..., Agent], emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    agent = agents([emulator_target(emulator)])
    await agent.start()
    await eventually(lambda: agent.stall.last_tick_ns > 0, what="a stall-watch tick")
    later = lambda: time.perf_counter_ns() + 10 * 10**9  # noqa: E731
    async with HealthServer(agent, port=0, clock=later) as server:
        status, body = await _get(http, server.url + "/healthz")
        assert status == 503 and body["reason"] == "event loop not responsive"


async def test_binding_a_non_loopback_address_warns(
    agents: Callable[..., Agent], emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    agent = agents([emulator_target(emulator)])
    caplog.set_level(logging.WARNING, logger="otel_genesys.agent.health")
    async with HealthServer(agent, host="0.0.0.0", port=0):
        pass
    assert any("reachable from other machines" in r.getMessage() for r in caplog.records)
    caplog.clear()
    async with HealthServer(agent, port=0):
        pass
    assert not caplog.records


async def test_prometheus_metrics_parse_and_carry_the_expected_series(
    agents: Callable[..., Agent], emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    exposition = PrometheusExposition()
    PrometheusExposition()  # a second one: private registries do not collide
    telemetry = setup_telemetry(
        TelemetrySettings(exporter="none"), extra_metric_readers=[exposition.reader]
    )
    try:
        agent = agents([emulator_target(emulator)], telemetry)
        await agent.start()
        async with HealthServer(agent, port=0, prometheus=exposition) as server:
            families: dict[str, Any] = {}

            async def scraped() -> bool:
                status, text = await _get(http, server.url + "/metrics")
                assert status == 200
                families.clear()
                families.update({f.name: f for f in text_string_to_metric_families(text)})
                probes = families.get("genesys_websocket_probes")
                return probes is not None and sum(s.value for s in probes.samples) >= 4

            await eventually(scraped, what="probes in /metrics")
            async with http.get(server.url + "/metrics") as resp:
                assert resp.headers["Content-Type"].startswith("text/plain")

        rtt = families["genesys_websocket_rtt_seconds"]
        assert rtt.type == "histogram"
        buckets = [s for s in rtt.samples if s.name.endswith("_bucket")]
        assert buckets and {s.labels["le"] for s in buckets} >= {"+Inf"}
        modes = {s.labels["genesys_probe_mode"] for s in buckets}
        assert modes == {"control", "notification"}
        counts = [s for s in rtt.samples if s.name.endswith("_count")]
        assert all(s.value >= 1 for s in counts)
        probes = families["genesys_websocket_probes"]
        assert probes.type == "counter"
        assert all(s.name == "genesys_websocket_probes_total" for s in probes.samples)
        assert {s.labels.get("server_address") for s in probes.samples} == {"127.0.0.1"}
    finally:
        telemetry.shutdown(2.0)
