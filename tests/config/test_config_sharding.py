"""Sharding settings: explicit index, StatefulSet ordinal from the host name, errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from otel_genesys.config import load_config
from otel_genesys.errors import ConfigError

WriteFile = Callable[..., Path]

SETTINGS = """
[sharding]
shard_count = 3

[targets.a]
url = "ws://127.0.0.1:9/a"
"""


def test_ordinal_comes_from_the_pod_host_name(write: WriteFile) -> None:
    config = load_config(write(SETTINGS), env={"HOSTNAME": "otel-genesys-2"})
    assert (config.shard_index, config.shard_count) == (2, 3)


def test_explicit_index_wins_over_the_host_name(write: WriteFile) -> None:
    env = {"HOSTNAME": "otel-genesys-2", "OTEL_GENESYS_SHARDING__SHARD_INDEX": "1"}
    config = load_config(write(SETTINGS), env=env)
    assert config.shard_index == 1


def test_no_index_and_no_ordinal_is_a_clear_error(write: WriteFile) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(SETTINGS), env={"HOSTNAME": "laptop"})
    (problem,) = info.value.problems
    assert "sharding.shard_index" in problem and "'laptop'" in problem


def test_ordinal_outside_the_shard_count_is_rejected(write: WriteFile) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(SETTINGS), env={"HOSTNAME": "otel-genesys-3"})
    assert any("[0, 3)" in p for p in info.value.problems)


def test_single_shard_ignores_the_host_name(write: WriteFile) -> None:
    config = load_config(write('[targets.a]\nurl = "ws://127.0.0.1:9/a"\n'), env={"HOSTNAME": "x"})
    assert (config.shard_index, config.shard_count) == (0, 1)
