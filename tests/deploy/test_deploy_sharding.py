"""Rendezvous sharding: a partition, balanced, stable when replicas are added."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_genesys.config import GenericTarget
from otel_genesys.core.sharding import (
    ordinal_from_hostname,
    owner_shard,
    select_shard,
    shard_weight,
)


@dataclass(frozen=True)
class T:
    name: str


def _targets(n: int) -> list[T]:
    return [T(f"org-{i:04d}") for i in range(n)]


names = st.lists(st.text(min_size=1, max_size=30), unique=True, max_size=60)


@settings(max_examples=60, deadline=None)
@given(names=names, count=st.integers(min_value=1, max_value=12))
def test_every_target_lands_in_exactly_one_shard(names: list[str], count: int) -> None:
    targets = [T(n) for n in names]
    parts = [select_shard(targets, i, count) for i in range(count)]
    owned = Counter(t.name for part in parts for t in part)
    assert set(owned) == set(names)
    assert all(c == 1 for c in owned.values())
    for i, part in enumerate(parts):
        assert all(owner_shard(t.name, count) == i for t in part)
        # original order is kept inside a shard
        assert list(part) == [t for t in targets if t in part]


def test_weights_are_pinned() -> None:
    # Pinned values: if these change, every running fleet reshuffles its targets on upgrade.
    assert shard_weight(0, "prod-eu") == 17301240105804596382
    assert [owner_shard(f"org-{i:04d}", 4) for i in range(12)] == [
        0, 1, 1, 1, 3, 2, 3, 1, 0, 1, 0, 0,
    ]  # fmt: skip


def test_single_shard_keeps_everything() -> None:
    targets = _targets(10)
    assert select_shard(targets, 0, 1) == tuple(targets)


@pytest.mark.parametrize("count", [2, 3, 5, 8, 16])
def test_balance_for_1000_targets(count: int) -> None:
    targets = _targets(1000)
    sizes = [len(select_shard(targets, i, count)) for i in range(count)]
    assert sum(sizes) == 1000
    mean = 1000 / count
    # Binomial spread: stay well inside +-35 % of the mean for these sizes.
    assert min(sizes) >= 0.65 * mean, sizes
    assert max(sizes) <= 1.35 * mean, sizes


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 10])
def test_adding_a_replica_moves_few_targets_and_only_to_the_new_shard(n: int) -> None:
    names = [t.name for t in _targets(1000)]
    before = {name: owner_shard(name, n) for name in names}
    after = {name: owner_shard(name, n + 1) for name in names}
    moved = [name for name in names if before[name] != after[name]]
    assert all(after[name] == n for name in moved)
    expected = 1000 / (n + 1)
    assert 0.6 * expected <= len(moved) <= 1.4 * expected, (len(moved), expected)


def test_works_on_real_config_targets() -> None:
    targets = [
        GenericTarget(name=f"t{i}", url=f"wss://h{i}/x", first_message=None) for i in range(9)
    ]
    parts = [select_shard(targets, i, 3) for i in range(3)]
    assert sorted(t.name for p in parts for t in p) == sorted(t.name for t in targets)


@pytest.mark.parametrize(("index", "count"), [(-1, 3), (3, 3), (0, 0), (5, 2)])
def test_out_of_range_arguments_are_refused(index: int, count: int) -> None:
    with pytest.raises(ValueError):
        select_shard(_targets(3), index, count)


@pytest.mark.parametrize(
    ("hostname", "ordinal"),
    [
        ("otel-genesys-3", 3),
        ("otel-genesys-0", 0),
        ("otel-genesys-12", 12),
        ("agent-007", 7),
        ("otel-genesys-3.otel-genesys.monitoring.svc.cluster.local", 3),
        ("  otel-genesys-4\n", 4),
        ("otel-genesys", None),
        ("laptop", None),
        ("", None),
        ("-3", None),
        ("web-3a", None),
        ("host.example-2.com", None),
    ],
)
def test_ordinal_from_hostname(hostname: str, ordinal: int | None) -> None:
    assert ordinal_from_hostname(hostname) == ordinal


@pytest.mark.parametrize("n", [2, 3, 5])
def test_removing_the_last_replica_moves_only_its_targets(n: int) -> None:
    names = [t.name for t in _targets(500)]
    before = {name: owner_shard(name, n) for name in names}
    after = {name: owner_shard(name, n - 1) for name in names}
    moved = {name for name in names if before[name] != after[name]}
    assert moved == {name for name in names if before[name] == n - 1}
