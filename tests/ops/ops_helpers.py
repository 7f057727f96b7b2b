"""Helpers shared by the operator-experience tests (imported as ``ops_helpers``)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from otel_genesys.agent.supervisor import Agent
from otel_genesys.config import (
    GenericTarget,
    MonitorConfig,
    NotificationTarget,
    OAuthClient,
    generic_target_from_url,
)
from otel_genesys.core.outcome import ProbeMode
from otel_genesys.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator
from otel_genesys.secret import Secret

FAST = dataclasses.replace(MonitorConfig(), interval_ns=100_000_000)
"""Probe ten times a second so a test sees several samples within a second."""


def emulator_target(emu: Emulator, name: str = "emulator", **monitor: Any) -> NotificationTarget:
    """A notification target on ``emu`` probing in both modes."""
    return NotificationTarget(
        name=name,
        region=None,
        base_url=emu.base_url,
        oauth=OAuthClient(DEFAULT_CLIENT_ID, Secret(DEFAULT_CLIENT_SECRET)),
        topics=(),
        modes=frozenset({ProbeMode.NOTIFICATION, ProbeMode.CONTROL}),
        monitor=dataclasses.replace(FAST, **monitor),
    )


def closed_port_target(port: int, name: str = "dead") -> GenericTarget:
    """A generic target nobody listens on."""
    return generic_target_from_url(f"ws://127.0.0.1:{port}/x", defaults=FAST, name=name)


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout_s: float = 5.0, what: str = ""
) -> None:
    """Poll ``check`` until true; fail the test after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.02)


def ok_count(agent: Agent) -> int:
    """The fewest OK probes over every target and mode."""
    counts = [s.counters.ok for m in agent.monitors for s in m.snapshots().values()]
    return min(counts) if counts else 0
