"""glibc malloc arenas are capped for long runs, unless the operator chose otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE = "from otel_genesys.telemetry.gctune import limit_malloc_arenas as f; print(f())"


def _run(env_extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    env.update(env_extra, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_arenas_are_capped_on_glibc() -> None:
    libc_is_glibc = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None
    assert _run({}) == ("True" if libc_is_glibc else "False")


def test_an_operators_malloc_arena_max_wins() -> None:
    assert _run({"MALLOC_ARENA_MAX": "8"}) == "False"
