"""Outcomes cross to the export process pickled: values, enums and hashes survive."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pytest

from otel_genesys.core.outcome import (
    Breach,
    Confidence,
    Outcome,
    ProbeMode,
    ProbeOutcome,
    TargetInfo,
)
from tests.support.outcomes import TARGET, make_outcome


def test_outcomes_round_trip_with_every_field() -> None:
    outcomes = [
        make_outcome(1),
        make_outcome(2, Outcome.TIMEOUT, confidence=Confidence.DEGRADED),
        make_outcome(3, breaches=(Breach("latency", 9, 5, 2),), mode=ProbeMode.NOTIFICATION),
    ]
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        back = pickle.loads(pickle.dumps(outcomes, protocol=protocol))
        assert back == outcomes
        assert back[1].outcome is Outcome.TIMEOUT and back[1].confidence is Confidence.DEGRADED
        assert back[2].mode is ProbeMode.NOTIFICATION


def test_a_target_pickled_in_another_process_hashes_like_one_made_here() -> None:
    # str hashes are salted per process: a hash carried inside the pickle would not
    # find the target in this process's dictionaries.
    code = (
        "import pickle, sys\n"
        "from tests.support.outcomes import make_outcome\n"
        "sys.stdout.buffer.write(pickle.dumps(make_outcome(7)))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": os.getcwd()}
    raw = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, env=env
    ).stdout
    outcome = pickle.loads(raw)
    assert outcome.target == TARGET
    assert hash(outcome.target) == hash(TARGET)
    assert {TARGET: "found"}[outcome.target] == "found"
    assert {(TARGET, ProbeMode.CONTROL): 1}[(outcome.target, outcome.mode)] == 1


def test_a_replaced_target_gets_its_own_hash() -> None:
    import dataclasses

    other = dataclasses.replace(TARGET, name="other")
    assert other != TARGET and hash(other) == hash(TargetInfo(**{
        f.name: getattr(other, f.name) for f in dataclasses.fields(other) if f.init
    }))  # fmt: skip


def test_a_breach_pickles_as_a_tuple_of_its_fields() -> None:
    b = Breach("latency", 9, 5, 2)
    assert b.__reduce__() == (Breach, ("latency", 9, 5, 2))
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        back = pickle.loads(pickle.dumps(b, protocol=protocol))
        assert back == b and type(back) is Breach
    # No per-field state in the pickle: only the class and the values.
    assert b"threshold" not in pickle.dumps(b, protocol=pickle.HIGHEST_PROTOCOL)


def test_an_outcome_is_immutable_and_unpickles_without_a_python_constructor() -> None:
    o = make_outcome(4, breaches=(Breach("jitter", 9, 5, 1),))
    with pytest.raises(AttributeError):
        o.rtt_ns = 1  # type: ignore[misc]
    changed = o._replace(sequence=5)
    assert (changed.sequence, o.sequence) == (5, 4) and changed.rtt_ns == o.rtt_ns
    rebuild, args = o.__reduce__()
    # tuple.__new__ itself (C), not the named tuple's generated __new__ (Python).
    assert rebuild is tuple.__new__ and args[0] is ProbeOutcome and type(args[1]) is tuple
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        data = pickle.dumps(o, protocol=protocol)
        assert b"rtt_ns" not in data and b"sequence" not in data
        back = pickle.loads(data)
        assert type(back) is ProbeOutcome and back == o and back.ok and back.rtt_s == o.rtt_s
