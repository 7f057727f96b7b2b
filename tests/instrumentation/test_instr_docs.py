"""docs/instrumentation.md names every setting and only telemetry names that exist."""

from __future__ import annotations

import re
from pathlib import Path

from otel_genesys.core.events import AuditKind, LifecycleStep
from otel_genesys.instrumentation import _sdk, _settings
from otel_genesys.telemetry import names

DOC = Path(__file__).resolve().parents[2] / "docs" / "instrumentation.md"


def test_every_environment_variable_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    constants = [
        value
        for module in (_settings, _sdk)
        for key, value in vars(module).items()
        if key.startswith("ENV_") and isinstance(value, str)
    ]
    assert len(constants) >= 6
    missing = [c for c in constants if f"| `{c}` |" not in text]
    assert missing == []


def test_only_defined_telemetry_names_are_used() -> None:
    known = {v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}
    known |= {k.value for k in AuditKind} | {s.value for s in LifecycleStep}
    used = set(re.findall(r"`(genesys\.[a-z0-9_.]+)", DOC.read_text(encoding="utf-8")))
    assert {names.METRIC_AUDIOHOOK_RTT, names.SPAN_PROBE} <= used
    assert used - known == set()
