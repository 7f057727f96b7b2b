"""``python -m bench`` refuses to start a run whose suites need what the bench extra
installs and this environment lacks (the rows would come out empty)."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest

import bench.__main__ as cli
from bench.harness import Plan


def test_a_full_plan_needs_uvloop_websockets_and_py_spy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(Path, "exists", lambda self: False)
    assert cli._absent_extras(Plan.full()) == ["uvloop", "websockets", "py-spy"]
    # a plan without those suites and variants needs none of them
    bare = replace(Plan.full().only(("scale",)), variants=Plan.full().variants[:1])
    assert cli._absent_extras(bare) == []


def test_the_command_stops_before_running(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:  # fmt: skip
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SystemExit) as stop:
        cli.main(["--only", "scale", "--counts", "10", "--variants",
                  "agent, export process, uvloop", "--out", str(tmp_path)])  # fmt: skip
    assert stop.value.code == 2
    assert not (tmp_path / "REPORT.md").exists()
