"""Discovery the way ``opentelemetry-instrument`` does it, and disabling by entry-point name."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points

import pytest
from opentelemetry.instrumentation.auto_instrumentation._load import _load_instrumentors
from opentelemetry.instrumentation.distro import DefaultDistro
from opentelemetry.instrumentation.environment_variables import (
    OTEL_PYTHON_DISABLED_INSTRUMENTATIONS,
)

from otel_genesys.instrumentation import (
    ENTRY_POINT_NAME,
    GenesysWebSocketInstrumentor,
    shutdown_all,
)
from otel_genesys.instrumentation.package import _instruments


@pytest.fixture
def clean() -> Iterator[GenesysWebSocketInstrumentor]:
    inst = GenesysWebSocketInstrumentor()
    assert not inst.is_instrumented_by_opentelemetry
    try:
        yield inst
    finally:
        if inst.is_instrumented_by_opentelemetry:
            inst.uninstrument()
        shutdown_all(5.0)


def test_entry_point_is_registered_and_loads() -> None:
    (ep,) = [
        e for e in entry_points(group="opentelemetry_instrumentor") if e.name == ENTRY_POINT_NAME
    ]
    assert ep.load() is GenesysWebSocketInstrumentor


def test_dependencies_name_aiohttp_only() -> None:
    assert GenesysWebSocketInstrumentor().instrumentation_dependencies() == _instruments
    assert all(not d.startswith("websockets") for d in _instruments)
    assert GenesysWebSocketInstrumentor()._check_dependency_conflicts() is None


def test_the_loader_instruments_it(
    clean: GenesysWebSocketInstrumentor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS, raising=False)
    _load_instrumentors(DefaultDistro())
    assert clean.is_instrumented_by_opentelemetry


@pytest.mark.parametrize("value", [ENTRY_POINT_NAME, f"flask, {ENTRY_POINT_NAME}", "*"])
def test_disabled_by_name_it_stays_off(
    clean: GenesysWebSocketInstrumentor, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS, value)
    _load_instrumentors(DefaultDistro())
    assert not clean.is_instrumented_by_opentelemetry
