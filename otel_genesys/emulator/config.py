"""The emulator's own small configuration: frozen dataclasses loaded from TOML.

It is deliberately separate from the agent's configuration: the emulator is a
test fixture and a demo server, not part of the agent.

Example file: ``examples/emulator.toml``. Every key is optional; an empty file
gives the default config (one client, ``otel-genesys-demo``/``demo-secret``,
permitted for ``v2.*`` topics).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from otel_genesys.emulator.faults import FaultSpec, parse_duration
from otel_genesys.errors import ConfigError
from otel_genesys.secret import Secret

DEFAULT_CLIENT_ID = "otel-genesys-demo"
DEFAULT_CLIENT_SECRET = "demo-secret"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``requests`` per fixed window of ``window_s`` seconds."""

    requests: int
    window_s: float


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """One OAuth client the emulator accepts.

    ``notifications`` False models a client whose roles lack the notification
    permission entirely (subscriptions answer 403 ``missing.permissions``);
    ``topics`` are glob patterns (``fnmatch``) of the topics it may subscribe
    to. ``token_lifetime_s`` is shorter-than-real allowed, for rollover tests
    (Genesys itself allows 300-172800 s).
    """

    client_id: str
    client_secret: Secret
    token_lifetime_s: float = 86400.0
    notifications: bool = True
    topics: tuple[str, ...] = ("v2.*",)
    token_rate: RateLimit | None = None
    api_rate: RateLimit | None = None


DEFAULT_CLIENT = ClientConfig(DEFAULT_CLIENT_ID, Secret(DEFAULT_CLIENT_SECRET))


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """Everything the emulator needs at start; faults may change live afterwards."""

    clients: tuple[ClientConfig, ...] = (DEFAULT_CLIENT,)
    heartbeat_interval_s: float = 30.0
    channel_lifetime_s: float = 86400.0
    channels_per_client: int = 20
    max_topics_per_channel: int = 1000
    socket_closing_lead_s: float = 60.0
    maintenance_close_after_s: float | None = None
    """Close every notification socket this long after it opened, announcing
    it with ``v2.system.socket_closing`` ``socket_closing_lead_s`` before."""
    realtime_max_message_bytes: int = 65536
    realtime_subscribe_timeout_s: float = 10.0
    faults: FaultSpec = field(default_factory=FaultSpec)
    channel_faults: tuple[tuple[str, FaultSpec], ...] = ()

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ConfigError(problems)

    def client(self, client_id: str) -> ClientConfig | None:
        """The configured client with this id, if any."""
        for client in self.clients:
            if client.client_id == client_id:
                return client
        return None


def _problems(cfg: EmulatorConfig) -> list[str]:
    out: list[str] = []
    if not cfg.clients:
        out.append("at least one client is needed")
    ids = [c.client_id for c in cfg.clients]
    if len(set(ids)) != len(ids):
        out.append("client ids must be unique")
    for c in cfg.clients:
        if not c.client_id or ":" in c.client_id:
            out.append(f"client_id {c.client_id!r} must be non-empty and contain no ':'")
        if not c.client_secret:
            out.append(f"client {c.client_id!r}: client_secret must not be empty")
        if not math.isfinite(c.token_lifetime_s) or c.token_lifetime_s <= 0:
            out.append(f"client {c.client_id!r}: token_lifetime_s must be > 0")
        for rate in (c.token_rate, c.api_rate):
            if rate is not None and (rate.requests < 1 or not rate.window_s > 0):
                out.append(f"client {c.client_id!r}: rate needs requests >= 1 and window_s > 0")
    positive = ("heartbeat_interval_s", "channel_lifetime_s", "realtime_subscribe_timeout_s")
    for name in positive:
        value = getattr(cfg, name)
        if not math.isfinite(value) or value <= 0:
            out.append(f"{name} must be > 0")
    if cfg.socket_closing_lead_s < 0:
        out.append("socket_closing_lead_s must be >= 0")
    if cfg.maintenance_close_after_s is not None and cfg.maintenance_close_after_s <= 0:
        out.append("maintenance_close_after_s must be > 0")
    if cfg.channels_per_client < 1:
        out.append("channels_per_client must be >= 1")
    if cfg.max_topics_per_channel < 1:
        out.append("max_topics_per_channel must be >= 1")
    if cfg.realtime_max_message_bytes < 64:
        out.append("realtime_max_message_bytes must be >= 64")
    return out


_SECONDS = {"heartbeat_interval_s", "channel_lifetime_s", "socket_closing_lead_s",
            "maintenance_close_after_s", "realtime_subscribe_timeout_s"}
_INTS = {"channels_per_client", "max_topics_per_channel", "realtime_max_message_bytes"}
_CLIENT_KEYS = {"client_id", "client_secret", "token_lifetime_s", "notifications", "topics",
                "token_rate", "api_rate"}


def config_from_mapping(data: Mapping[str, Any]) -> EmulatorConfig:
    """Build a config from parsed TOML (or any mapping); :class:`ConfigError` lists all problems.

    The keys may sit at the top level or under an ``[emulator]`` table.
    """
    if isinstance(data.get("emulator"), Mapping):
        data = data["emulator"]
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key, raw in data.items():
        try:
            if key in _SECONDS:
                seconds = parse_duration(raw)
                # TOML has no null: 0 switches the maintenance close off.
                off = key == "maintenance_close_after_s" and seconds == 0
                values[key] = None if off else seconds
            elif key in _INTS:
                if isinstance(raw, bool) or not isinstance(raw, int):
                    raise ValueError("must be an integer")
                values[key] = raw
            elif key == "clients":
                values[key] = tuple(_client(c, i, problems) for i, c in enumerate(raw))
            elif key == "faults":
                values[key] = FaultSpec.from_json(raw)
            elif key == "channel_faults":
                if not isinstance(raw, Mapping):
                    raise ValueError("must be a table of channel id -> fault table")
                values[key] = tuple((str(k), FaultSpec.from_json(v)) for k, v in raw.items())
            else:
                problems.append(f"unknown key {key!r}")
        except ConfigError as exc:
            problems.extend(f"{key}: {p}" for p in exc.problems)
        except (TypeError, ValueError) as exc:
            problems.append(f"{key}: {exc}")
    if problems:
        raise ConfigError(problems)
    return EmulatorConfig(**values)


def _client(raw: object, index: int, problems: list[str]) -> ClientConfig:
    where = f"clients[{index}]"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be a table")
    unknown = sorted(set(raw) - _CLIENT_KEYS)
    if unknown:
        problems.append(f"{where}: unknown keys {unknown}")
    if "client_id" not in raw or "client_secret" not in raw:
        raise ValueError(f"{where} needs client_id and client_secret")
    topics = raw.get("topics", ("v2.*",))
    if isinstance(topics, str) or not all(isinstance(t, str) for t in topics):
        raise ValueError(f"{where}.topics must be a list of glob patterns")
    return ClientConfig(
        client_id=str(raw["client_id"]),
        client_secret=Secret(str(raw["client_secret"])),
        token_lifetime_s=parse_duration(raw.get("token_lifetime_s", 86400.0)),
        notifications=bool(raw.get("notifications", True)),
        topics=tuple(topics),
        token_rate=_rate(raw.get("token_rate"), f"{where}.token_rate"),
        api_rate=_rate(raw.get("api_rate"), f"{where}.api_rate"),
    )


def _rate(raw: object, where: str) -> RateLimit | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) != {"requests", "window_s"}:
        raise ValueError(f"{where} must be a table with requests and window_s")
    requests = raw["requests"]
    if isinstance(requests, bool) or not isinstance(requests, int):
        raise ValueError(f"{where}.requests must be an integer")
    return RateLimit(requests, parse_duration(raw["window_s"]))


def load_config(path: str | Path) -> EmulatorConfig:
    """Read and validate a TOML file."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read emulator config {str(path)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"emulator config {str(path)!r} is not valid TOML: {exc}") from None
    return config_from_mapping(data)


def with_overrides(cfg: EmulatorConfig, **changes: Any) -> EmulatorConfig:
    """A copy of ``cfg`` with some fields changed (validated again)."""
    return replace(cfg, **changes)
