"""glibc malloc is tuned for long runs (arenas capped, mmap threshold fixed), unless the
operator chose otherwise."""

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


# A 1 MiB block freed, then a 512 KiB one: with glibc's moving threshold the first free
# raises it past 1 MiB and the second block comes from the heap (no mmapped block while
# it lives); with the threshold fixed at 128 KiB it gets pages of its own.
MMAP_CODE = """
import ctypes, sys
from otel_genesys.telemetry.gctune import fix_mmap_threshold
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
        "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
applied = fix_mmap_threshold() if sys.argv[1] == "fixed" else False
block = bytearray(1 << 20)
del block
before = libc.mallinfo2().hblks
block = bytearray(1 << 19)
print(applied, libc.mallinfo2().hblks > before)
"""


def _mmap_run(mode: str, env_extra: dict[str, str] | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(env_extra or {}, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", MMAP_CODE, mode], env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (AttributeError, ValueError, OSError):
        return False


@pytest.mark.skipif(not _glibc(), reason="glibc mallopt and mallinfo2")
def test_a_fixed_mmap_threshold_gives_large_blocks_pages_of_their_own() -> None:
    assert _mmap_run("default") == "False False"  # glibc's moving threshold
    assert _mmap_run("fixed") == "True True"


@pytest.mark.skipif(not _glibc(), reason="glibc mallopt and mallinfo2")
def test_an_operators_mmap_threshold_wins() -> None:
    assert _mmap_run("fixed", {"MALLOC_MMAP_THRESHOLD_": "4194304"}).startswith("False")
