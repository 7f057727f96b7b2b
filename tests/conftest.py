"""Shared fixtures. Async tests run under pytest-asyncio in auto mode."""

from tests.support.tls import self_signed  # noqa: F401 - a fixture (TLS tests)
