"""Which targets this replica monitors: rendezvous (highest random weight) hashing.

Many agent replicas (a Kubernetes StatefulSet, several VMs) share one target
list. Each replica keeps the targets whose highest-weight shard is its own:

    weight(shard, target) = blake2b(f"{shard}\\x00{target.name}", digest_size=8), big-endian
    owner(target)         = the shard with the highest weight

Properties, all tested:

- deterministic across processes, hosts and Python versions (no ``hash()``,
  whose seed changes per process);
- every target is owned by exactly one shard in ``[0, shard_count)``;
- growing from ``n`` to ``n + 1`` replicas moves only the targets the new shard
  now wins (about ``1/(n + 1)`` of them), and each moves *to* the new shard:
  the other replicas keep their connections;
- no coordination: replicas agree because they compute the same function.

Pure functions only: reading ``HOSTNAME`` or ``OTEL_GENESYS_SHARDING__*`` is
the config package's job (see :func:`ordinal_from_hostname`).

>>> from collections import namedtuple
>>> T = namedtuple("T", "name")
>>> targets = [T(f"org-{i}") for i in range(6)]
>>> shards = [select_shard(targets, i, 3) for i in range(3)]
>>> sorted(t.name for part in shards for t in part) == sorted(t.name for t in targets)
True
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Protocol, TypeVar


class Named(Protocol):
    """Anything with a stable ``name`` (every configured target has one)."""

    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)

_ORDINAL = re.compile(r"-(\d+)$")


def shard_weight(shard_index: int, target_name: str) -> int:
    """The rendezvous weight of ``target_name`` on shard ``shard_index`` (a 64-bit int).

    >>> shard_weight(0, "prod-eu") == shard_weight(0, "prod-eu")
    True
    """
    digest = hashlib.blake2b(f"{shard_index}\x00{target_name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner_shard(target_name: str, shard_count: int) -> int:
    """The shard in ``[0, shard_count)`` that monitors ``target_name``.

    Ties (astronomically unlikely with 64-bit weights) go to the lower index so
    the answer stays deterministic.

    >>> owner_shard("anything", 1)
    0
    """
    if shard_count < 1:
        raise ValueError(f"shard_count must be >= 1, not {shard_count}")
    best_index = 0
    best_weight = -1
    for index in range(shard_count):
        weight = shard_weight(index, target_name)
        if weight > best_weight:
            best_index, best_weight = index, weight
    return best_index


def select_shard(targets: Iterable[T], shard_index: int, shard_count: int) -> tuple[T, ...]:
    """The targets shard ``shard_index`` of ``shard_count`` monitors, in their original order.

    With ``shard_count == 1`` every target is returned. Raises ``ValueError``
    when ``shard_index`` is outside ``[0, shard_count)`` (config validation
    already rejects that; this guards library callers).
    """
    if shard_count < 1:
        raise ValueError(f"shard_count must be >= 1, not {shard_count}")
    if not 0 <= shard_index < shard_count:
        raise ValueError(f"shard_index must be in [0, {shard_count}), not {shard_index}")
    items = tuple(targets)
    if shard_count == 1:
        return items
    return tuple(t for t in items if owner_shard(t.name, shard_count) == shard_index)


def ordinal_from_hostname(hostname: str) -> int | None:
    """The StatefulSet pod ordinal in a host name, or ``None``.

    Kubernetes names StatefulSet pods ``<statefulset>-<ordinal>`` and sets
    ``HOSTNAME`` to the pod name; the trailing decimal after the last ``-`` is
    the ordinal. A fully qualified name uses its first label.

    >>> ordinal_from_hostname("otel-genesys-3")
    3
    >>> ordinal_from_hostname("otel-genesys-3.otel-genesys.monitoring.svc.cluster.local")
    3
    >>> ordinal_from_hostname("laptop") is None
    True
    """
    label = hostname.strip().split(".", 1)[0]
    match = _ORDINAL.search(label)
    if match is None or len(label) == len(match.group(0)):
        return None
    return int(match.group(1))


__all__ = ["Named", "ordinal_from_hostname", "owner_shard", "select_shard", "shard_weight"]
