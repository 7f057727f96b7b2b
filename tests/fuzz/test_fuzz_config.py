"""Malformed configuration: always `ConfigError` naming the problem, never a crash or a leak.

Hypothesis fills a notification target's keys with values of any type (and
TOML that may not even parse); `load_config` must return an `AgentConfig` or
raise `ConfigError`, and the client secret must never appear in the error.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_genesys.config import AgentConfig, ConfigError, load_config

SECRET = "cfg-fuzz-secret-8Jq2Lx"
KEYS = (
    "interval",
    "timeout",
    "timeout_min",
    "mode",
    "base_url",
    "region",
    "max_message_bytes",
    "heartbeat_miss_factor",
    "verify_tls",
    "topics",
    "reconnect_base",
)
VALUES: st.SearchStrategy[Any] = st.one_of(
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=16),
    st.sampled_from(["-1s", "0", "adaptive", "both", "sideways", "ftp://x", "1e999s", "2s"]),
    st.lists(st.text(max_size=6), max_size=3),
)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value)


def _load(text: str, secrets: str = "") -> AgentConfig:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "settings.toml")
        path.write_text(text, encoding="utf-8")
        if secrets:
            secret_file = Path(tmp, ".secrets.toml")
            secret_file.write_text(secrets, encoding="utf-8")
            secret_file.chmod(0o600)
        return load_config(path, env={})


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1, max_size=5))
def test_fuzz_config_values_give_config_or_config_error(values: dict[str, Any]) -> None:
    lines = ["[targets.fuzz]", 'client_id = "c"', 'base_url = "http://127.0.0.1:1"']
    lines = [line for line in lines if not line.startswith(tuple(values))]
    lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    try:
        config = _load("\n".join(lines) + "\n", f'[targets.fuzz]\nclient_secret = "{SECRET}"\n')
    except ConfigError as exc:
        assert exc.problems
        assert SECRET not in str(exc)
        assert all(SECRET not in p for p in exc.problems)
    else:
        assert SECRET not in repr(config)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (
            '[targets.a]\nbase_url = "http://h"\nclient_id = "c"\nclient_secret = "s"\n'
            'interval = "-1s"\n',
            "interval",
        ),
        (
            '[targets.a]\nbase_url = "http://h"\nclient_id = "c"\nclient_secret = "s"\n'
            'mode = "sideways"\n',
            "mode",
        ),
        ('[targets.a]\nbase_url = "ftp://h"\nclient_id = "c"\nclient_secret = "s"\n', "base_url"),
        (
            '[targets.a]\nbase_url = "http://h"\nclient_id = "c"\nclient_secret = "s"\n'
            "max_message_bytes = 0\n",
            "max_message_bytes",
        ),
        ('[targets.a]\nbase_url = "http://h"\nclient_id = "c"\n', "client_secret"),
        ("[targets.a\nbroken toml", "toml"),
    ],
)
def test_fuzz_config_known_bad_inputs_name_their_key(text: str, named: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(text)
    assert named.lower() in str(info.value).lower()
