"""Finding, merging (dynaconf) and validating the settings.

Order of precedence, lowest first: built-in defaults, ``settings.toml``,
``.secrets.toml`` next to it, then ``OTEL_GENESYS_*`` environment variables.
Tables merge across sources, so a target defined in ``settings.toml`` gets its
``client_secret`` from ``.secrets.toml`` or from the environment.

Every problem is collected, with its key path, where the value came from and
the rule it breaks, and raised together as one :class:`ConfigError`.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import socket
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from otel_genesys.config._durations import format_duration
from otel_genesys.config._model import (
    DEFAULT_MODES,
    AgentConfig,
    GenericTarget,
    HealthConfig,
    LogConfig,
    MonitorConfig,
    NotificationTarget,
    OAuthClient,
    ProbeModeSet,
    ShardingConfig,
    Target,
    TelemetryConfig,
)
from otel_genesys.config._spec import Invalid, Spec, kind_of, spec_of
from otel_genesys.core.outcome import ProbeMode
from otel_genesys.core.sharding import ordinal_from_hostname
from otel_genesys.errors import ConfigError
from otel_genesys.genesys.regions import DOMAINS, REGIONS, resolve_region
from otel_genesys.secret import Secret

logger = logging.getLogger("otel_genesys.config")

ENV_PREFIX = "OTEL_GENESYS_"
"""Prefix of every environment variable the config reads; ``__`` separates nesting levels."""
CONFIG_ENV = "OTEL_GENESYS_CONFIG"
"""Path of the settings file when ``--config`` is not given."""
SETTINGS_FILE = "settings.toml"
SECRETS_FILE = ".secrets.toml"

TOP_LEVEL_KEYS = ("defaults", "targets", "telemetry", "log", "health", "sharding")
TARGET_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
TOPIC_PATTERN = re.compile(r"v2(\.[A-Za-z0-9_-]+)+")
MAX_TOPICS = 1000
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_ENV_COMPONENT = re.compile(r"[A-Za-z0-9_-]+")

_NOTIFICATION_KEYS = frozenset(
    {"region", "base_url", "client_id", "client_secret", "topics", "mode"}
)
_GENERIC_KEYS = frozenset({"url", "first_message", "headers"})
# Values of these keys are taken verbatim from env vars: TOML-parsing them would
# turn a secret such as "1_000" into the number 1000.
_VERBATIM_ENV_KEYS = frozenset(
    {
        "client_id",
        "client_secret",
        "connection_id",
        "region",
        "base_url",
        "url",
        "first_message",
        "endpoint",
        "host",
    }
)

_T = TypeVar("_T")


# --- where values came from ---------------------------------------------------------------


def _norm_target_name(name: str) -> str:
    """Names equal under this are one target: env vars cannot spell ``-`` or lower case."""
    return name.lower().replace("-", "_")


def _norm_path(path: tuple[str, ...], key: str) -> str:
    if path == ("targets",):
        return _norm_target_name(key)
    return key.lower()


class _Provenance:
    """Maps a key path to the file or env var that set it."""

    def __init__(self) -> None:
        self._nodes: dict[tuple[str, ...], str] = {}

    def record_snapshot(
        self, before: dict[tuple[str, ...], Any], after: dict[tuple[str, ...], Any], source: str
    ) -> None:
        """Attribute what changed between two flattened snapshots to ``source``."""
        for path, value in after.items():
            if path in before and before[path] == value:
                continue
            if isinstance(value, Mapping):
                self._nodes.setdefault(path, source)  # a table belongs to whoever opened it
            else:
                self._nodes[path] = source

    def record_env(self, path: tuple[str, ...], var: str) -> None:
        """An env var sets ``path`` (and opens its parents if nothing else did)."""
        source = f"env {var}"
        self._nodes[path] = source
        for i in range(1, len(path)):
            self._nodes.setdefault(path[:i], source)

    def source_of(self, lookup: tuple[str, ...]) -> str | None:
        """The source of the closest enclosing key that has one."""
        for i in range(len(lookup), 0, -1):
            found = self._nodes.get(lookup[:i])
            if found is not None:
                return found
        return None

    def sources_of_leaves(self, leaf: str) -> set[str]:
        """Every source that set a key called ``leaf`` anywhere."""
        return {src for path, src in self._nodes.items() if path and path[-1] == leaf}


def _flatten(data: Mapping[str, Any]) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}

    def walk(value: Any, path: tuple[str, ...]) -> None:
        out[path] = value
        if isinstance(value, Mapping):
            for key, child in value.items():
                walk(child, (*path, _norm_path(path, str(key))))

    for key, value in data.items():
        walk(value, (str(key).lower(),))
    return out


# --- problems -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Loc:
    """A key as shown to the user (``display``) and as looked up for its source."""

    display: str
    lookup: tuple[str, ...]

    def child(self, key: str) -> _Loc:
        display = f"{self.display}.{key}" if self.display else key
        return _Loc(display, (*self.lookup, key.lower()))

    def index(self, i: int) -> _Loc:
        return _Loc(f"{self.display}[{i}]", self.lookup)


class _Problems:
    """Collects every problem, each with its path, source and rule."""

    def __init__(self, provenance: _Provenance | None = None) -> None:
        self.items: list[str] = []
        self._provenance = provenance if provenance is not None else _Provenance()

    def add(self, loc: _Loc, message: str) -> None:
        source = self._provenance.source_of(loc.lookup)
        text = f"{loc.display}: {message}"
        self.items.append(f"{text} (from {source})" if source else text)

    def unknown(self, loc: _Loc, key: str, candidates: Iterable[str], hint: str = "") -> None:
        message = f"unknown key {_short(key)}"
        close = difflib.get_close_matches(key.lower(), list(candidates), n=1, cutoff=0.6)
        if close:
            message += f"; did you mean {close[0]!r}?"
        elif hint:
            message += f"; {hint}"
        self.add(loc.child(key), message)

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _with_value(message: str, raw: object, spec: Spec | None) -> str:
    """Append the offending value, unless it is (or may be) a secret."""
    if spec is not None and spec.secret:
        return message
    if isinstance(raw, str | int | float) and not isinstance(raw, bool):
        return f"{message} (got {_short(raw)})"
    return message


# --- building the dataclasses ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Built:
    value: Any
    given: frozenset[str]
    bad: frozenset[str]


def _keys_of(cls: type) -> dict[str, tuple[str, Spec]]:
    """Settings key → (field name, spec) for a config dataclass."""
    out: dict[str, tuple[str, Spec]] = {}
    for f in fields(cls):
        spec = spec_of(f.metadata)
        if spec is not None:
            out[spec.key] = (f.name, spec)
    return out


def _lower_keys(table: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in table.items()}


def _build_section(
    base: _T,
    raw: object,
    loc: _Loc,
    out: _Problems,
    *,
    skip: Iterable[str] = (),
    also_valid: Iterable[str] = (),
) -> _Built:
    """Overlay the keys of table ``raw`` on the dataclass instance ``base``."""
    if not isinstance(raw, Mapping):
        out.add(loc, f"expected a table, got {kind_of(raw)}")
        return _Built(base, frozenset(), frozenset({"*"}))
    table = _lower_keys(raw)
    specs = _keys_of(type(base))
    skipped = set(skip)
    changes: dict[str, Any] = {}
    bad: set[str] = set()
    for key, value in table.items():
        if key in skipped:
            continue
        entry = specs.get(key)
        if entry is None:
            out.unknown(loc, key, [*specs, *also_valid])
            continue
        name, spec = entry
        if spec.kind == "table":
            sub = _build_section(getattr(base, name), value, loc.child(key), out)
            changes[name] = sub.value
            if sub.bad:
                bad.add(key)
            continue
        try:
            changes[name] = spec.convert(value)
        except Invalid as exc:
            out.add(loc.child(key), _with_value(str(exc), value, spec))
            bad.add(key)
    given = frozenset(k for k in table if k not in skipped)
    return _Built(replace(base, **changes), given, frozenset(bad))  # type: ignore[type-var]


def _check_monitor(built: _Built, loc: _Loc, out: _Problems) -> None:
    """Rules that tie two monitor keys together."""
    m: MonitorConfig = built.value
    pairs = (
        ("probe_frequency_limit", m.probe_frequency_limit_ns, "interval", m.interval_ns),
        ("stagger_grid", m.stagger_grid_ns, "interval", m.interval_ns),
        ("timeout_min", m.timeout_min_ns, "timeout_max", m.timeout_max_ns),
        ("reconnect_base", m.reconnect_base_ns, "reconnect_cap", m.reconnect_cap_ns),
    )
    for low_key, low, high_key, high in pairs:
        if low <= high or {low_key, high_key} & built.bad:
            continue
        if not {low_key, high_key} & built.given:
            continue  # inherited from [defaults], already reported there
        at = high_key if high_key in built.given else low_key
        out.add(
            loc.child(at),
            f"{high_key} ({format_duration(high)}) must not be shorter than "
            f"{low_key} ({format_duration(low)})",
        )


def _build_monitor(
    base: MonitorConfig,
    raw: object,
    loc: _Loc,
    out: _Problems,
    *,
    skip: Iterable[str] = (),
    also_valid: Iterable[str] = (),
) -> MonitorConfig:
    built = _build_section(base, raw, loc, out, skip=skip, also_valid=also_valid)
    _check_monitor(built, loc, out)
    monitor: MonitorConfig = built.value
    return monitor


def _convert_field(cls: type, key: str, raw: object, loc: _Loc, out: _Problems) -> tuple[bool, Any]:
    """Convert one target-level key with the spec on ``cls``; (ok, value)."""
    spec = _keys_of(cls)[key][1]
    try:
        return True, spec.convert(raw)
    except Invalid as exc:
        out.add(loc.child(key), _with_value(str(exc), raw, spec))
        return False, None


def _build_targets(raw: object, defaults: MonitorConfig, out: _Problems) -> list[Target]:
    loc = _Loc("targets", ("targets",))
    entries: list[tuple[str, Any, _Loc, frozenset[str]]] = []
    if isinstance(raw, Mapping):
        seen: dict[str, str] = {}
        for key, table in raw.items():
            name = str(key)
            tloc = _Loc(f"targets.{name}", ("targets", _norm_target_name(name)))
            norm = _norm_target_name(name)
            if norm in seen:
                out.add(
                    tloc,
                    f"duplicate target name: {seen[norm]!r} and {name!r} are the same name "
                    "once case and '-'/'_' are ignored (env vars cannot tell them apart)",
                )
                continue
            seen[norm] = name
            entries.append((name, table, tloc, frozenset()))
    elif isinstance(raw, list):
        seen_at: dict[str, int] = {}
        for i, table in enumerate(raw):
            iloc = _Loc(f"targets[{i}]", ("targets", str(i)))
            if not isinstance(table, Mapping):
                out.add(iloc, f"expected a table, got {kind_of(table)}")
                continue
            given_name = _lower_keys(table).get("name")
            if not isinstance(given_name, str):
                out.add(iloc.child("name"), "missing: each [[targets]] entry needs a name")
                continue
            name = given_name
            norm = _norm_target_name(name)
            if norm in seen_at:
                out.add(
                    iloc.child("name"),
                    f"duplicate target name {_short(name)} (also at targets[{seen_at[norm]}])",
                )
                continue
            seen_at[norm] = i
            entries.append((name, table, _Loc(f"targets.{name}", iloc.lookup), frozenset({"name"})))
    else:
        out.add(
            loc,
            "expected a table of targets keyed by name (or an array of tables), "
            f"got {kind_of(raw)}",
        )
        return []

    targets: list[Target] = []
    for name, table, tloc, extra in entries:
        if not TARGET_NAME_PATTERN.fullmatch(name):
            out.add(
                tloc,
                f"invalid target name {_short(name)}: use 1-64 letters, digits, '-' or '_', "
                "starting with a letter or digit",
            )
        target = _build_target(name, table, tloc, defaults, out, extra)
        if target is not None:
            targets.append(target)
    return targets


def _build_target(
    name: str,
    raw: object,
    loc: _Loc,
    defaults: MonitorConfig,
    out: _Problems,
    extra: frozenset[str],
) -> Target | None:
    if not isinstance(raw, Mapping):
        out.add(loc, f"expected a table, got {kind_of(raw)}")
        return None
    table = _lower_keys(raw)
    generic = "url" in table
    notification = "region" in table or "base_url" in table
    if generic and notification:
        out.add(
            loc,
            "has both url (generic WebSocket target) and region/base_url "
            "(Genesys notification target); keep one",
        )
    if not generic and not notification and not (_NOTIFICATION_KEYS & table.keys()):
        out.add(
            loc,
            "needs url (generic WebSocket target) or region/base_url (Genesys notification target)",
        )
    own = _GENERIC_KEYS if generic else _NOTIFICATION_KEYS
    other = _NOTIFICATION_KEYS if generic else _GENERIC_KEYS
    if not (generic and notification):
        for key in sorted(other & table.keys()):
            kind = "Genesys notification (region/base_url)" if generic else "generic (url)"
            out.add(loc.child(key), f"applies only to {kind} targets")
    monitor = _build_monitor(
        defaults,
        table,
        loc,
        out,
        skip=own | other | extra,
        also_valid=own,
    )
    if generic:
        return _build_generic(name, table, loc, monitor, out)
    return _build_notification(name, table, loc, monitor, out)


def _build_notification(
    name: str, table: dict[str, Any], loc: _Loc, monitor: MonitorConfig, out: _Problems
) -> NotificationTarget | None:
    ok = True
    region: str | None = None
    base_url: str | None = None
    if "region" in table:
        raw_region = table["region"]
        if not isinstance(raw_region, str):
            out.add(loc.child("region"), f"expected a string, got {kind_of(raw_region)}")
            ok = False
        else:
            resolved = resolve_region(raw_region)
            if resolved is None:
                close = difflib.get_close_matches(
                    raw_region.strip().lower().replace("-", "_"), [*REGIONS, *DOMAINS], n=1
                )
                hint = f"did you mean {close[0]!r}? " if close else ""
                out.add(
                    loc.child("region"),
                    f"unknown region {_short(raw_region)}; {hint}valid regions: "
                    f"{', '.join(REGIONS)} (or their domains, e.g. 'mypurecloud.ie')",
                )
                ok = False
            else:
                region = resolved[0]
    if "base_url" in table:
        good, base_url = _convert_field(NotificationTarget, "base_url", table["base_url"], loc, out)
        ok &= good
    if "region" not in table and "base_url" not in table:
        out.add(loc, "needs region (or base_url): which Genesys Cloud region to connect to")
        ok = False

    client_id = client_secret = None
    for key in ("client_id", "client_secret"):
        if key not in table:
            hint = ""
            if key == "client_secret":
                env_name = f"{ENV_PREFIX}TARGETS__{_norm_target_name(name).upper()}__CLIENT_SECRET"
                hint = f"; put it in {SECRETS_FILE} ([targets.{name}]) or in {env_name}"
            out.add(loc.child(key), f"missing: a notification target needs {key}{hint}")
            ok = False
            continue
        good, value = _convert_field(OAuthClient, key, table[key], loc, out)
        ok &= good
        if key == "client_id":
            client_id = value
        else:
            client_secret = value

    topics = _parse_topics(table.get("topics", []), loc.child("topics"), out)
    modes = _parse_modes(table.get("mode", "notification"), loc.child("mode"), out)
    if not ok or topics is None or modes is None or client_id is None or client_secret is None:
        return None
    return NotificationTarget(
        name=name,
        region=region,
        base_url=base_url.strip() if base_url else None,
        oauth=OAuthClient(client_id=client_id, client_secret=Secret(client_secret)),
        topics=topics,
        modes=modes,
        monitor=monitor,
    )


def _parse_topics(raw: object, loc: _Loc, out: _Problems) -> tuple[str, ...] | None:
    items: list[object]
    if isinstance(raw, str):  # convenient from env vars: "v2.a,v2.b"
        items = [t.strip() for t in raw.split(",") if t.strip()]
    elif isinstance(raw, list):
        items = list(raw)
    else:
        out.add(loc, f"expected an array of topic names, got {kind_of(raw)}")
        return None
    topics: list[str] = []
    ok = True
    for i, item in enumerate(items):
        if not isinstance(item, str) or not TOPIC_PATTERN.fullmatch(item):
            shown = _short(item) if isinstance(item, str) else kind_of(item)
            out.add(
                loc.index(i),
                f"{shown} is not a topic: expected a dotted name starting with 'v2.' "
                "such as 'v2.users.<id>.presence'",
            )
            ok = False
        elif item not in topics:
            topics.append(item)
    if len(topics) > MAX_TOPICS:
        out.add(loc, f"{len(topics)} topics: a channel takes at most {MAX_TOPICS}")
        ok = False
    return tuple(topics) if ok else None


def _parse_modes(raw: object, loc: _Loc, out: _Problems) -> ProbeModeSet | None:
    words = raw if isinstance(raw, list) else [raw]
    modes: set[ProbeMode] = set()
    for word in words:
        key = word.strip().lower() if isinstance(word, str) else None
        if key == "both":
            modes.update((ProbeMode.NOTIFICATION, ProbeMode.CONTROL))
        elif key in ("notification", "control"):
            modes.add(ProbeMode(key))
        else:
            shown = _short(word) if isinstance(word, str) else kind_of(word)
            out.add(loc, f"unknown mode {shown}: must be notification, control or both")
            return None
    return frozenset(modes) if modes else DEFAULT_MODES


def _build_generic(
    name: str, table: dict[str, Any], loc: _Loc, monitor: MonitorConfig, out: _Problems
) -> GenericTarget | None:
    ok, url = _convert_field(GenericTarget, "url", table["url"], loc, out)
    first_message: str | None = None
    if "first_message" in table:
        raw = table["first_message"]
        if not isinstance(raw, str):
            out.add(loc.child("first_message"), f"expected a string, got {kind_of(raw)}")
            ok = False
        else:
            try:
                size = len(raw.encode("utf-8"))
            except UnicodeEncodeError:
                out.add(loc.child("first_message"), "is not valid UTF-8")
                ok = False
            else:
                if size > monitor.max_message_bytes:
                    out.add(
                        loc.child("first_message"),
                        f"is {size} bytes (UTF-8), more than max_message_bytes "
                        f"({monitor.max_message_bytes})",
                    )
                    ok = False
                elif size == 0:
                    out.add(loc.child("first_message"), "must not be empty (omit the key)")
                    ok = False
                else:
                    first_message = raw
    headers = _parse_headers(table.get("headers", {}), loc.child("headers"), out)
    if not ok or headers is None:
        return None
    return GenericTarget(
        name=name, url=url.strip(), first_message=first_message, headers=headers, monitor=monitor
    )


def _parse_headers(raw: object, loc: _Loc, out: _Problems) -> tuple[tuple[str, str], ...] | None:
    if not isinstance(raw, Mapping):
        out.add(loc, f"expected a table of header = value, got {kind_of(raw)}")
        return None
    headers: list[tuple[str, str]] = []
    ok = True
    for key, value in raw.items():
        name = str(key)
        if not _HEADER_NAME.fullmatch(name):
            out.add(loc.child(name), "is not a valid HTTP header name")
            ok = False
        # Header values are never echoed: they may be credentials.
        elif not isinstance(value, str):
            out.add(loc.child(name), f"expected a string, got {kind_of(value)}")
            ok = False
        elif any(c in value for c in "\r\n\0"):
            out.add(loc.child(name), "must not contain line breaks or NUL")
            ok = False
        else:
            headers.append((name, value))
    return tuple(headers) if ok else None


def _build_agent(
    raw: Mapping[str, Any],
    provenance: _Provenance,
    sources: tuple[str, ...],
    out: _Problems,
    hostname: str | None = None,
) -> AgentConfig:
    monitor_keys = list(_keys_of(MonitorConfig))
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            hint = (
                f"per-target keys go under [defaults] (did you mean 'defaults.{key}'?)"
                if (key in monitor_keys)
                else ""
            )
            out.unknown(_Loc("", ()), key, TOP_LEVEL_KEYS, hint)

    defaults = _build_monitor(
        MonitorConfig(), raw.get("defaults", {}), _Loc("defaults", ("defaults",)), out
    )
    targets = _build_targets(raw.get("targets", {}), defaults, out)
    sections: dict[str, Any] = {}
    for key, base in (
        ("telemetry", TelemetryConfig()),
        ("log", LogConfig()),
        ("health", HealthConfig()),
        ("sharding", ShardingConfig()),
    ):
        sections[key] = _build_section(base, raw.get(key, {}), _Loc(key, (key,)), out)
    sharding: _Built = sections["sharding"]
    shard: ShardingConfig = sharding.value
    if not sharding.bad and shard.shard_count > 1 and "shard_index" not in sharding.given:
        # No explicit index: a StatefulSet pod takes its ordinal from its host name.
        ordinal = None if hostname is None else ordinal_from_hostname(hostname)
        if ordinal is None:
            out.add(
                _Loc("sharding.shard_index", ("sharding", "shard_index")),
                f"shard_count is {shard.shard_count} but shard_index is not set and the host "
                f"name {hostname!r} ends in no '-<ordinal>' (as StatefulSet pods do): set "
                "sharding.shard_index or OTEL_GENESYS_SHARDING__SHARD_INDEX",
            )
        else:
            shard = replace(shard, shard_index=ordinal)
    if not sharding.bad and shard.shard_count >= 1 and shard.shard_index >= shard.shard_count:
        out.add(
            _Loc("sharding.shard_index", ("sharding", "shard_index")),
            f"must be in [0, shard_count) = [0, {shard.shard_count}) (got {shard.shard_index})",
        )
    return AgentConfig(
        targets=tuple(targets),
        defaults=defaults,
        telemetry=sections["telemetry"].value,
        log=sections["log"].value,
        health=sections["health"].value,
        shard_index=shard.shard_index,
        shard_count=shard.shard_count,
        sources=sources,
    )


# --- finding and reading the sources --------------------------------------------------------


def _discover(path: str | os.PathLike[str] | None, env: Mapping[str, str]) -> list[Path]:
    """The files to load, in order; raises ConfigError when a named file is missing."""
    origin = None
    chosen: Path | None = None
    if path is not None:
        chosen, origin = Path(path), "--config"
    elif env.get(CONFIG_ENV):
        chosen, origin = Path(env[CONFIG_ENV]), f"env {CONFIG_ENV}"
    if chosen is not None:
        if chosen.is_dir():
            chosen = chosen / SETTINGS_FILE
        if not chosen.is_file():
            raise ConfigError([f"{chosen}: settings file not found (from {origin})"])
        directory = chosen.absolute().parent
        files = [chosen.absolute()]
    else:
        directory = Path.cwd()
        default = directory / SETTINGS_FILE
        files = [default] if default.is_file() else []
    secrets = directory / SECRETS_FILE
    if secrets.is_file() and secrets not in files:
        files.append(secrets)
    return files


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _describe_load_error(exc: Exception) -> str:
    # A TOML syntax error names a line and column but no value; anything else may
    # quote file content (a secret), so only its type is shown.
    if type(exc).__name__ == "TOMLDecodeError":
        return f"not valid TOML: {exc}"
    if isinstance(exc, UnicodeDecodeError):
        return "not valid UTF-8"
    if isinstance(exc, OSError):
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    return f"cannot be loaded ({type(exc).__name__})"


def _load_raw(
    files: list[Path], env: Mapping[str, str], out: _Problems, provenance: _Provenance
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Merge files and env vars with dynaconf; returns (raw tree, files loaded)."""
    from dynaconf import Dynaconf
    from dynaconf.loaders.base import SourceMetadata
    from dynaconf.utils.parse_conf import boolean_fix, parse_conf_data

    settings = Dynaconf(
        environments=False,
        merge_enabled=True,
        # Env vars are applied below from the (injectable) mapping, not by dynaconf
        # from os.environ; '@' converters are off so values are always literal.
        loaders=[],
        load_dotenv=False,
        envvar_prefix=False,
        auto_cast=False,
        core_loaders=["TOML"],
        settings_files=[],
        preload=[],
        includes=[],
        secrets=None,
    )

    def snapshot() -> dict[str, Any]:
        data = settings.as_dict()
        return {k: _plain(v) for k, v in data.items() if k.upper() in user_keys}

    user_keys: set[str] = set()
    before = _flatten(snapshot())  # also runs dynaconf's setup before any user file
    loaded: list[str] = []
    for path in files:
        try:
            settings.load_file(path=str(path), silent=False, run_hooks=False)
        except Exception as exc:  # dynaconf and tomllib raise many kinds
            out.items.append(f"{path}: {_describe_load_error(exc)}")
            continue
        loaded.append(str(path))
        for metadata, data in settings.loaded_by_loaders.items():
            if metadata.identifier == str(path):
                user_keys.update(k.upper() for k in data)
        after = _flatten(snapshot())
        provenance.record_snapshot(before, after, str(path))
        before = after

    env_source = SourceMetadata("env_global", ENV_PREFIX.rstrip("_"), "global")
    for var, value in _env_items(env, out):
        parts = var[len(ENV_PREFIX) :].split("__")
        if parts[0].lower() == "targets" and len(parts) > 1:
            current = settings.get("TARGETS")
            if isinstance(current, list):
                out.items.append(
                    f"env {var}: targets are an array of tables in the settings file; "
                    "use the table form [targets.<name>] to override a target from the environment"
                )
                continue
            parts[1] = _match_target_key(parts[1], current)
        keys = [parts[0].upper()] + [
            p if i == 1 and parts[0].lower() == "targets" else p.lower()
            for i, p in enumerate(parts[1:], start=1)
        ]
        if keys[-1].lower() in _VERBATIM_ENV_KEYS or "headers" in (k.lower() for k in keys[1:-1]):
            parsed: Any = value
        else:
            parsed = parse_conf_data(boolean_fix(value), tomlfy=True, box_settings=settings)
        nested: Any = _plain(parsed)
        for key in reversed(keys[1:]):
            nested = {key: nested}
        try:
            settings.update({keys[0]: nested}, loader_identifier=env_source)
        except Exception:  # a scalar in the way of a table and the like
            out.items.append(f"env {var}: cannot be merged with the value from the settings files")
            continue
        user_keys.add(keys[0])
        provenance.record_env(
            tuple(_norm_path(tuple(p.lower() for p in parts[:i]), p) for i, p in enumerate(parts)),
            var,
        )

    try:
        raw = {k.lower(): v for k, v in snapshot().items()}
    except Exception as exc:
        out.items.append(f"settings cannot be read ({type(exc).__name__})")
        raw = {}
    return raw, tuple(loaded)


def _env_items(env: Mapping[str, str], out: _Problems) -> list[tuple[str, str]]:
    """Our env vars, broad ones first so that narrower ones override them."""
    items = []
    for var, value in env.items():
        if not var.startswith(ENV_PREFIX) or var == CONFIG_ENV:
            continue
        parts = var[len(ENV_PREFIX) :].split("__")
        if not all(_ENV_COMPONENT.fullmatch(p) for p in parts):
            out.items.append(
                f"env {var}: malformed name: expected {ENV_PREFIX}<KEY>[__<KEY>...] "
                "with letters, digits and single '_' inside keys"
            )
            continue
        items.append((var, value))
    return sorted(items, key=lambda item: (item[0].count("__"), item[0]))


def _match_target_key(component: str, targets: object) -> str:
    """Map an env var's target component (PROD_EU) to the file's spelling (prod-eu)."""
    if isinstance(targets, Mapping):
        norm = _norm_target_name(component)
        for existing in targets:
            if _norm_target_name(str(existing)) == norm:
                return str(existing)
    return component.lower()


def _warn_loose_permissions(loaded: tuple[str, ...], provenance: _Provenance) -> None:
    if os.name != "posix":
        return
    holders = {Path(p) for p in loaded if Path(p).name.startswith(".secrets")}
    holders |= {
        Path(s) for s in provenance.sources_of_leaves("client_secret") if not s.startswith("env ")
    }
    for path in sorted(holders):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        if mode & 0o077:
            logger.warning(
                "%s holds credentials but is accessible by group/others (mode %s); "
                "run: chmod 600 %s",
                path,
                oct(mode),
                path,
            )


def load_config(
    path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> AgentConfig:
    """Load, merge and validate the configuration.

    ``path`` is the settings file (``--config``); else ``OTEL_GENESYS_CONFIG``;
    else ``./settings.toml`` when present. ``.secrets.toml`` in the same
    directory and ``OTEL_GENESYS_*`` variables from ``env`` (default
    ``os.environ``) are merged on top. No file at all is valid: the agent then
    has no targets. Raises :class:`ConfigError` listing every problem.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    files = _discover(path, environ)
    provenance = _Provenance()
    out = _Problems(provenance)
    raw, loaded = _load_raw(files, environ, out, provenance)
    _warn_loose_permissions(loaded, provenance)
    hostname = environ.get("HOSTNAME") or (socket.gethostname() if env is None else None)
    config = _build_agent(raw, provenance, loaded, out, hostname)
    out.raise_if_any()
    return config


def generic_target_from_url(
    url: str, *, defaults: MonitorConfig | None = None, name: str | None = None
) -> GenericTarget:
    """A generic target for ``--target URL``; raises :class:`ConfigError` when invalid.

    >>> generic_target_from_url("wss://echo.example.com:8443/ws").name
    'echo-example-com-8443'
    """
    out = _Problems()
    loc = _Loc("--target", ())
    check = _keys_of(GenericTarget)["url"][1]
    try:
        url = check.convert(url)
    except Invalid as exc:
        out.add(loc, _with_value(str(exc), url, check))
        out.raise_if_any()
    if name is None:
        parts = urlsplit(url.strip())
        name = parts.hostname or "target"
        if parts.port is not None:
            name = f"{name}-{parts.port}"
        name = re.sub(r"[^A-Za-z0-9_-]", "-", name).strip("-_")[:64] or "target"
    if not TARGET_NAME_PATTERN.fullmatch(name):
        out.add(_Loc("--name", ()), f"invalid target name {_short(name)}")
    out.raise_if_any()
    return GenericTarget(
        name=name,
        url=url.strip(),
        first_message=None,
        headers=(),
        monitor=defaults if defaults is not None else MonitorConfig(),
    )
