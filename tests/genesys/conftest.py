"""Fixtures for the Genesys REST tests: a scripted loopback server, a session, a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from genesys_fakes import FakeClock, FakeGenesys, FakeSleep


@pytest.fixture
async def fake() -> AsyncIterator[FakeGenesys]:
    """A started fake Genesys on 127.0.0.1 (any free port)."""
    server = FakeGenesys()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp client session."""
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleep(clock: FakeClock) -> FakeSleep:
    return FakeSleep(clock)
