"""Fixtures for the operator-experience tests: an emulator, agents on it, clean logging."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from otel_genesys.agent.runner import make_agent
from otel_genesys.agent.supervisor import Agent
from otel_genesys.emulator import Emulator


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A running in-process emulator on an ephemeral loopback port."""
    emu = Emulator()
    await emu.start("127.0.0.1", 0)
    yield emu
    await emu.stop()


@pytest.fixture
async def agents() -> AsyncIterator[Callable[..., Agent]]:
    """Build agents (optionally with telemetry); every one is stopped at teardown."""
    made: list[Agent] = []

    def build(targets: list[Any], telemetry: Any = None) -> Agent:
        agent = make_agent(targets, [], telemetry)
        made.append(agent)
        return agent

    yield build
    for agent in made:
        await agent.stop()


@pytest.fixture
def free_port() -> int:
    """A loopback port with nothing listening on it (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLI installs a root log handler; put the root logger back as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
