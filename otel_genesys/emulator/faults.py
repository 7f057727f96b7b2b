"""Fault injection: what the emulator does wrong, on purpose, and where.

A :class:`FaultSpec` is a frozen value describing every misbehaviour the
emulator can show. The :class:`FaultController` holds one global spec and
optional per-target overrides (a notification channel id, or the
``connectionId`` of a realtime-endpoint connection). An override *replaces*
the global spec for that target; it is not merged with it. Token-endpoint
faults (``token_*``) are read from the global spec only: the token endpoint
knows no channel.

Pong delays are drawn from a seeded :class:`random.Random` per scope, so a
run with a seed is reproducible.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_genesys.core.durations import parse_duration as _parse_duration_ns
from otel_genesys.errors import ConfigError

DISTRIBUTIONS = ("fixed", "uniform", "normal", "pareto")
TOKEN_OUTAGES = ("drop", "503", "500")
HANDSHAKE_REFUSALS = (401, 403, 429, 503)

def parse_duration(text: str | float | int) -> float:
    """Seconds from ``"5ms"``, ``"1.5s"``, ``"250us"``, ``"2m"`` or a bare number of seconds.

    >>> parse_duration("5ms"), parse_duration(2), parse_duration("1.5")
    (0.005, 2.0, 1.5)
    """
    return _parse_duration_ns(text) / 1e9


@dataclass(frozen=True, slots=True)
class DelaySpec:
    """A pong-delay distribution, in seconds, capped at ``max_s``.

    ``a``/``b`` by distribution: ``fixed`` a=value; ``uniform`` a=low, b=high;
    ``normal`` a=mean, b=stddev (negative draws become 0); ``pareto``
    a=scale (the minimum), b=shape alpha (heavier tail as it shrinks).

    >>> DelaySpec.parse("uniform:1ms,3ms")
    DelaySpec(distribution='uniform', a=0.001, b=0.003, max_s=60.0)
    """

    distribution: str
    a: float
    b: float = 0.0
    max_s: float = 60.0

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigError(problems)

    def problems(self) -> list[str]:
        """Every reason this spec is invalid (empty when valid)."""
        out: list[str] = []
        if self.distribution not in DISTRIBUTIONS:
            out.append(f"pong_delay.distribution must be one of {DISTRIBUTIONS}")
            return out
        for name, value in (("a", self.a), ("b", self.b), ("max_s", self.max_s)):
            if not math.isfinite(value) or value < 0:
                out.append(f"pong_delay.{name} must be finite and >= 0")
        if self.distribution == "uniform" and self.b < self.a:
            out.append("pong_delay uniform needs low <= high")
        if self.distribution == "pareto" and self.b <= 0:
            out.append("pong_delay pareto needs shape > 0")
        return out

    @classmethod
    def fixed(cls, value_s: float) -> DelaySpec:
        """Always ``value_s``."""
        return cls("fixed", value_s)

    @classmethod
    def uniform(cls, low_s: float, high_s: float) -> DelaySpec:
        """Uniform in ``[low_s, high_s]``."""
        return cls("uniform", low_s, high_s)

    @classmethod
    def normal(cls, mean_s: float, stddev_s: float) -> DelaySpec:
        """Gaussian, clipped at 0."""
        return cls("normal", mean_s, stddev_s)

    @classmethod
    def pareto(cls, scale_s: float, shape: float, max_s: float = 60.0) -> DelaySpec:
        """Pareto with minimum ``scale_s`` and tail index ``shape``: long-tail latency."""
        return cls("pareto", scale_s, shape, max_s)

    def sample(self, rng: random.Random) -> float:
        """One delay in seconds drawn from ``rng``."""
        kind = self.distribution
        if kind == "fixed":
            value = self.a
        elif kind == "uniform":
            value = rng.uniform(self.a, self.b)
        elif kind == "normal":
            value = rng.gauss(self.a, self.b)
        else:
            value = self.a * rng.paretovariate(self.b)
        return min(max(value, 0.0), self.max_s)

    def to_json(self) -> dict[str, Any]:
        """The JSON form used by the admin API (named parameters)."""
        names = _PARAM_NAMES[self.distribution]
        out: dict[str, Any] = {"distribution": self.distribution, names[0]: self.a}
        if names[1]:
            out[names[1]] = self.b
        out["max_s"] = self.max_s
        return out

    @classmethod
    def from_json(cls, data: object) -> DelaySpec:
        """Accepts the :meth:`to_json` form, or a string for :meth:`parse`."""
        if isinstance(data, str):
            return cls.parse(data)
        if not isinstance(data, Mapping):
            raise ConfigError("pong_delay must be an object or a string like 'fixed:5ms'")
        kind = data.get("distribution")
        if kind not in _PARAM_NAMES:
            raise ConfigError(f"pong_delay.distribution must be one of {DISTRIBUTIONS}")
        first, second = _PARAM_NAMES[kind]
        allowed = {"distribution", "max_s", first} | ({second} if second else set())
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ConfigError(f"pong_delay: unknown keys {unknown} for {kind}")
        try:
            a = parse_duration(data[first]) if first.endswith("_s") else float(data[first])
            b = 0.0
            if second:
                raw = data[second]
                b = parse_duration(raw) if second.endswith("_s") else float(raw)
            max_s = parse_duration(data.get("max_s", 60.0))
        except KeyError as exc:
            raise ConfigError(f"pong_delay {kind} needs {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"pong_delay: {exc}") from None
        return cls(kind, a, b, max_s)

    @classmethod
    def parse(cls, text: str) -> DelaySpec:
        """Parse ``fixed:5ms``, ``5ms``, ``uniform:1ms,10ms``, ``normal:20ms,5ms``,
        ``pareto:5ms,1.5`` (scale, shape); an optional ``,max=2s`` caps any of them."""
        kind, _, rest = text.partition(":")
        if not rest:
            kind, rest = "fixed", text
        kind = kind.strip().lower()
        parts = [p.strip() for p in rest.split(",") if p.strip()]
        max_s = 60.0
        if parts and parts[-1].startswith("max="):
            try:
                max_s = parse_duration(parts.pop()[4:])
            except ValueError as exc:
                raise ConfigError(f"pong delay {text!r}: {exc}") from None
        want = {"fixed": 1, "uniform": 2, "normal": 2, "pareto": 2}.get(kind)
        if want is None:
            raise ConfigError(f"pong delay {text!r}: distribution must be one of {DISTRIBUTIONS}")
        if len(parts) != want:
            raise ConfigError(f"pong delay {text!r}: {kind} takes {want} parameter(s)")
        try:
            a = parse_duration(parts[0])
            b = 0.0
            if want == 2:
                b = float(parts[1]) if kind == "pareto" else parse_duration(parts[1])
        except ValueError as exc:
            raise ConfigError(f"pong delay {text!r}: {exc}") from None
        return cls(kind, a, b, max_s)


_PARAM_NAMES: dict[str, tuple[str, str]] = {
    "fixed": ("value_s", ""),
    "uniform": ("low_s", "high_s"),
    "normal": ("mean_s", "stddev_s"),
    "pareto": ("scale_s", "shape"),
}


def _valid_close_code(code: int) -> bool:
    # 1004-1006 and 1015 are reserved and must never be sent on the wire.
    return (1000 <= code <= 1014 and code not in (1004, 1005, 1006)) or 3000 <= code <= 4999


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Every misbehaviour the emulator can show; the default is a healthy server.

    Socket faults (apply to a channel's WebSocket or a realtime connection):

    - ``pong_delay``: delay each pong by a draw from this distribution,
      measured from the moment the ping was received.
    - ``seed``: seeds the delay/drop random generator (``None``: random).
    - ``drop_probability``: chance that a ping gets no pong at all.
    - ``blackhole``: keep TCP open and answer nothing (no pong, heartbeat,
      subscribe reply or close reply).
    - ``duplicate``: extra copies sent with each pong.
    - ``unsolicited_per_ping``: pongs for no ping at all, sent at once when a
      ping arrives (control pongs carry a payload the client never sent).
    - ``heartbeat_stop``: no ``WebSocket Heartbeat`` messages.
    - ``close_after_s``/``close_code``: close the socket with that code this
      long after it opened (or after the fault was set, if later).
    - ``reset_after_s``: abort the TCP connection (RST) this long after.
    - ``handshake_status``: refuse the upgrade with 401/403/429/503.
    - ``handshake_delay_s``: wait this long before answering the upgrade.

    Token-endpoint faults (global spec only):

    - ``token_outage``: ``"drop"`` (close the connection, no response),
      ``"503"`` or ``"500"``, until cleared.
    - ``token_429_burst``: the next N token requests get 429 with
      ``Retry-After: token_retry_after_s``.
    - ``token_lifetime_s``: overrides every client's token lifetime.
    """

    pong_delay: DelaySpec | None = None
    seed: int | None = None
    drop_probability: float = 0.0
    blackhole: bool = False
    duplicate: int = 0
    unsolicited_per_ping: int = 0
    heartbeat_stop: bool = False
    close_after_s: float | None = None
    close_code: int = 1000
    reset_after_s: float | None = None
    handshake_status: int | None = None
    handshake_delay_s: float = 0.0
    token_outage: str | None = None
    token_429_burst: int = 0
    token_retry_after_s: int = 1
    token_lifetime_s: float | None = None

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigError(problems)

    def problems(self) -> list[str]:
        """Every reason this spec is invalid (empty when valid)."""
        out: list[str] = []
        if not 0.0 <= self.drop_probability <= 1.0:
            out.append("drop_probability must be within [0, 1]")
        for name in ("duplicate", "unsolicited_per_ping", "token_429_burst"):
            if getattr(self, name) < 0:
                out.append(f"{name} must be >= 0")
        if self.duplicate > 100 or self.unsolicited_per_ping > 100:
            out.append("duplicate and unsolicited_per_ping are capped at 100")
        for name in ("close_after_s", "reset_after_s", "token_lifetime_s"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                out.append(f"{name} must be finite and >= 0")
        if not math.isfinite(self.handshake_delay_s) or self.handshake_delay_s < 0:
            out.append("handshake_delay_s must be finite and >= 0")
        if not _valid_close_code(self.close_code):
            out.append("close_code must be a sendable WebSocket close code (1000-1014 "
                       "except 1004-1006, or 3000-4999)")
        if self.handshake_status is not None and self.handshake_status not in HANDSHAKE_REFUSALS:
            out.append(f"handshake_status must be one of {HANDSHAKE_REFUSALS}")
        if self.token_outage is not None and self.token_outage not in TOKEN_OUTAGES:
            out.append(f"token_outage must be one of {TOKEN_OUTAGES}")
        if self.token_retry_after_s < 0:
            out.append("token_retry_after_s must be >= 0")
        return out

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict (every field)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.to_json() if isinstance(value, DelaySpec) else value
        return out

    @classmethod
    def from_json(cls, data: object, *, base: FaultSpec | None = None) -> FaultSpec:
        """Build from a JSON object; keys not given keep ``base``'s values (default: healthy).

        Durations may be numbers of seconds or strings such as ``"5ms"``.
        Raises :class:`ConfigError` listing every problem.
        """
        if not isinstance(data, Mapping):
            raise ConfigError("a fault spec must be a JSON object")
        known = {f.name: f for f in dataclasses.fields(cls)}
        problems = [f"unknown fault key {k!r}" for k in sorted(set(data) - set(known))]
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key not in known:
                continue
            try:
                values[key] = _coerce(key, raw)
            except ConfigError as exc:
                problems.extend(exc.problems)
            except (TypeError, ValueError) as exc:
                problems.append(f"{key}: {exc}")
        try:
            spec = dataclasses.replace(base or cls(), **values)
        except ConfigError as exc:
            problems.extend(exc.problems)
        if problems:
            raise ConfigError(problems)
        return spec

    @property
    def is_healthy(self) -> bool:
        """True when this spec injects nothing."""
        return self == FaultSpec()


_INT_KEYS = {"seed", "duplicate", "unsolicited_per_ping", "close_code", "handshake_status",
             "token_429_burst", "token_retry_after_s"}
_BOOL_KEYS = {"blackhole", "heartbeat_stop"}
_SECONDS_KEYS = {"close_after_s", "reset_after_s", "handshake_delay_s", "token_lifetime_s"}


def _coerce(key: str, raw: object) -> Any:
    nullable = key in {"pong_delay", "seed", "close_after_s", "reset_after_s",
                       "handshake_status", "token_outage", "token_lifetime_s"}
    if raw is None:
        if nullable:
            return None
        raise ValueError("must not be null")
    if key == "pong_delay":
        return DelaySpec.from_json(raw)
    if key in _BOOL_KEYS:
        if not isinstance(raw, bool):
            raise ValueError("must be true or false")
        return raw
    if key in _INT_KEYS:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError("must be an integer")
        return raw
    if key in _SECONDS_KEYS:
        if not isinstance(raw, str | int | float):
            raise ValueError("must be a duration")
        return parse_duration(raw)
    if key == "drop_probability":
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ValueError("must be a number")
        return float(raw)
    if key == "token_outage":
        return str(raw)
    raise ValueError("unsupported")  # pragma: no cover - every field is handled above


HEALTHY = FaultSpec()


@dataclass(slots=True)
class _Scope:
    spec: FaultSpec
    rng: random.Random = field(default_factory=random.Random)


class FaultController:
    """The live fault state: a global spec plus per-target overrides.

    Listeners registered with :meth:`add_listener` are called with the
    affected target id (``None`` for a global change) after every change, so
    open sockets can re-arm their timers.
    """

    def __init__(self, global_spec: FaultSpec | None = None) -> None:
        self._global = _Scope(HEALTHY)
        self._targets: dict[str, _Scope] = {}
        self._listeners: list[Callable[[str | None], None]] = []
        self._token_429_left = 0
        self.set_global(global_spec or HEALTHY)

    def add_listener(self, listener: Callable[[str | None], None]) -> None:
        """Call ``listener(target_id | None)`` after each change."""
        self._listeners.append(listener)

    def _notify(self, target: str | None) -> None:
        for listener in self._listeners:
            listener(target)

    @staticmethod
    def _scope(spec: FaultSpec) -> _Scope:
        return _Scope(spec, random.Random(spec.seed))

    @property
    def global_spec(self) -> FaultSpec:
        """The spec every target without an override uses."""
        return self._global.spec

    def set_global(self, spec: FaultSpec) -> None:
        """Replace the global spec (re-seeds its generator, re-arms the 429 burst)."""
        self._global = self._scope(spec)
        self._token_429_left = spec.token_429_burst
        self._notify(None)

    def set_channel(self, target_id: str, spec: FaultSpec) -> None:
        """Override the spec for one channel id (or realtime ``connectionId``)."""
        self._targets[target_id] = self._scope(spec)
        self._notify(target_id)

    def clear_channel(self, target_id: str) -> None:
        """Drop one override; the target falls back to the global spec."""
        if self._targets.pop(target_id, None) is not None:
            self._notify(target_id)

    def clear(self) -> None:
        """Healthy everywhere: global spec reset and every override dropped."""
        self._targets.clear()
        self.set_global(HEALTHY)

    def channel_spec(self, target_id: str) -> FaultSpec | None:
        """The override for ``target_id``, if any."""
        scope = self._targets.get(target_id)
        return scope.spec if scope else None

    def overrides(self) -> dict[str, FaultSpec]:
        """Every per-target override."""
        return {key: scope.spec for key, scope in self._targets.items()}

    def effective(self, target_id: str | None) -> tuple[FaultSpec, random.Random]:
        """The spec in force for ``target_id`` and the generator to draw from."""
        scope = self._targets.get(target_id) if target_id is not None else None
        scope = scope or self._global
        return scope.spec, scope.rng

    def take_token_429(self) -> bool:
        """True (and one fewer left) while a 429 burst is in progress."""
        if self._token_429_left > 0:
            self._token_429_left -= 1
            return True
        return False

    @property
    def token_429_left(self) -> int:
        """How many token requests the current burst will still refuse."""
        return self._token_429_left
