"""Junk in, AgentConfig or ConfigError out: nothing else, and never the secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_genesys.config import AgentConfig, load_config
from otel_genesys.config._model import DriftConfig, MonitorConfig, TelemetryConfig
from otel_genesys.config._spec import spec_of
from otel_genesys.config._toml import dumps
from otel_genesys.errors import ConfigError

SECRET = "fuzz-secret-Q7x9Lm2Vb"


def _keys(cls: type) -> list[str]:
    from dataclasses import fields

    return [s.key for f in fields(cls) if (s := spec_of(f.metadata)) is not None]


MONITOR_KEYS = [*_keys(MonitorConfig), "intervall"]
TARGET_KEYS = [
    *MONITOR_KEYS,
    "region",
    "base_url",
    "client_id",
    "topics",
    "mode",
    "url",
    "first_message",
    "headers",
    "name",
]
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
JUNK: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(),
        TEXT,
        st.sampled_from(
            [
                "2s",
                "adaptive",
                "both",
                "wss://h",
                "eu_west_1",
                "v2.a",
                "@int 3",
                "@format {this.x}",
                "-1s",
                "1e400",
                "0.5",
                "http://h",
            ]
        ),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
TARGET = st.dictionaries(st.sampled_from(TARGET_KEYS), JUNK, max_size=6)
DOC = st.fixed_dictionaries(
    {},
    optional={
        "defaults": st.dictionaries(st.sampled_from(MONITOR_KEYS), JUNK, max_size=5) | JUNK,
        "targets": st.dictionaries(
            st.sampled_from(["a", "prod-eu", "B_2", "x.y"]), TARGET, max_size=3
        )
        | st.lists(TARGET, max_size=2)
        | JUNK,
        "telemetry": st.dictionaries(st.sampled_from(_keys(TelemetryConfig)), JUNK, max_size=3),
        "log": st.dictionaries(st.sampled_from(["level", "format"]), JUNK, max_size=2),
        "health": st.dictionaries(st.sampled_from(["enabled", "host", "port"]), JUNK, max_size=3),
        "sharding": st.dictionaries(st.sampled_from(["shard_index", "shard_count"]), JUNK),
        "drift": st.dictionaries(st.sampled_from(_keys(DriftConfig)), JUNK, max_size=2),
    },
)
ENV_NAMES = st.sampled_from(
    [
        "OTEL_GENESYS_DEFAULTS__INTERVAL",
        "OTEL_GENESYS_DEFAULTS",
        "OTEL_GENESYS_TARGETS",
        "OTEL_GENESYS_TARGETS__A__URL",
        "OTEL_GENESYS_TARGETS__PROD_EU__REGION",
        "OTEL_GENESYS_DEFAULTS__DRIFT__ENABLED",
        "OTEL_GENESYS_HEALTH__PORT",
        "OTEL_GENESYS_X__Y",
        "OTEL_GENESYS_TARGETS__A__TOPICS",
        "OTEL_GENESYS_DEFAULTS__DRIFT",
    ]
)
ENV_VALUES = st.one_of(TEXT, st.sampled_from(['{interval="1s"}', "[1, 2]", "true", "{}", "3"]))


def _outcome(path: Path | None, env: dict[str, str]) -> None:
    try:
        config = load_config(path, env=env)
    except ConfigError as exc:
        assert SECRET not in str(exc)
        return
    assert isinstance(config, AgentConfig)
    assert SECRET not in repr(config)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=DOC)
def test_junk_files(tmp_path: Path, doc: dict[str, Any]) -> None:
    targets = doc.get("targets")
    if isinstance(targets, dict):
        for table in targets.values():
            if isinstance(table, dict):
                table["client_secret"] = SECRET
    path = tmp_path / "settings.toml"
    path.write_text(dumps(doc), encoding="utf-8")
    path.chmod(0o600)
    _outcome(path, {})


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(env=st.dictionaries(ENV_NAMES, ENV_VALUES, max_size=4))
def test_junk_env(tmp_path: Path, env: dict[str, str]) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        '[targets.prod-eu]\nregion = "eu_west_1"\nclient_id = "i"\n'
        f'client_secret = "{SECRET}"\n[targets.a]\nurl = "wss://h"\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    _outcome(path, {**env, "OTEL_GENESYS_TARGETS__PROD_EU__CLIENT_SECRET": SECRET})
