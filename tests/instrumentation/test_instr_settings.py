"""Settings: the host predicate, environment variables, target identity."""

from __future__ import annotations

import pytest

from otel_genesys.core.outcome import TargetKind
from otel_genesys.genesys.protocol import HEARTBEAT_TEXT, PONG_TEXT
from otel_genesys.genesys.regions import streaming_hosts
from otel_genesys.instrumentation import (
    ENV_ACTIVE_INTERVAL,
    ENV_AUDIOHOOK,
    ENV_AUDIOHOOK_PATHS,
    ENV_HOSTS,
    HostPredicate,
    is_json_ping,
    is_json_pong,
    settings_from,
    target_for,
)


def test_every_region_streaming_host_matches_by_default() -> None:
    predicate = settings_from({}).hosts
    assert len(streaming_hosts()) >= 18
    for host in streaming_hosts():
        assert predicate(host) and predicate(host.upper() + ".")
    for host in ("api.mypurecloud.com", "127.0.0.1", "", None, "streaming.example.com"):
        assert not predicate(host)


def test_env_and_kwarg_hosts_add_to_the_defaults() -> None:
    s = settings_from({ENV_HOSTS: " 127.0.0.1 , *.corp.example ,"}, hosts=["ws.example.com"])
    for host in ("127.0.0.1", "a.corp.example", "b.a.corp.example", "ws.example.com"):
        assert s.hosts(host), host
    assert s.hosts("streaming.mypurecloud.de")
    assert not s.hosts("corp.example.org")
    assert HostPredicate.build(["::1"], genesys=False)("[::1]")


@pytest.mark.parametrize(
    ("value", "ns"),
    [(None, None), ("", None), ("5s", 5_000_000_000), ("250ms", 250_000_000), ("0", None),
     ("10ms", 100_000_000), ("soon", None)],
)  # fmt: skip
def test_active_interval_from_env(value: str | None, ns: int | None) -> None:
    env = {} if value is None else {ENV_ACTIVE_INTERVAL: value}
    assert settings_from(env).active_interval_ns == ns


def test_kwargs_win_over_env_for_interval_and_audiohook() -> None:
    env = {ENV_ACTIVE_INTERVAL: "5s", ENV_AUDIOHOOK: "false", ENV_AUDIOHOOK_PATHS: "/a,/b"}
    s = settings_from(env)
    assert (s.active_interval_ns, s.audiohook, s.audiohook_paths) == (
        5 * 10**9,
        False,
        ("/a", "/b"),
    )
    assert s.audiohook_path_matches("/b/x") and not s.audiohook_path_matches("/c")
    s = settings_from(env, active_interval="1s", audiohook=True, audiohook_paths=[])
    assert (s.active_interval_ns, s.audiohook, s.audiohook_paths) == (10**9, True, ())
    assert s.audiohook_path_matches("/anything")


def test_targets_are_low_cardinality_and_know_their_region() -> None:
    t = target_for("Streaming.MyPureCloud.ie", None, True)
    assert (t.name, t.kind, t.server_port, t.url_scheme, t.region) == (
        "streaming.mypurecloud.ie", TargetKind.NOTIFICATION, 443, "wss", "eu_west_1",
    )  # fmt: skip
    g = target_for("127.0.0.1", 8080, False)
    assert (g.name, g.kind, g.server_port, g.url_scheme, g.region) == (
        "127.0.0.1", TargetKind.GENERIC, 8080, "ws", None,
    )  # fmt: skip


def test_message_shapes() -> None:
    assert is_json_ping('{"message":"ping"}') and is_json_ping('{ "message" : "ping" }')
    assert not is_json_ping('{"message":"ping","x":1}')
    assert not is_json_ping("ping") and not is_json_ping('{"message":"pingpong"}')
    assert is_json_pong(PONG_TEXT)
    assert is_json_pong('{"eventBody": {"message": "pong"}, "topicName": "channel.metadata"}')
    assert not is_json_pong(HEARTBEAT_TEXT)
    assert not is_json_pong('{"topicName":"v2.users.x","eventBody":{"message":"pong"}}')
