"""Helpers for the config tests: write settings files into a temporary directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

WriteFile = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> WriteFile:
    """``write(text, name="settings.toml", mode=0o600)`` → the file's path."""

    def _write(text: str, name: str = "settings.toml", mode: int = 0o600) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        path.chmod(mode)
        return path

    return _write
