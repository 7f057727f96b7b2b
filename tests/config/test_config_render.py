"""redacted_dict / TOML output, generic_target_from_url, and the generated reference."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_genesys.config import (
    REDACTED,
    AgentConfig,
    GenericTarget,
    MonitorConfig,
    generic_target_from_url,
    load_config,
    redacted_dict,
    redacted_toml,
    reference_markdown,
)
from otel_genesys.config._toml import dumps
from otel_genesys.errors import ConfigError

WriteFile = Callable[..., Path]  # the `write` fixture of conftest.py

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Zq8-very-secret-value-7Hk"
TOKEN = "tok-abcdef-123456"

FULL = f"""
[defaults]
interval = "1500ms"
max_latency_ms = 250.5
timeout = "750ms"
[defaults.drift]
adjust_factor = 0.5

[targets.prod-eu]
region = "mypurecloud.ie"
client_id = "cid"
client_secret = "{SECRET}"
mode = "both"
topics = ["v2.users.a.presence"]
interval = "3s"

[targets.lab]
base_url = "http://127.0.0.1:9000"
client_id = "cid2"
client_secret = "{SECRET}"
[targets.lab.drift]
enabled = false

[targets.tutorial]
url = "wss://realtime.example.com/v2/analytics/events/realtime"
first_message = '{{"type":"subscribe"}}'
headers = {{ Authorization = "Bearer {TOKEN}", X-Tenant = "acme" }}

[telemetry]
exporter = "otlp_http"
endpoint = "http://collector:4318"
span_ratio = 0.25
[log]
format = "json"
[health]
enabled = true
port = 0
[sharding]
shard_index = 1
shard_count = 3
"""


def test_redacted_dict_is_json_and_hides_secrets(write: WriteFile) -> None:
    config = load_config(write(FULL), env={})
    data = redacted_dict(config)
    text = json.dumps(data)
    assert SECRET not in text and TOKEN not in text
    assert data["targets"]["prod-eu"]["client_secret"] == REDACTED
    assert data["targets"]["prod-eu"]["region"] == "eu_west_1"
    assert data["targets"]["prod-eu"]["interval"] == "3s"
    assert "max_latency_ms" not in data["targets"]["prod-eu"]  # same as defaults
    assert data["targets"]["lab"]["drift"] == {"enabled": False}
    assert data["targets"]["tutorial"]["headers"] == {"Authorization": REDACTED, "X-Tenant": "acme"}
    assert data["defaults"]["timeout"] == "750ms"
    assert data["defaults"]["max_latency_ms"] == 250.5
    assert data["sharding"] == {"shard_index": 1, "shard_count": 3}


def test_redacted_toml_round_trips(write: WriteFile) -> None:
    config = load_config(write(FULL), env={})
    text = redacted_toml(config)
    assert SECRET not in text and TOKEN not in text
    tomllib.loads(text)  # valid TOML
    restored = text.replace(f'"{REDACTED}"', f'"{SECRET}"', 2).replace(
        f'Authorization = "{REDACTED}"', f'Authorization = "Bearer {TOKEN}"'
    )
    again = load_config(write(restored, name="restored.toml"), env={})
    assert again.targets == config.targets
    assert (again.defaults, again.telemetry, again.log, again.health) == (
        config.defaults,
        config.telemetry,
        config.log,
        config.health,
    )
    assert (again.shard_index, again.shard_count) == (1, 3)


def test_default_config_renders() -> None:
    text = redacted_toml(AgentConfig())
    assert "# loaded: no settings file" in text
    assert 'interval = "2s"' in text and 'timeout = "adaptive"' in text
    assert tomllib.loads(text)["targets"] == {}


SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.text(st.characters(codec="utf-8")),
)
DOCS = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=8), DOCS, max_size=4))
def test_toml_writer_round_trips(data: dict[str, object]) -> None:
    def same(a: object, b: object) -> bool:
        if isinstance(a, float) and isinstance(b, float) and a != a:
            return b != b
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        return type(a) is type(b) and a == b

    assert same(tomllib.loads(dumps(data)), data)


def test_generic_target_from_url() -> None:
    target = generic_target_from_url("wss://echo.example.com:8443/ws?x=1")
    assert isinstance(target, GenericTarget)
    assert target.name == "echo-example-com-8443"
    assert target.url == "wss://echo.example.com:8443/ws?x=1"
    assert target.first_message is None and target.headers == ()
    assert target.monitor == MonitorConfig()
    defaults = MonitorConfig(interval_ns=5_000_000_000)
    named = generic_target_from_url("ws://127.0.0.1:1/", defaults=defaults, name="local")
    assert named.name == "local" and named.monitor is defaults


@pytest.mark.parametrize(
    ("url", "name", "fragment"),
    [
        ("https://example.com", None, "--target: must be a ws:// or wss:// URL"),
        ("wss://", None, "must be a ws:// or wss:// URL"),
        ("wss://h:99999/", None, "valid ws:// or wss:// URL"),
        ("", None, "must not be empty"),
        ("wss://h", "bad name!", "--name: invalid target name"),
    ],
)
def test_generic_target_from_url_rejects(url: str, name: str | None, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        generic_target_from_url(url, name=name)
    assert fragment in str(info.value)


def test_docs_contain_generated_reference_verbatim() -> None:
    docs = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    begin, end = "<!-- BEGIN GENERATED -->", "<!-- END GENERATED -->"
    assert begin in docs and end in docs
    between = docs.split(begin, 1)[1].split(end, 1)[0]
    assert between.strip() == reference_markdown().strip(), (
        "docs/configuration.md is out of date: paste reference_markdown() between the markers"
    )


def test_reference_lists_every_key() -> None:
    text = reference_markdown()
    for key in (
        "defaults.interval",
        "defaults.drift.adjust_factor",
        "client_secret",
        "url",
        "telemetry.exporter",
        "log.level",
        "health.port",
        "sharding.shard_count",
    ):
        assert f"`{key}`" in text
    assert "`OTEL_GENESYS_DEFAULTS__DRIFT__MAX_DRIFT_MS`" in text
    assert "`OTEL_GENESYS_TARGETS__<NAME>__CLIENT_SECRET`" in text
