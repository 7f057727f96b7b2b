"""Every validation rule: its message names the key path, the source and the rule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from otel_genesys.config import GenericTarget, NotificationTarget, load_config
from otel_genesys.errors import ConfigError

WriteFile = Callable[..., Path]  # the `write` fixture of conftest.py

NOTIFY = """
[targets.prod-eu]
region = "eu_west_1"
client_id = "cid"
client_secret = "s3cret-value"
"""


def problems_of(path: Path, env: dict[str, str] | None = None) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return info.value.problems


CASES = [
    # (settings text, key path, fragment of the rule)
    ('[defaults]\nconnection_id = "short"', "defaults.connection_id", "^[A-Za-z0-9_-]{8,36}$"),
    ('[defaults]\nconnection_id = "has space!!"', "defaults.connection_id", "must match"),
    (
        '[defaults]\ninterval = "50ms"\nprobe_frequency_limit = "10ms"',
        "defaults.interval",
        "at least 100ms",
    ),
    (
        '[defaults]\ninterval = "500ms"',
        "defaults.interval",
        "interval (500ms) must not be shorter than probe_frequency_limit (1s)",
    ),
    (
        '[defaults]\nprobe_frequency_limit = "6s"\ninterval = "10s"',
        "defaults.probe_frequency_limit",
        "at most 5s",
    ),
    ("[defaults]\nmax_latency_ms = 0", "defaults.max_latency_ms", "greater than 0"),
    ("[defaults]\nmax_jitter_ms = -1", "defaults.max_jitter_ms", "greater than 0"),
    ("[defaults.drift]\nadjust_factor = 0", "defaults.drift.adjust_factor", "in (0, 1]"),
    ("[defaults.drift]\nadjust_factor = 1.01", "defaults.drift.adjust_factor", "in (0, 1]"),
    ("[defaults.drift]\nmax_drift_ms = -3", "defaults.drift.max_drift_ms", "not be negative"),
    ('[defaults]\ntimeout = "whenever"', "defaults.timeout", '"adaptive" or a duration'),
    ('[defaults]\ntimeout = "0s"', "defaults.timeout", "greater than 0"),
    (
        '[defaults]\ntimeout_min = "2s"\ntimeout_max = "1s"',
        "defaults.timeout_max",
        "timeout_max (1s) must not be shorter than timeout_min (2s)",
    ),
    (
        '[defaults]\nreconnect_base = "2m"',
        "defaults.reconnect_base",
        "reconnect_cap (1m) must not be shorter than reconnect_base (2m)",
    ),
    (
        '[defaults]\nstagger_grid = "3s"',
        "defaults.stagger_grid",
        "interval (2s) must not be shorter than stagger_grid (3s)",
    ),
    ('[defaults]\nstagger_grid = "-1ms"', "defaults.stagger_grid", "not be negative"),
    ('[defaults]\ndegraded_policy = "drop"', "defaults.degraded_policy", "count, flag, exclude"),
    ("[defaults]\nverify_tls = 2", "defaults.verify_tls", "expected true or false"),
    ('[defaults]\nmax_latency_ms = "fast"', "defaults.max_latency_ms", "milliseconds"),
    ('[defaults]\nstability_window = "many"', "defaults.stability_window", "expected an integer"),
    ("[defaults]\ninterval = true", "defaults.interval", "got a boolean"),
    ('[defaults]\ndrift = "on"', "defaults.drift", "expected a table, got a string"),
    (
        '[targets.x]\nregion = "mars_north_1"\nclient_id = "a"\nclient_secret = "b"',
        "targets.x.region",
        "valid regions: us_east_1",
    ),
    (
        '[targets.x]\nclient_id = "a"\nclient_secret = "b"',
        "targets.x",
        "needs region (or base_url)",
    ),
    (
        '[targets.x]\nbase_url = "ftp://h"\nclient_id = "a"\nclient_secret = "b"',
        "targets.x.base_url",
        "http:// or https://",
    ),
    (
        '[targets.x]\nregion = "eu_west_1"\nclient_secret = "b"',
        "targets.x.client_id",
        "missing: a notification target needs client_id",
    ),
    (
        '[targets.x]\nregion = "eu_west_1"\nclient_id = "a"',
        "targets.x.client_secret",
        "OTEL_GENESYS_TARGETS__X__CLIENT_SECRET",
    ),
    (
        '[targets.x]\nregion = "eu_west_1"\nclient_id = "a"\nclient_secret = "b"\nmode = "loud"',
        "targets.x.mode",
        "must be notification, control or both",
    ),
    (
        '[targets.x]\nregion = "eu_west_1"\nclient_id = "a"\nclient_secret = "b"\n'
        'topics = ["v2.ok", "v3.no"]',
        "targets.x.topics[1]",
        "starting with 'v2.'",
    ),
    (
        '[targets.x]\nregion = "eu_west_1"\nclient_id = "a"\nclient_secret = "b"\n'
        "topics = [" + ", ".join(f'"v2.t.{i}"' for i in range(1001)) + "]",
        "targets.x.topics",
        "at most 1000",
    ),
    ('[targets.x]\nurl = "http://h/ws"', "targets.x.url", "ws:// or wss://"),
    ('[targets.x]\nurl = "wss://"', "targets.x.url", "ws:// or wss://"),
    (
        '[targets.x]\nurl = "wss://h"\nfirst_message = "' + "é" * 32769 + '"',
        "targets.x.first_message",
        "65538 bytes (UTF-8), more than max_message_bytes (65536)",
    ),
    ('[targets.x]\nurl = "wss://h"\nregion = "eu_west_1"', "targets.x", "has both url"),
    (
        '[targets.x]\nurl = "wss://h"\nmode = "both"',
        "targets.x.mode",
        "applies only to Genesys notification",
    ),
    (
        '[targets.x]\nurl = "wss://h"\nheaders = { "Bad Name" = "v" }',
        "targets.x.headers.Bad Name",
        "not a valid HTTP header name",
    ),
    ("[targets.x]\ninterval = 5", "targets.x", "needs url"),
    ("targets = 3", "targets", "expected a table of targets"),
    ('[telemetry]\nexporter = "zipkin"', "telemetry.exporter", "auto, otlp, otlp_grpc"),
    ("[telemetry]\nspan_ratio = 1.5", "telemetry.span_ratio", "in [0, 1]"),
    ("[telemetry]\nspan_ratio = -0.1", "telemetry.span_ratio", "in [0, 1]"),
    ("[telemetry]\nexport_nice = 20", "telemetry.export_nice", "in [0, 19]"),
    ("[telemetry]\nexport_nice = -1", "telemetry.export_nice", "in [0, 19]"),
    ('[telemetry]\nexport_cpus = "2-1"', "telemetry.export_cpus", "must run upwards"),
    ('[telemetry]\nexport_cpus = "one"', "telemetry.export_cpus", "expected a CPU list"),
    ("[telemetry]\nexport_cpus = 4096", "telemetry.export_cpus", "below 4096"),
    ("[telemetry]\nexport_cpus = true", "telemetry.export_cpus", "got a boolean"),
    ('[telemetry]\nexport_cpus = [0, "1"]', "telemetry.export_cpus", "CPU numbers only"),
    ('[telemetry]\nendpoint = "localhost:4317"', "telemetry.endpoint", "http:// or https://"),
    ('[log]\nlevel = "CHATTY"', "log.level", "DEBUG, INFO, WARNING"),
    ('[log]\nformat = "xml"', "log.format", "auto, json, text"),
    ("[health]\nport = 65536", "health.port", "in [0, 65535]"),
    ("[health]\nport = -1", "health.port", "in [0, 65535]"),
    (
        "[sharding]\nshard_index = 2\nshard_count = 2",
        "sharding.shard_index",
        "[0, shard_count) = [0, 2)",
    ),
    ("[sharding]\nshard_count = 0", "sharding.shard_count", "greater than 0"),
    (
        '[[targets]]\nname = "a"\nurl = "wss://h"\n[[targets]]\nname = "a"\nurl = "wss://g"',
        "targets[1].name",
        "duplicate target name 'a' (also at targets[0])",
    ),
    (
        '[targets.prod-eu]\nurl = "wss://h"\n[targets.PROD_EU]\nurl = "wss://g"',
        "targets.PROD_EU",
        "duplicate target name",
    ),
    ('[targets."bad.name"]\nurl = "wss://h"', "targets.bad.name", "invalid target name"),
]


@pytest.mark.parametrize(("text", "path", "rule"), CASES, ids=[c[1] for c in CASES])
def test_rule_message_has_path_source_and_rule(
    write: WriteFile, text: str, path: str, rule: str
) -> None:
    settings = write(text)
    found = [p for p in problems_of(settings) if p.startswith(f"{path}: ")]
    assert found, problems_of(settings)
    assert any(rule in p for p in found), found
    assert all(p.endswith(f"(from {settings})") for p in found), found


def test_valid_minimal_notification_target(write: WriteFile) -> None:
    config = load_config(write(NOTIFY), env={})
    (target,) = config.targets
    assert isinstance(target, NotificationTarget)
    assert target.name == "prod-eu"
    assert target.region == "eu_west_1"
    assert target.oauth.client_id == "cid"
    assert target.topics == ()
    assert target.monitor == config.defaults


def test_region_given_as_domain_is_stored_as_name(write: WriteFile) -> None:
    config = load_config(write(NOTIFY.replace("eu_west_1", "mypurecloud.de")), env={})
    target = config.targets[0]
    assert isinstance(target, NotificationTarget)
    assert target.region == "eu_central_1"


def test_unknown_region_suggests_the_close_one(write: WriteFile) -> None:
    found = problems_of(write(NOTIFY.replace("eu_west_1", "eu_wst_1")))
    assert any("did you mean 'eu_west_1'?" in p for p in found), found


def test_first_message_limit_follows_max_message_bytes(write: WriteFile) -> None:
    text = '[targets.x]\nurl = "wss://h"\nmax_message_bytes = 4\nfirst_message = "12345"'
    settings = write(text)
    assert problems_of(settings) == (
        "targets.x.first_message: is 5 bytes (UTF-8), more than max_message_bytes (4) "
        f"(from {settings})",
    )
    ok = '[targets.x]\nurl = "wss://h"\nmax_message_bytes = 5\nfirst_message = "12345"'
    target = load_config(write(ok), env={}).targets[0]
    assert isinstance(target, GenericTarget)
    assert target.first_message == "12345"


def test_interval_may_go_below_one_second_with_a_lower_frequency_limit(write: WriteFile) -> None:
    text = '[defaults]\ninterval = "100ms"\nprobe_frequency_limit = "100ms"'
    assert load_config(write(text), env={}).defaults.interval_ns == 100_000_000


def test_stagger_grid_default_off_file_and_environment(write: WriteFile) -> None:
    path = write('[targets.a]\nurl = "wss://h"\n')
    assert load_config(path, env={}).defaults.stagger_grid_ns == 0
    one = write('[defaults]\nstagger_grid = "1ms"\n[targets.a]\nurl = "wss://h"\n', "one.toml")
    assert load_config(one, env={}).targets[0].monitor.stagger_grid_ns == 1_000_000
    env = {"OTEL_GENESYS_DEFAULTS__STAGGER_GRID": "5ms"}
    assert load_config(path, env=env).targets[0].monitor.stagger_grid_ns == 5_000_000


def test_target_inherits_defaults_and_overrides(write: WriteFile) -> None:
    text = (
        '[defaults]\ninterval = "3s"\nmax_latency_ms = 120\n[defaults.drift]\nmax_drift_ms = 4\n'
        '[targets.a]\nurl = "wss://h"\ninterval = "5s"\n[targets.a.drift]\nenabled = false\n'
    )
    config = load_config(write(text), env={})
    monitor = config.targets[0].monitor
    assert monitor.interval_ns == 5_000_000_000
    assert monitor.max_latency_ns == 120_000_000
    assert monitor.drift.enabled is False
    assert monitor.drift.max_drift_ns == 4_000_000  # inherited inside the sub-table


def test_target_cross_rule_reported_at_target_not_defaults(write: WriteFile) -> None:
    text = '[targets.a]\nurl = "wss://h"\ninterval = "500ms"'
    found = problems_of(write(text))
    assert len(found) == 1 and found[0].startswith("targets.a.interval: interval (500ms)")


def test_modes(write: WriteFile) -> None:
    from otel_genesys.core.outcome import ProbeMode

    for word, expected in [
        ("notification", {ProbeMode.NOTIFICATION}),
        ("control", {ProbeMode.CONTROL}),
        ("both", {ProbeMode.NOTIFICATION, ProbeMode.CONTROL}),
        ('["control", "notification"]', {ProbeMode.NOTIFICATION, ProbeMode.CONTROL}),
    ]:
        value = word if word.startswith("[") else f'"{word}"'
        target = load_config(write(NOTIFY + f"mode = {value}\n"), env={}).targets[0]
        assert isinstance(target, NotificationTarget)
        assert target.modes == expected
    default = load_config(write(NOTIFY), env={}).targets[0]
    assert isinstance(default, NotificationTarget)
    assert default.modes == {ProbeMode.NOTIFICATION}


@pytest.mark.parametrize(
    ("value", "cpus"),
    [('"1"', (1,)), ('"0-2, 5"', (0, 1, 2, 5)), ("3", (3,)), ("[2, 0]", (0, 2)), ('""', ())],
)
def test_export_cpus_reads_a_cpu_list(write: WriteFile, value: str, cpus: tuple[int, ...]) -> None:
    config = load_config(write(f"[telemetry]\nexport_cpus = {value}\n"), env={})
    assert config.telemetry.export_cpus == cpus


def test_export_cpus_from_the_environment_and_back_through_check_config(
    write: WriteFile,
) -> None:
    default = load_config(write(""), env={"OTEL_GENESYS_TELEMETRY__EXPORT_CPUS": "1,3"})
    assert default.telemetry.export_cpus == (1, 3)
    from otel_genesys.config import redacted_toml

    again = load_config(write(redacted_toml(default)), env={})  # check-config's spelling
    assert again.telemetry.export_cpus == (1, 3)
