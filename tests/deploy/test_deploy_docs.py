"""The operator docs only use telemetry names that exist.

Dashboards and runbooks rot silently when a metric is renamed: every
``genesys.*`` name in these pages must be one that ``telemetry/names.py`` (or
an audit kind / lifecycle step) defines.
"""

from __future__ import annotations

import re

import pytest
from deploy_helpers import ROOT

from otel_genesys.core.events import AuditKind, LifecycleStep
from otel_genesys.telemetry import names

PAGES = ["getting-started.md", "runbook.md", "dashboards.md", "scaling.md"]
NAME = re.compile(r"(?<![\w.\-/])genesys\.[a-z0-9_]+(?:\.[a-z0-9_]+)*")
# Backends derive columns from a histogram (e.g. Honeycomb's ``.p99``).
DERIVED_SUFFIXES = (".p50", ".p95", ".p99", ".avg", ".count", ".sum", ".max", ".min")


def known_names() -> set[str]:
    """Every telemetry name otel-genesys defines."""
    out = {
        value
        for key, value in vars(names).items()
        if key.isupper() and isinstance(value, str) and value.startswith("genesys.")
    }
    out |= {k.value for k in AuditKind} | {s.value for s in LifecycleStep}
    return out


def unknown_names(text: str, known: set[str]) -> set[str]:
    """``genesys.*`` names in ``text`` that are not defined."""
    found = set(NAME.findall(text))
    bad = set()
    for name in found:
        base = next((name[: -len(s)] for s in DERIVED_SUFFIXES if name.endswith(s)), name)
        if name in known or base in known or re.fullmatch(r"genesys\.phase\.\w+\.duration", name):
            continue
        bad.add(name)
    return bad


@pytest.mark.parametrize("page", PAGES)
def test_docs_use_only_defined_names(page: str) -> None:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    assert NAME.search(text), f"{page} names no telemetry at all?"
    assert unknown_names(text, known_names()) == set()


def test_the_name_check_can_fail() -> None:
    known = known_names()
    assert {"genesys.websocket.rtt", "genesys.connection.reconnect"} <= known
    text = "p99:genesys.websocket.rtt{*} and genesys.websocket.rtt_ms and otel_genesys.agent.x"
    assert unknown_names(text, known) == {"genesys.websocket.rtt_ms"}


METRIC_NAMES = (
    names.METRIC_RTT,
    names.METRIC_JITTER_RFC3550,
    names.METRIC_STABILITY,
    names.METRIC_PROBES,
    names.METRIC_RECONNECTS,
    "timeout",
)


def test_dashboards_cover_every_backend_and_signal() -> None:
    text = (ROOT / "docs" / "dashboards.md").read_text(encoding="utf-8")
    for heading in ("## Datadog", "## New Relic", "## Honeycomb"):
        assert heading in text
    sections = re.split(r"^## ", text, flags=re.M)
    # Honeycomb is queried on the probe spans, the others on the metrics.
    wanted = {
        "Datadog": METRIC_NAMES,
        "New Relic": METRIC_NAMES,
        "Honeycomb": ("genesys.rtt", "genesys.jitter.rfc3550", "genesys.stability.window",
                      "genesys.connection.reconnect", "timeout"),
    }  # fmt: skip
    for backend, needed in wanted.items():
        (body,) = [s for s in sections if s.startswith(backend)]
        for name in needed:
            assert name in body, (backend, name)


def test_runbook_has_a_section_per_failure() -> None:
    text = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
    headings = re.findall(r"^##+ (.+)$", text, flags=re.M)
    for needle in (
        "401",
        "403",
        "1002",
        "False-positive timeouts",
        "429",
        "socket_closing",
        "Channel expiry",
        "Collector down",
    ):
        assert any(needle in h for h in headings), needle
    for part in ("**What the agent does.**", "**What you see.**", "**What to do.**"):
        assert text.count(part) >= 8, part
