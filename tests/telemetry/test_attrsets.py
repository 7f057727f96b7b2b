"""AttrSet: a metric series' attributes, compact, hashable and read-only."""

from __future__ import annotations

import json
import sys

import pytest

from otel_genesys.telemetry.attrsets import AttrSet


def test_it_reads_like_the_dict_it_was_built_from() -> None:
    d = {"server.port": 443, "genesys.target.name": "a", "flag": True}
    a = AttrSet.of(d)
    assert dict(a) == d and len(a) == 3
    assert list(a) == sorted(d)  # name order
    assert a["server.port"] == 443 and a.get("missing") is None
    assert "flag" in a and "missing" not in a
    assert dict(a.items()) == d and sorted(a.keys()) == sorted(d)
    with pytest.raises(KeyError):
        a["missing"]
    assert json.dumps(dict(a), sort_keys=True) == json.dumps(d, sort_keys=True)


def test_equal_and_hashing_equal_exactly_when_the_sets_are() -> None:
    a = AttrSet.of({"x": "1", "y": 2})
    b = AttrSet.of({"y": 2, "x": "1"})  # another insertion order
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    same = {"x": "1", "y": 2}
    assert a == same and same == a  # both ways round
    assert a != AttrSet.of({"x": "1", "y": 3})
    assert a != AttrSet.of({"x": "1", "z": 2})
    assert a != AttrSet.of({"x": "1"})
    assert a != {"x": "1"}


def test_sets_with_the_same_names_share_one_names_tuple() -> None:
    a = AttrSet.of({"p": 1, "q": 2})
    b = AttrSet.of({"q": 5, "p": 6})
    assert a.names is b.names


def test_smaller_than_the_dict_and_key_it_replaces() -> None:
    d = {f"attribute.{i}": f"value-{i}" for i in range(9)}
    a = AttrSet.of(d)
    own = sys.getsizeof(a) + sys.getsizeof(a.vals)  # the names tuple is shared
    replaced = sys.getsizeof(d) + 2 * sys.getsizeof(tuple(d.values())) + sys.getsizeof((1, 2))
    assert own < replaced / 2, (own, replaced)


def test_repr_shows_the_attributes() -> None:
    assert repr(AttrSet.of({"k": "v"})) == "AttrSet({'k': 'v'})"
