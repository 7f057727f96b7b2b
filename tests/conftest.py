"""Shared fixtures. Async tests run under pytest-asyncio in auto mode."""
