"""The emulator's TOML configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_genesys.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DelaySpec,
    EmulatorConfig,
    RateLimit,
    config_from_mapping,
    load_config,
)
from otel_genesys.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "emulator.toml"


def test_default_config_has_the_demo_client() -> None:
    client = EmulatorConfig().client(DEFAULT_CLIENT_ID)
    assert client is not None
    assert client.client_secret.reveal() == DEFAULT_CLIENT_SECRET
    assert client.topics == ("v2.*",)
    assert DEFAULT_CLIENT_SECRET not in repr(client)


def test_load_toml(tmp_path: Path) -> None:
    path = tmp_path / "emu.toml"
    path.write_text(
        """
heartbeat_interval_s = "250ms"
channel_lifetime_s = 60
channels_per_client = 3
maintenance_close_after_s = 0

[[clients]]
client_id = "a"
client_secret = "s3cret-a"
token_lifetime_s = "5m"
topics = ["v2.users.*.presence"]
token_rate = { requests = 2, window_s = 10 }

[[clients]]
client_id = "b"
client_secret = "s3cret-b"
notifications = false

[faults]
pong_delay = "uniform:1ms,2ms"
seed = 9

[channel_faults.conn-0001]
blackhole = true
""",
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert cfg.heartbeat_interval_s == 0.25
    assert cfg.channels_per_client == 3
    assert cfg.maintenance_close_after_s is None
    a = cfg.client("a")
    assert a is not None and a.token_lifetime_s == 300.0
    assert a.token_rate == RateLimit(2, 10.0)
    assert cfg.client("b") is not None and not cfg.client("b").notifications  # type: ignore[union-attr]
    assert cfg.faults.pong_delay == DelaySpec.uniform(0.001, 0.002)
    assert dict(cfg.channel_faults)["conn-0001"].blackhole


def test_every_problem_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_mapping({"heartbeat_interval_s": -1, "bogus": 1, "channels_per_client": 0,
                             "faults": {"drop_probability": 3}})
    problems = "\n".join(info.value.problems)
    for needle in ("heartbeat_interval_s", "bogus", "drop_probability"):
        assert needle in problems
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")


def test_secrets_stay_out_of_errors() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_mapping({"clients": [{"client_id": "x", "client_secret": "hunter2",
                                          "token_lifetime_s": -5}]})
    assert "hunter2" not in str(info.value)


def test_example_file_loads() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.client(DEFAULT_CLIENT_ID) is not None
