"""How one config key is read, checked and documented.

Every settings key is described once, as the ``metadata["spec"]`` of the
dataclass field it fills; the loader, ``redacted_dict`` and the reference in
docs/configuration.md are all driven by these specs, so they cannot disagree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_genesys.config._durations import (
    _parse_duration,
    _parse_millis,
    format_duration,
    format_millis,
)
from otel_genesys.cpus import CPU_LIST_HINT, format_cpu_list, parse_cpu_list

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})

Check = Callable[[Any], "str | None"]


class Invalid(ValueError):
    """A value could not be read as its key's type; the message never repeats the value."""


@dataclass(frozen=True, slots=True)
class Spec:
    """The description of one settings key."""

    key: str
    kind: str
    """duration | millis | timeout | int | float | bool | str | optional_str | choice | cpus
    | table"""
    doc: str
    rule: str = ""
    check: Check | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False
    type_label: str = ""
    """Overrides the type shown in the reference."""
    default_doc: str = ""
    """Overrides the default shown in the reference (for fields without a plain default)."""

    @property
    def type_name(self) -> str:
        """The type as the reference shows it."""
        if self.type_label:
            return self.type_label
        return {
            "duration": "duration",
            "millis": "number (ms)",
            "timeout": '"adaptive" or duration',
            "int": "integer",
            "float": "number",
            "bool": "boolean",
            "str": "string",
            "optional_str": "string",
            "choice": "string",
            "cpus": "CPU list",
            "table": "table",
        }.get(self.kind, self.kind)

    def convert(self, raw: object) -> Any:
        """Read ``raw`` (from TOML or an env var) as this key's type; raise :class:`Invalid`."""
        try:
            value = _CONVERTERS[self.kind](self, raw)
        except Invalid:
            raise
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise Invalid(problem)
        return value

    def render(self, value: Any) -> Any:
        """The settings-file spelling of an already converted value (``None`` = omit)."""
        if value is None:
            return "adaptive" if self.kind == "timeout" else None
        if self.kind in ("duration", "timeout"):
            return format_duration(value)
        if self.kind == "millis":
            return format_millis(value)
        if self.kind == "cpus":
            return format_cpu_list(value) if value else None
        return value


def spec_field(default: Any, spec: Spec) -> Any:
    """A dataclass field carrying ``spec`` in its metadata."""
    return field(default=default, metadata={"spec": spec})


def spec_of(metadata: Mapping[str, Any]) -> Spec | None:
    """The spec stored on a dataclass field, if any."""
    spec = metadata.get("spec")
    return spec if isinstance(spec, Spec) else None


# --- converters ---------------------------------------------------------------------------


def _to_int(spec: Spec, raw: object) -> int:
    if isinstance(raw, bool):
        raise Invalid("expected an integer, got a boolean")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and re.fullmatch(r"\s*[+-]?\d{1,18}\s*", raw):
        return int(raw)
    raise Invalid(f"expected an integer, got {kind_of(raw)}")


def _to_float(spec: Spec, raw: object) -> float:
    if isinstance(raw, bool):
        raise Invalid("expected a number, got a boolean")
    value: float
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise Invalid("expected a number, got a string") from None
    else:
        raise Invalid(f"expected a number, got {kind_of(raw)}")
    if not math.isfinite(value):
        raise Invalid("expected a finite number")
    return value


def _to_bool(spec: Spec, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise Invalid("expected true or false")
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    raise Invalid(f"expected true or false, got {kind_of(raw)}")


def _to_str(spec: Spec, raw: object) -> str:
    if not isinstance(raw, str):
        raise Invalid(f"expected a string, got {kind_of(raw)}")
    if not raw.strip():
        raise Invalid("must not be empty")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes smuggled in through os.environ
        raise Invalid("is not valid UTF-8") from None
    return raw


def _to_choice(spec: Spec, raw: object) -> str:
    if not isinstance(raw, str):
        raise Invalid(f"expected one of {_choices(spec)}, got {kind_of(raw)}")
    word = raw.strip().lower()
    for choice in spec.choices:
        if word == choice.lower():
            return choice
    raise Invalid(f"must be one of {_choices(spec)}")


def _to_duration(spec: Spec, raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise Invalid(f"expected a duration such as '2s', got {kind_of(raw)}")
    return _parse_duration(raw)


def _to_millis(spec: Spec, raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise Invalid(f"expected a number of milliseconds, got {kind_of(raw)}")
    return _parse_millis(raw)


def _to_timeout(spec: Spec, raw: object) -> int | None:
    if isinstance(raw, str) and raw.strip().lower() == "adaptive":
        return None
    try:
        return _to_duration(spec, raw)
    except (Invalid, ValueError):
        raise Invalid("expected \"adaptive\" or a duration such as '2s'") from None


def _to_cpus(spec: Spec, raw: object) -> tuple[int, ...]:
    if isinstance(raw, bool):
        raise Invalid(f"{CPU_LIST_HINT}, got a boolean")
    if isinstance(raw, int):
        raw = str(raw)
    elif isinstance(raw, list | tuple):
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in raw):
            raise Invalid(f"{CPU_LIST_HINT}: an array must hold CPU numbers only")
        raw = ",".join(str(x) for x in raw) if raw else ""
    if not isinstance(raw, str):
        raise Invalid(f"{CPU_LIST_HINT}, got {kind_of(raw)}")
    return parse_cpu_list(raw) if raw.strip() else ()


def _not_supported(spec: Spec, raw: object) -> Any:
    raise Invalid("is a table")


_CONVERTERS: dict[str, Callable[[Spec, object], Any]] = {
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "str": _to_str,
    "optional_str": _to_str,
    "choice": _to_choice,
    "duration": _to_duration,
    "millis": _to_millis,
    "timeout": _to_timeout,
    "cpus": _to_cpus,
    "table": _not_supported,
}


def _choices(spec: Spec) -> str:
    return ", ".join(spec.choices)


def kind_of(raw: object) -> str:
    """A value's TOML type name, never the value itself (it may be a secret)."""
    if isinstance(raw, bool):
        return "a boolean"
    if isinstance(raw, int):
        return "an integer"
    if isinstance(raw, float):
        return "a float"
    if isinstance(raw, str):
        return "a string"
    if isinstance(raw, Mapping):
        return "a table"
    if isinstance(raw, list | tuple):
        return "an array"
    return f"a {type(raw).__name__}"


# --- checks -------------------------------------------------------------------------------


def at_least_ns(limit: int) -> Check:
    """Durations must be >= ``limit``."""

    def check(value: Any) -> str | None:
        if value is not None and value < limit:
            return f"must be at least {format_duration(limit)}"
        return None

    return check


def at_most_ns(limit: int) -> Check:
    """Positive durations no longer than ``limit``."""

    def check(value: Any) -> str | None:
        if value is not None and value <= 0:
            return "must be a positive duration"
        if value is not None and value > limit:
            return f"must be at most {format_duration(limit)}"
        return None

    return check


def positive(value: Any) -> str | None:
    """Numbers and durations that must be > 0."""
    if value is not None and value <= 0:
        return "must be greater than 0"
    return None


def non_negative(value: Any) -> str | None:
    """Numbers and durations that must be >= 0."""
    if value is not None and value < 0:
        return "must not be negative"
    return None


def in_range(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Check:
    """Numbers inside an interval; open ends are exclusive."""
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    text = f"must be in {left}{low:g}, {high:g}{right}"

    def check(value: Any) -> str | None:
        too_low = value <= low if low_open else value < low
        too_high = value >= high if high_open else value > high
        return text if too_low or too_high else None

    return check


def url_scheme(*schemes: str) -> Check:
    """Absolute URLs with one of ``schemes`` and a host."""
    from urllib.parse import urlsplit

    wanted = " or ".join(f"{s}://" for s in schemes)

    def check(value: Any) -> str | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value.strip())
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            return f"must be a valid {wanted} URL"
        if parts.scheme.lower() not in schemes or not parts.hostname:
            return f"must be a {wanted} URL"
        return None

    return check


def matches(pattern: str, description: str) -> Check:
    """Strings that must match ``pattern`` entirely."""
    compiled = re.compile(pattern)

    def check(value: Any) -> str | None:
        if value is not None and not compiled.fullmatch(value):
            return f"must match {description}"
        return None

    return check
