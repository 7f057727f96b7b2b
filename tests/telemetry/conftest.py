"""Fixtures for the telemetry tests (shared ones live in tests/support)."""

from __future__ import annotations

from tests.support.fixtures import memory_telemetry, otlp_receiver

__all__ = ["memory_telemetry", "otlp_receiver"]
