"""Loading: files, .secrets.toml merge, env overrides, discovery, provenance, secrecy."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from otel_genesys.config import (
    GenericTarget,
    NotificationTarget,
    load_config,
)
from otel_genesys.errors import ConfigError
from otel_genesys.secret import Secret

WriteFile = Callable[..., Path]  # the `write` fixture of conftest.py

SECRET = "Zq8-very-secret-value-7Hk"

SETTINGS = """
[defaults]
interval = "2s"

[targets.prod-eu]
region = "eu_west_1"
client_id = "client-1"
topics = ["v2.users.abc.presence"]
"""


def problems_of(path: Path | None, env: dict[str, str]) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env)
    return info.value.problems


def notification(config_targets: tuple[object, ...]) -> NotificationTarget:
    (target,) = config_targets
    assert isinstance(target, NotificationTarget)
    return target


def test_secrets_file_merges_into_target(write: WriteFile) -> None:
    settings = write(SETTINGS)
    secrets = write(f'[targets.prod-eu]\nclient_secret = "{SECRET}"\n', name=".secrets.toml")
    config = load_config(settings, env={})
    target = notification(config.targets)
    assert target.oauth.client_secret == Secret(SECRET)
    assert target.oauth.client_id == "client-1"
    assert target.topics == ("v2.users.abc.presence",)
    assert config.sources == (str(settings), str(secrets))


def test_env_supplies_secret_with_double_underscore_nesting(write: WriteFile) -> None:
    env = {"OTEL_GENESYS_TARGETS__PROD_EU__CLIENT_SECRET": SECRET}
    target = notification(load_config(write(SETTINGS), env=env).targets)
    assert target.name == "prod-eu"  # the file's spelling wins; env matched it
    assert target.oauth.client_secret.reveal() == SECRET


def test_env_overrides_defaults_and_nested_tables(write: WriteFile) -> None:
    env = {
        "OTEL_GENESYS_TARGETS__PROD_EU__CLIENT_SECRET": SECRET,
        "OTEL_GENESYS_DEFAULTS__INTERVAL": "1s",
        "OTEL_GENESYS_DEFAULTS__DRIFT__ADJUST_FACTOR": "0.5",
        "OTEL_GENESYS_DEFAULTS__DRIFT__ENABLED": "False",
        "OTEL_GENESYS_TARGETS__PROD_EU__MAX_LATENCY_MS": "120",
        "OTEL_GENESYS_HEALTH__PORT": "9000",
        "OTEL_GENESYS_LOG__LEVEL": "debug",
    }
    config = load_config(write(SETTINGS), env=env)
    assert config.defaults.interval_ns == 1_000_000_000
    assert config.defaults.drift.adjust_factor == 0.5
    assert config.defaults.drift.enabled is False
    target = notification(config.targets)
    assert target.monitor.interval_ns == 1_000_000_000
    assert target.monitor.max_latency_ns == 120_000_000
    assert config.health.port == 9000
    assert config.log.level == "DEBUG"


def test_precedence_env_over_secrets_over_settings(write: WriteFile) -> None:
    settings = write(SETTINGS.replace('interval = "2s"', 'interval = "2s"\nmax_jitter_ms = 10'))
    only_secret = {"OTEL_GENESYS_TARGETS__PROD_EU__CLIENT_SECRET": SECRET}
    assert load_config(settings, env=only_secret).defaults.max_jitter_ns == 10_000_000
    write(
        f'[defaults]\nmax_jitter_ms = 20\n[targets.prod-eu]\nclient_secret = "{SECRET}"\n',
        name=".secrets.toml",
    )
    assert load_config(settings, env={}).defaults.max_jitter_ns == 20_000_000
    env = {"OTEL_GENESYS_DEFAULTS__MAX_JITTER_MS": "30"}
    assert load_config(settings, env=env).defaults.max_jitter_ns == 30_000_000


def test_env_only_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {
        "OTEL_GENESYS_TARGETS__EDGE__URL": "wss://edge.example.com/ws",
        "OTEL_GENESYS_TARGETS__EDGE__FIRST_MESSAGE": '{"type":"subscribe"}',
    }
    (target,) = load_config(env=env).targets
    assert isinstance(target, GenericTarget)
    assert target.name == "edge"
    assert target.url == "wss://edge.example.com/ws"
    assert target.first_message == '{"type":"subscribe"}'


def test_env_string_keys_are_verbatim(write: WriteFile) -> None:
    # TOML-parsing would turn "1_000" into 1000 and strip quotes.
    for secret in ("1_000", '"quoted"', "true", "@int 5", "[1, 2]"):
        env = {"OTEL_GENESYS_TARGETS__PROD_EU__CLIENT_SECRET": secret}
        target = notification(load_config(write(SETTINGS), env=env).targets)
        assert target.oauth.client_secret.reveal() == secret


def test_env_values_are_toml_parsed(write: WriteFile) -> None:
    env = {
        "OTEL_GENESYS_TARGETS__PROD_EU__CLIENT_SECRET": SECRET,
        "OTEL_GENESYS_TARGETS__PROD_EU__TOPICS": '["v2.a.b", "v2.c.d"]',
        "OTEL_GENESYS_TARGETS__PROD_EU__MODE": "both",
    }
    target = notification(load_config(write(SETTINGS), env=env).targets)
    # dynaconf merges lists: the env topics are appended to the file's
    assert target.topics == ("v2.users.abc.presence", "v2.a.b", "v2.c.d")
    assert len(target.modes) == 2


def test_env_problem_names_the_variable(write: WriteFile) -> None:
    env = {
        "OTEL_GENESYS_TARGETS__PROD_EU__CLIENT_SECRET": SECRET,
        "OTEL_GENESYS_DEFAULTS__INTERVAL": "10ms",
        "OTEL_GENESYS_DEFAULTS__INTERVALL": "1s",
    }
    found = problems_of(write(SETTINGS), env)
    assert (
        "defaults.interval: must be at least 100ms (got '10ms') "
        "(from env OTEL_GENESYS_DEFAULTS__INTERVAL)"
    ) in found
    assert (
        "defaults.intervall: unknown key 'intervall'; did you mean 'interval'? "
        "(from env OTEL_GENESYS_DEFAULTS__INTERVALL)"
    ) in found


def test_malformed_env_names_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    found = problems_of(None, {"OTEL_GENESYS_DEFAULTS____INTERVAL": "1s"})
    assert found and "malformed name" in found[0]


def test_env_cannot_reach_into_array_targets(write: WriteFile) -> None:
    settings = write('[[targets]]\nname = "a"\nurl = "wss://h"\n')
    assert len(load_config(settings, env={}).targets) == 1
    found = problems_of(settings, {"OTEL_GENESYS_TARGETS__A__INTERVAL": "3s"})
    assert "use the table form" in found[0]


def test_array_of_tables_form(write: WriteFile) -> None:
    text = (
        '[[targets]]\nname = "a"\nurl = "wss://a.example"\n'
        '[[targets]]\nname = "b"\nregion = "us_east_1"\nclient_id = "x"\nclient_secret = "y"\n'
    )
    config = load_config(write(text), env={})
    assert [t.name for t in config.targets] == ["a", "b"]


def test_many_problems_reported_together(write: WriteFile) -> None:
    text = (
        '[defaults]\ninterval = "1ms"\nmax_latency_ms = -1\n'
        '[targets.a]\nurl = "http://x"\n[telemetry]\nspan_ratio = 3\n[log]\nlevel = "x"\n'
    )
    found = problems_of(write(text), {})
    assert [p.split(":")[0] for p in found] == [
        "defaults.interval",
        "defaults.max_latency_ms",
        "targets.a.url",
        "telemetry.span_ratio",
        "log.level",
    ]


def test_did_you_mean_at_every_level(write: WriteFile) -> None:
    text = (
        'telemetri = {}\ninterval = "1s"\n[defaults]\nmax_latncy_ms = 3\n'
        '[targets.a]\nurl = "wss://h"\nfirst_mesage = "x"\n'
        '[targets.b]\nregion = "eu_west_1"\nclient_id = "i"\nclient_secret = "s"\nclientid = "x"\n'
        "[health]\nprometeus = true\n"
    )
    found = "\n".join(problems_of(write(text), {}))
    assert "telemetri: unknown key 'telemetri'; did you mean 'telemetry'?" in found
    assert "interval: unknown key 'interval'; per-target keys go under [defaults]" in found
    assert (
        "defaults.max_latncy_ms: unknown key 'max_latncy_ms'; did you mean 'max_latency_ms'?"
        in found
    )
    assert (
        "targets.a.first_mesage: unknown key 'first_mesage'; did you mean 'first_message'?" in found
    )
    assert "targets.b.clientid: unknown key 'clientid'; did you mean 'client_id'?" in found
    assert "health.prometeus: unknown key 'prometeus'; did you mean 'prometheus'?" in found


def test_toml_syntax_error_names_file_and_line(write: WriteFile) -> None:
    settings = write("[defaults]\ninterval = \n")
    found = problems_of(settings, {})
    assert found[0].startswith(f"{settings}: not valid TOML: ") and "line 2" in found[0]


def test_no_files_at_all_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config.targets == () and config.sources == ()


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd"
    other = tmp_path / "other"
    cwd.mkdir()
    other.mkdir()
    (cwd / "settings.toml").write_text('[defaults]\ninterval = "3s"\n')
    (other / "settings.toml").write_text('[defaults]\ninterval = "4s"\n')
    (other / "custom.toml").write_text('[defaults]\ninterval = "5s"\n')
    monkeypatch.chdir(cwd)
    assert load_config(env={}).defaults.interval_ns == 3_000_000_000
    env = {"OTEL_GENESYS_CONFIG": str(other / "settings.toml")}
    assert load_config(env=env).defaults.interval_ns == 4_000_000_000
    assert load_config(other / "custom.toml", env=env).defaults.interval_ns == 5_000_000_000
    assert load_config(other, env={}).defaults.interval_ns == 4_000_000_000  # a directory


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    found = problems_of(tmp_path / "nope.toml", {})
    assert found == (f"{tmp_path / 'nope.toml'}: settings file not found (from --config)",)
    found = problems_of(None, {"OTEL_GENESYS_CONFIG": str(tmp_path / "gone.toml")})
    assert "(from env OTEL_GENESYS_CONFIG)" in found[0]


def test_real_environment_is_not_read_when_env_is_injected(
    write: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_GENESYS_DEFAULTS__INTERVAL", "9s")
    settings = write('[defaults]\ninterval = "3s"\n')
    assert load_config(settings, env={}).defaults.interval_ns == 3_000_000_000
    assert load_config(settings).defaults.interval_ns == 9_000_000_000  # default: os.environ


def test_secret_never_in_repr_str_or_errors(write: WriteFile) -> None:
    write(f'[targets.prod-eu]\nclient_secret = "{SECRET}"\n', name=".secrets.toml")
    config = load_config(write(SETTINGS), env={})
    assert SECRET not in repr(config) and SECRET not in str(config)
    # A broken config that carries the secret, as a valid and as an invalid value.
    bad = SETTINGS + '[targets.other]\nregion = "xx"\nclient_id = "a"\nclient_secret = 5\n'
    env = {"OTEL_GENESYS_TARGETS__OTHER__CLIENT_SECRET": SECRET}
    with pytest.raises(ConfigError) as info:
        load_config(write(bad), env=env)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    with pytest.raises(ConfigError) as info:
        load_config(
            write(
                f'[targets.x]\nregion = "eu_west_1"\nclient_id = "a"\n'
                f'client_secret = ["{SECRET}"]\n'
            ),
            env={},
        )
    assert "client_secret: expected a string, got an array" in str(info.value)
    assert SECRET not in str(info.value)


def test_header_values_are_hidden_from_repr_and_errors(write: WriteFile) -> None:
    text = f'[targets.x]\nurl = "wss://h"\nheaders = {{ Authorization = "Bearer {SECRET}" }}\n'
    target = load_config(write(text), env={}).targets[0]
    assert isinstance(target, GenericTarget)
    assert target.headers == (("Authorization", f"Bearer {SECRET}"),)
    assert SECRET not in repr(target)
    bad = f'[targets.x]\nurl = "wss://h"\nheaders = {{ Authorization = "{SECRET}\\n" }}\n'
    with pytest.raises(ConfigError) as info:
        load_config(write(bad), env={})
    assert "line breaks" in str(info.value) and SECRET not in str(info.value)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_loose_secrets_file_permissions_warn(
    write: WriteFile, caplog: pytest.LogCaptureFixture
) -> None:
    settings = write(SETTINGS)
    secrets = write(f'[targets.prod-eu]\nclient_secret = "{SECRET}"\n', ".secrets.toml", 0o644)
    with caplog.at_level(logging.WARNING, logger="otel_genesys.config"):
        load_config(settings, env={})
    warnings = [r for r in caplog.records if r.name == "otel_genesys.config"]
    assert len(warnings) == 1
    assert str(secrets) in warnings[0].getMessage() and "chmod 600" in warnings[0].getMessage()
    assert SECRET not in caplog.text

    caplog.clear()
    secrets.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="otel_genesys.config"):
        load_config(settings, env={})
    assert not [r for r in caplog.records if r.name == "otel_genesys.config"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_secret_in_world_readable_settings_warns(
    write: WriteFile, caplog: pytest.LogCaptureFixture
) -> None:
    settings = write(SETTINGS + f'client_secret = "{SECRET}"\n', mode=0o644)
    with caplog.at_level(logging.WARNING, logger="otel_genesys.config"):
        load_config(settings, env={})
    assert str(settings) in caplog.text
