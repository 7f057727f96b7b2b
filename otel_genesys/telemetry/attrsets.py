"""Attribute sets of metric series: compact, hashable, read-only mappings.

A target has about six metric series (RTT by confidence, the shared base set of
jitter, PDV and lateness, probes by outcome, stability by scope), each with eight
or nine attributes, and one process holds thousands of targets. As a ``dict``,
each set costs about 0.35 KiB, and the series also needs a hashable key of its
own. An :class:`AttrSet` is both: the names (sorted, one tuple shared by every
set with the same names) and the values in the same order, about 0.2 KiB in all.

It is a :class:`~collections.abc.Mapping`, so it goes wherever the SDK takes
``attributes`` (data points, exporters, ``to_json``) and iterates in name order.

>>> a = AttrSet.of({"b": 2, "a": 1})
>>> dict(a), a == AttrSet.of({"a": 1, "b": 2}), a["b"]
({'a': 1, 'b': 2}, True, 2)
>>> a == {"a": 1, "b": 2}
True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

_LAYOUTS: dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, int]]] = {}
"""Sorted names → (the one shared tuple of them, name → position). A handful of
entries: one per distinct set of attribute names."""


class AttrSet(Mapping[str, Any]):
    """One attribute set: equal (and hashing equally) exactly when the sets are.

    Build it with :meth:`of`; never mutate ``names`` or ``vals``.
    """

    __slots__ = ("_index", "names", "vals", "wire")

    names: tuple[str, ...]
    """The attribute names, sorted; shared by every set with the same names."""
    vals: tuple[Any, ...]
    """The values, in the order of :attr:`names`."""
    wire: tuple[bytes, ...] | None
    """``(tag, bytes, ...)``: the set encoded as OTLP ``KeyValue`` fields under each
    ``tag`` it was written under (a set can head histogram and counter points, two
    tags), kept here by the metric encoder (``metrics_wire``) so that it needs no
    cache entry of its own. A cache, not part of the set's value: ignored by ``==``
    and ``hash``."""

    def __init__(self, names: tuple[str, ...], vals: tuple[Any, ...]) -> None:
        layout = _LAYOUTS.get(names)
        if layout is None:
            layout = _LAYOUTS[names] = (names, {k: i for i, k in enumerate(names)})
        self.names, self._index = layout
        self.vals = vals
        self.wire = None

    @classmethod
    def of(cls, attrs: Mapping[str, Any]) -> AttrSet:
        """The set holding ``attrs``'s items (already cleaned as the SDK cleans them)."""
        names = tuple(sorted(attrs))
        return cls(names, tuple([attrs[k] for k in names]))

    def __getitem__(self, key: str) -> Any:
        return self.vals[self._index[key]]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __hash__(self) -> int:
        return hash((self.names, self.vals))

    def __eq__(self, other: object) -> bool:
        if type(other) is AttrSet:
            return self.names is other.names and self.vals == other.vals
        return Mapping.__eq__(self, other)

    def __repr__(self) -> str:
        return f"AttrSet({dict(zip(self.names, self.vals, strict=True))!r})"
