"""Chaos suite plumbing: print the fault matrix and the other chaos reports at the end."""

from __future__ import annotations

import pytest

from tests.chaos.chaos_harness import SECTIONS, SUMMARY, format_table


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault matrix (faults injected, detected, recovered, probes lost) as a table."""
    if SUMMARY:
        terminalreporter.section("fault matrix")
        for line in format_table(SUMMARY):
            terminalreporter.write_line(line)
    for title, lines in SECTIONS.items():
        terminalreporter.section(title)
        for line in lines:
            terminalreporter.write_line(line)
