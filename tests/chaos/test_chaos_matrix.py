"""Every emulator fault x every probe mode, all at once on one event loop.

Each cell's expectations (see `chaos_harness.check_cell` and docs/reliability.md):
detected within its bound, recovered within its bound, every ping settled exactly
once, agent counts consistent with the emulator's, timeouts reported at their
deadline, no task or socket left behind. Process-wide: no unhandled exception,
no leaked task or file descriptor.
"""

from __future__ import annotations

import dataclasses

import pytest

from otel_genesys.emulator import FaultSpec
from otel_genesys.emulator.faults import HANDSHAKE_REFUSALS, TOKEN_OUTAGES
from tests.chaos.chaos_harness import (
    FAULTS,
    MODES,
    SUMMARY,
    USED_SPECS,
    MatrixRun,
    check_cell,
    row_of,
    run_matrix,
)

MATRIX_SECONDS_LIMIT = 30.0
"""The whole matrix normally takes ~4 s; this only catches a cell that hangs."""


@pytest.fixture(scope="module")
def matrix() -> MatrixRun:
    """The matrix, run once for every test in this module."""
    run = run_matrix()
    SUMMARY.extend(row_of(cell) for cell in run.cells.values())
    return run


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_chaos_cell_meets_its_expectations(matrix: MatrixRun, fault: object, mode: str) -> None:
    cell = matrix.cells[f"{fault.name}-{mode}"]  # type: ignore[attr-defined]
    assert check_cell(cell) == []


def test_chaos_no_unhandled_exception(matrix: MatrixRun) -> None:
    assert matrix.loop_errors == []
    assert [(r.name, r.getMessage(), r.exc_text) for r in matrix.problem_logs] == []


def test_chaos_no_task_or_descriptor_left(matrix: MatrixRun) -> None:
    assert matrix.tasks_left == []
    # asyncio.run closed its loop; every socket, selector and pipe must be gone.
    assert matrix.fds_after <= matrix.fds_before


def test_chaos_matrix_stays_fast(matrix: MatrixRun) -> None:
    assert matrix.seconds < MATRIX_SECONDS_LIMIT


def test_chaos_matrix_covers_every_fault_the_emulator_has() -> None:
    """A fault added to FaultSpec without a row in the matrix fails here."""
    modifiers = {"seed", "close_code", "token_retry_after_s"}
    used = {
        f.name
        for spec in USED_SPECS
        for f in dataclasses.fields(FaultSpec)
        if getattr(spec, f.name) != f.default
    }
    every = {f.name for f in dataclasses.fields(FaultSpec)} - modifiers
    assert every - used == set()
    assert {s.handshake_status for s in USED_SPECS} >= set(HANDSHAKE_REFUSALS)
    assert {s.token_outage for s in USED_SPECS} >= set(TOKEN_OUTAGES)
    names = {f.name for f in FAULTS}
    assert {"socket_closing", "channel_expiry", "close_1002", "close_1011"} <= names
