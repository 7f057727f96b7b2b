"""A string that will not print itself: client secrets and access tokens."""

from __future__ import annotations

from typing import Any


class Secret:
    """Holds a sensitive string; ``repr``/``str``/``format`` show ``'***'``.

    Read the value with :meth:`reveal` at the single place it goes on the wire.

    >>> s = Secret("hunter2")
    >>> str(s), repr(s)
    ('***', "Secret('***')")
    >>> s.reveal()
    'hunter2'
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        object.__setattr__(self, "_value", str(value))

    def reveal(self) -> str:
        return self._value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("Secret values are not picklable")
