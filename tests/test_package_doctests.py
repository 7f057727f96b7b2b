"""Every example in a docstring of the package runs and holds (core has its own test)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import otel_genesys

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(otel_genesys.__path__, "otel_genesys.")
    if not m.name.endswith("__main__") and not m.name.startswith("otel_genesys.core.")
)


def test_the_walk_found_the_package() -> None:
    assert "otel_genesys.agent.failures" in MODULES and len(MODULES) > 40


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
