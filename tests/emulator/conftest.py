"""Fixtures for the emulator tests: a running emulator and an independent aiohttp client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from emulator_helpers import FAST, StartEmulator

from otel_genesys.emulator import Emulator, EmulatorConfig


@pytest.fixture
async def start_emulator() -> AsyncIterator[StartEmulator]:
    """Start emulators with a given config; all are stopped at teardown."""
    started: list[Emulator] = []

    async def start(config: EmulatorConfig | None = None, **kwargs: Any) -> Emulator:
        emu = Emulator(config or FAST, **kwargs)
        await emu.start()
        started.append(emu)
        return emu

    yield start
    for emu in started:
        await emu.stop()


@pytest.fixture
async def emu(start_emulator: StartEmulator) -> Emulator:
    """An emulator with the default client and a 30 s heartbeat."""
    return await start_emulator()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp client session."""
    async with aiohttp.ClientSession() as session:
        yield session
