"""Transport and exposure: TLS verified by default, frame limit, file modes, loopback binds.

- TLS certificate verification is on unless a target sets ``verify_tls =
  false``; turning it off logs a warning when the agent starts. Against a TLS
  endpoint with a self-signed certificate, the default agent refuses to talk
  (the credentials are never sent); the opted-out agent talks.
- A frame larger than ``max_message_bytes`` (default 64 KiB) closes the
  connection with 1009, is counted, and the agent reconnects.
- Credentials files readable by group/others trigger a warning.
- The emulator's admin API answers loopback peers only; the emulator and the
  health endpoint bind to loopback unless told otherwise.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
from pathlib import Path

import aiohttp
import psutil
import pytest

from otel_genesys.agent.health import HealthServer, parse_listen
from otel_genesys.agent.supervisor import Agent
from otel_genesys.config import HealthConfig, MonitorConfig, load_config
from otel_genesys.core.outcome import ProbeMode
from otel_genesys.emulator import ClientConfig, Emulator, EmulatorConfig
from otel_genesys.emulator.server import is_loopback_peer
from otel_genesys.genesys.oauth import OAuthRequestRecord
from otel_genesys.secret import Secret
from tests.chaos.chaos_harness import CollectingSink, monitor_config, notification_target
from tests.fuzz.fuzz_agent import fuzz_monitor, run_against
from tests.fuzz.fuzz_server import Frame, HostileServer
from tests.support.tls import tls_front

CONTROL = frozenset({ProbeMode.CONTROL})


# ----------------------------------------------------------------------------- TLS


def test_security_tls_verification_is_on_by_default(tmp_path: Path) -> None:
    assert MonitorConfig().verify_tls is True
    (tmp_path / "settings.toml").write_text(
        '[targets.a]\nregion = "eu_west_1"\nclient_id = "c"\nclient_secret = "s"\n'
    )
    (tmp_path / "settings.toml").chmod(0o600)
    config = load_config(tmp_path / "settings.toml", env={})
    assert config.targets[0].monitor.verify_tls is True


async def _token_attempt(
    base_url: str, verify: bool, caplog: pytest.LogCaptureFixture
) -> tuple[Agent, list[str]]:
    outcomes: list[str] = []
    target = notification_target(
        f"tls-{verify}", base_url, CONTROL, monitor_config(verify_tls=verify)
    )
    agent = Agent(
        [target], sink=CollectingSink(), on_oauth_request=lambda r: outcomes.append(r.outcome)
    )
    with caplog.at_level(logging.WARNING, logger="otel_genesys"):
        await agent.start()
        for _ in range(100):
            if outcomes:
                break
            await asyncio.sleep(0.02)
        await agent.stop()
    return agent, outcomes


async def test_security_tls_certificate_checked_unless_opted_out(
    self_signed: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = self_signed
    async with (
        Emulator(EmulatorConfig(heartbeat_interval_s=0.2)) as emu,
        tls_front(emu.port, cert, key) as port,
    ):
        base = f"https://127.0.0.1:{port}"
        _, verified = await _token_attempt(base, True, caplog)
        assert verified and verified[0] == "network"  # certificate refused
        assert emu.counters.token_requests == 0  # the credentials never left
        warned_by_default = [r for r in caplog.records if "TLS" in r.getMessage()]
        assert warned_by_default == []

        caplog.clear()
        _, trusting = await _token_attempt(base, False, caplog)
        assert trusting and trusting[0] == "ok"
        assert emu.counters.tokens_issued == 1
        warnings = [r for r in caplog.records if "verification is OFF" in r.getMessage()]
        assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


@pytest.mark.parametrize("trusting_first", [True, False], ids=["trusting-first", "verifying-first"])
async def test_security_each_target_keeps_its_own_tls_setting_for_tokens(
    self_signed: tuple[Path, Path], trusting_first: bool
) -> None:
    """One target opting out of verification must not switch it off for another's secret.

    Token requests carry the client secret (HTTP Basic), so they are the ones
    that matter most: the verifying target's must never reach a server whose
    certificate nobody trusts, whichever target the agent set up first.
    """
    cert, key = self_signed
    clients = (
        ClientConfig("trusting", Secret("trusting-secret-Qw3")),
        ClientConfig("verifying", Secret("verifying-secret-Zr8")),
    )
    records: list[OAuthRequestRecord] = []
    async with (
        Emulator(EmulatorConfig(heartbeat_interval_s=0.2, clients=clients)) as emu,
        tls_front(emu.port, cert, key) as port,
    ):
        base = f"https://127.0.0.1:{port}"
        trusting = notification_target(
            "tls-trusting",
            base,
            CONTROL,
            monitor_config(verify_tls=False),
            client_id="trusting",
            client_secret="trusting-secret-Qw3",
        )
        verifying = notification_target(
            "tls-verifying",
            base,
            CONTROL,
            monitor_config(),
            client_id="verifying",
            client_secret="verifying-secret-Zr8",
        )
        targets = [trusting, verifying] if trusting_first else [verifying, trusting]
        agent = Agent(targets, sink=CollectingSink(), on_oauth_request=records.append)
        await agent.start()
        for _ in range(150):
            if {r.client_id for r in records} == {"trusting", "verifying"}:
                break
            await asyncio.sleep(0.02)
        await agent.stop()
        issued = emu.counters.tokens_issued
    by_client: dict[str, list[str]] = {}
    for record in records:
        by_client.setdefault(record.client_id, []).append(record.outcome)
    assert by_client.get("trusting", [])[:1] == ["ok"]
    assert by_client.get("verifying") and set(by_client["verifying"]) == {"network"}
    assert issued == by_client["trusting"].count("ok")  # none for the verifying client


# ----------------------------------------------------------------------- frame limit


def test_security_default_frame_limit_closes_1009_and_reconnects() -> None:
    limit = MonitorConfig().max_message_bytes
    assert limit == 65536
    big = Frame("text", json.dumps({"topicName": "v2.big", "pad": "x" * (limit + 1)}))
    default_limit = dataclasses.replace(fuzz_monitor(), max_message_bytes=limit)
    run = run_against(HostileServer(frames=[big]), monitor=default_limit)
    assert 1009 in run.server.client_close_codes
    assert run.status["failures"].get("close_1009") == 1
    assert run.server.connections >= 2
    assert run.problems() == []


async def test_security_frame_of_exactly_the_limit_is_accepted() -> None:
    limit = 2048
    text = json.dumps({"topicName": "v2.ok", "pad": ""})
    frame = Frame("text", json.dumps({"topicName": "v2.ok", "pad": "x" * (limit - len(text))}))
    assert len(frame.text) == limit
    server = await HostileServer(frames=[frame]).start()
    try:
        target = notification_target(
            "frame-ok", server.base_url, CONTROL, monitor_config(max_message_bytes=limit)
        )
        agent = Agent([target], sink=CollectingSink())
        await agent.start()
        for _ in range(100):
            if server.script_done_ns is not None and server.control_pongs >= 2:
                break
            await asyncio.sleep(0.02)
        await agent.stop()
    finally:
        await server.stop()
    assert server.script_done_ns is not None
    assert 1009 not in server.client_close_codes
    assert agent.monitors[0].status.failures_by_cause == {}


# ----------------------------------------------------------------- credential files


@pytest.mark.parametrize(("mode", "warns"), [(0o644, True), (0o640, True), (0o600, False)])
def test_security_loose_credentials_file_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int, warns: bool
) -> None:
    secret = "perm-check-secret-Yt5"
    (tmp_path / "settings.toml").write_text('[targets.a]\nregion = "eu_west_1"\nclient_id = "c"\n')
    secrets = tmp_path / ".secrets.toml"
    secrets.write_text(f'[targets.a]\nclient_secret = "{secret}"\n')
    secrets.chmod(mode)
    with caplog.at_level(logging.WARNING):
        load_config(tmp_path / "settings.toml", env={})
    warnings = [r.getMessage() for r in caplog.records if "chmod 600" in r.getMessage()]
    assert bool(warnings) is warns
    assert all(str(secrets) in w and secret not in w for w in warnings)


# ------------------------------------------------------------------ loopback binds


def _non_loopback_address() -> str | None:
    for addresses in psutil.net_if_addrs().values():
        for addr in addresses:
            if addr.family == socket.AF_INET and not addr.address.startswith("127."):
                return str(addr.address)
    return None


@pytest.mark.parametrize(
    ("peer", "loopback"),
    [
        (("127.0.0.1", 5), True),
        (("127.8.9.10", 5), True),
        (("::1", 5, 0, 0), True),
        (("::ffff:127.0.0.1", 5, 0, 0), True),
        (("10.0.0.1", 5), False),
        (("::ffff:10.0.0.1", 5, 0, 0), False),
        (("fe80::1%eth0", 5, 0, 2), False),
        (("localhost", 5), False),  # names are not trusted, only addresses
        (None, False),
        ("127.0.0.1", False),
    ],
)
def test_security_admin_guard_knows_loopback(peer: object, loopback: bool) -> None:
    assert is_loopback_peer(peer) is loopback


async def test_security_emulator_binds_loopback_and_admin_refuses_others() -> None:
    async with Emulator() as emu:
        assert emu.base_url.startswith("http://127.0.0.1:")
        async with (
            aiohttp.ClientSession() as http,
            http.get(emu.base_url + "/__emulator__/health") as resp,
        ):
            assert resp.status == 200
    other = _non_loopback_address()
    if other is None:
        pytest.skip("no non-loopback IPv4 address on this host to connect from")
    emu = Emulator()
    await emu.start(host="0.0.0.0")
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://{other}:{emu.port}/__emulator__/counters"
            async with http.get(url) as resp:
                assert resp.status == 403
                assert "loopback" in (await resp.text())
            async with http.get(f"http://127.0.0.1:{emu.port}/__emulator__/counters") as resp:
                assert resp.status == 200
    finally:
        await emu.stop()


async def test_security_health_endpoint_binds_loopback_by_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert HealthConfig().host == "127.0.0.1"
    assert parse_listen("8787") == ("127.0.0.1", 8787)  # `run --health 8787`
    server_cls = HealthServer
    agent = Agent([], sink=CollectingSink())
    server = server_cls(agent, port=0)
    with caplog.at_level(logging.WARNING):
        await server.start()
    try:
        listening = [
            c.laddr
            for c in psutil.Process().net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == server.port
        ]
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening)
        assert not [r for r in caplog.records if "reachable from other machines" in r.message]
    finally:
        await server.stop()
    exposed = server_cls(agent, host="0.0.0.0", port=0)
    with caplog.at_level(logging.WARNING):
        await exposed.start()
    await exposed.stop()
    assert [r for r in caplog.records if "reachable from other machines" in r.getMessage()]
