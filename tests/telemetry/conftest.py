"""Fixtures for the telemetry tests (shared ones live in tests/support)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.support.fixtures import memory_telemetry, otlp_receiver

__all__ = ["memory_telemetry", "otlp_receiver", "refused_endpoint"]


@pytest.fixture
def refused_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` with nothing listening (bound, never listened on)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
