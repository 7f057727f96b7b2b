"""The configuration back out: redacted effective settings and the key reference."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

from otel_genesys.config._load import ENV_PREFIX
from otel_genesys.config._model import (
    AgentConfig,
    GenericTarget,
    HealthConfig,
    LogConfig,
    MonitorConfig,
    NotificationTarget,
    OAuthClient,
    ShardingConfig,
    TelemetryConfig,
)
from otel_genesys.config._spec import Spec, spec_of
from otel_genesys.config._toml import dumps, format_value
from otel_genesys.core.outcome import ProbeMode

REDACTED = "***"
_SENSITIVE_HEADER_WORDS = ("authorization", "cookie", "token", "secret", "key", "auth", "pass")


def _section(obj: Any, base: Any | None = None) -> dict[str, Any]:
    """A dataclass as settings keys; with ``base``, only what differs from it."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        spec = spec_of(f.metadata)
        if spec is None:
            continue
        value = getattr(obj, f.name)
        if base is not None and value == getattr(base, f.name):
            continue
        if spec.kind == "table":
            sub = _section(value, None if base is None else getattr(base, f.name))
            if sub or base is None:
                out[spec.key] = sub
            continue
        rendered = spec.render(value)
        if rendered is not None:
            out[spec.key] = REDACTED if spec.secret else rendered
    return out


def _mode_word(modes: frozenset[ProbeMode]) -> str:
    if len(modes) > 1:
        return "both"
    return next(iter(modes)).value


def _redact_header(name: str, value: str) -> str:
    lowered = name.lower()
    return REDACTED if any(w in lowered for w in _SENSITIVE_HEADER_WORDS) else value


def _target(target: NotificationTarget | GenericTarget, defaults: MonitorConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(target, NotificationTarget):
        if target.region is not None:
            out["region"] = target.region
        if target.base_url is not None:
            out["base_url"] = target.base_url
        out["client_id"] = target.oauth.client_id
        out["client_secret"] = REDACTED
        out["mode"] = _mode_word(target.modes)
        if target.topics:
            out["topics"] = list(target.topics)
    else:
        out["url"] = target.url
        if target.first_message is not None:
            out["first_message"] = target.first_message
    out.update(_section(target.monitor, defaults))
    if isinstance(target, GenericTarget) and target.headers:
        # Last, so that in TOML the sub-table follows the target's own keys.
        out["headers"] = {k: _redact_header(k, v) for k, v in target.headers}
    return out


def redacted_dict(config: AgentConfig) -> dict[str, Any]:
    """The effective configuration as settings keys, JSON-able, secrets shown as ``"***"``.

    Durations are written back as strings (``"2s"``); each target lists only
    the monitor keys that differ from ``defaults``. Loading the result as a
    settings file (with the secrets filled in) gives the same configuration.
    """
    return {
        "defaults": _section(config.defaults),
        "targets": {t.name: _target(t, config.defaults) for t in config.targets},
        "telemetry": _section(config.telemetry),
        "log": _section(config.log),
        "health": _section(config.health),
        "sharding": {"shard_index": config.shard_index, "shard_count": config.shard_count},
    }


def redacted_toml(config: AgentConfig) -> str:
    """:func:`redacted_dict` as a TOML document, headed by the files it came from."""
    head = ["# effective otel-genesys configuration (secrets redacted)"]
    head += [f"# loaded: {source}" for source in config.sources] or ["# loaded: no settings file"]
    return "\n".join(head) + "\n\n" + dumps(redacted_dict(config))


# --- the key reference ----------------------------------------------------------------------

_REQUIRED = object()


def _rows(cls: type, prefix: str, env_prefix: str, only: tuple[str, ...] = ()) -> list[str]:
    rows: list[str] = []
    instance = _default_instance(cls)
    for f in fields(cls):
        spec = spec_of(f.metadata)
        if spec is None or (only and spec.key not in only):
            continue
        if spec.kind == "table" and is_dataclass(f.default):
            sub = type(f.default)
            rows += _rows(sub, f"{prefix}{spec.key}.", f"{env_prefix}{spec.key.upper()}__")
            continue
        default = getattr(instance, f.name) if instance is not None else _REQUIRED
        rows.append(_row(spec, f"{prefix}{spec.key}", f"{env_prefix}{spec.key.upper()}", default))
    return rows


def _default_instance(cls: type) -> Any:
    try:
        return cls()
    except TypeError:  # targets have required fields
        return None


def _row(spec: Spec, key: str, env: str, default: Any) -> str:
    if spec.default_doc:
        shown = spec.default_doc
    elif default is _REQUIRED:
        shown = "required" if "required" in spec.rule else "—"
    elif default is None and spec.kind != "timeout":
        shown = "unset"
    else:
        shown = f"`{format_value(spec.render(default))}`"
    cells = [f"`{key}`", spec.type_name, shown, spec.rule or "—", f"`{env}`", spec.doc]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


_HEADER = (
    "| key | type | default | rule | environment variable | meaning |\n|---|---|---|---|---|---|"
)

_SECTIONS: tuple[tuple[str, str, list[tuple[type, str, str, tuple[str, ...]]]], ...] = (
    (
        "Probing: `[defaults]`, overridable in every `[targets.<name>]`",
        "Per-target form: `OTEL_GENESYS_TARGETS__<NAME>__<KEY>` (e.g. "
        "`OTEL_GENESYS_TARGETS__PROD_EU__INTERVAL`).",
        [(MonitorConfig, "defaults.", f"{ENV_PREFIX}DEFAULTS__", ())],
    ),
    (
        "Genesys notification target: `[targets.<name>]` with `region` or `base_url`",
        "",
        [
            (NotificationTarget, "", f"{ENV_PREFIX}TARGETS__<NAME>__", ("region", "base_url")),
            (OAuthClient, "", f"{ENV_PREFIX}TARGETS__<NAME>__", ()),
            (NotificationTarget, "", f"{ENV_PREFIX}TARGETS__<NAME>__", ("topics", "mode")),
        ],
    ),
    (
        "Generic WebSocket target: `[targets.<name>]` with `url`",
        "",
        [(GenericTarget, "", f"{ENV_PREFIX}TARGETS__<NAME>__", ())],
    ),
    (
        "Telemetry: `[telemetry]`",
        "",
        [(TelemetryConfig, "telemetry.", f"{ENV_PREFIX}TELEMETRY__", ())],
    ),
    ("Logging: `[log]`", "", [(LogConfig, "log.", f"{ENV_PREFIX}LOG__", ())]),
    ("Health endpoint: `[health]`", "", [(HealthConfig, "health.", f"{ENV_PREFIX}HEALTH__", ())]),
    ("Sharding: `[sharding]`", "", [(ShardingConfig, "sharding.", f"{ENV_PREFIX}SHARDING__", ())]),
)


def reference_markdown() -> str:
    """The key reference of docs/configuration.md, generated from the dataclass specs."""
    parts: list[str] = []
    for title, note, groups in _SECTIONS:
        parts.append(f"### {title}\n")
        if note:
            parts.append(note + "\n")
        lines = [_HEADER]
        for cls, prefix, env_prefix, only in groups:
            lines += _rows(cls, prefix, env_prefix, only)
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)
