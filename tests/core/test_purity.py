"""The core stays pure: no asyncio, aiohttp or OpenTelemetry, and its doctests hold."""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import otel_genesys.core

CORE = Path(otel_genesys.core.__file__).parent
FORBIDDEN = ("asyncio", "aiohttp", "opentelemetry")
MODULES = sorted(f"otel_genesys.core.{m.name}" for m in pkgutil.iter_modules([str(CORE)]))


def test_the_expected_modules_exist() -> None:
    for name in ("clock", "durations", "backoff", "scheduler", "stall", "probe", "rto"):
        assert f"otel_genesys.core.{name}" in MODULES


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_sources_import_nothing_forbidden(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"


def test_importing_the_core_loads_nothing_forbidden() -> None:
    code = (
        "import sys\n"
        f"for m in {MODULES!r}: __import__(m)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
