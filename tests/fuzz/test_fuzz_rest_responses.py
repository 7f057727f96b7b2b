"""Malformed token and channel responses: a clear error, counted and logged; the agent retries.

The parsers are fuzzed directly (any JSON, any bytes: a value or the documented
error, nothing else). Then a hostile server answers the token or channel request
with malformed bodies over a real socket: the agent must count each failure,
log it, and keep retrying with backoff, without crashing and without a probe.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from otel_genesys.errors import AuthError, ChannelError
from otel_genesys.genesys.channels import parse_channel
from otel_genesys.genesys.oauth import parse_token_response
from tests.fuzz.fuzz_agent import run_against
from tests.fuzz.fuzz_server import GOOD_TOKEN, HostileServer

JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=12,
)
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=2),
    st.just({}),
)
MISSING = object()


def _token_body(fields: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in fields.items() if v is not MISSING}).encode()


TOKEN_FIELDS = st.fixed_dictionaries(
    {
        "access_token": st.just("tok-abcdef") | ODD_VALUES | st.just(MISSING),
        "token_type": st.just("bearer") | ODD_VALUES | st.just(MISSING),
        "expires_in": st.just(3600) | st.integers(-(10**6), 0) | ODD_VALUES | st.just(MISSING),
    }
)
CHANNEL_FIELDS = st.fixed_dictionaries(
    {
        "id": st.just("streaming-0-abc") | ODD_VALUES | st.just(MISSING),
        "connectUri": st.just("ws://127.0.0.1:1/channels/x")
        | st.sampled_from(["http://h/x", "ws://", "not a url", "ws://h:99999/x"])
        | ODD_VALUES
        | st.just(MISSING),
        "expires": st.just("2030-01-01T00:00:00Z") | ODD_VALUES | st.just(MISSING),
    }
)


def _token_is_malformed(body: bytes) -> bool:
    try:
        parse_token_response(body)
    except AuthError:
        return True
    return False


def _channel_is_malformed(body: bytes) -> bool:
    try:
        parse_channel(body, created_at_ns=0)
    except ChannelError:
        return True
    return False


@settings(max_examples=300, deadline=None)
@given(
    JSON.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=64)
    | TOKEN_FIELDS.map(_token_body)
)
def test_fuzz_token_parser_gives_a_token_or_auth_error(body: bytes) -> None:
    try:
        secret, expires_in = parse_token_response(body)
    except AuthError as exc:
        assert str(exc).startswith("malformed token response")
    else:
        assert secret.reveal() and expires_in > 0


@settings(max_examples=300, deadline=None)
@given(
    JSON.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=64)
    | CHANNEL_FIELDS.map(_token_body)
)
def test_fuzz_channel_parser_gives_a_channel_or_channel_error(body: bytes) -> None:
    try:
        channel = parse_channel(body, created_at_ns=0)
    except ChannelError as exc:
        assert "malformed response" in str(exc)
    else:
        assert channel.connect_uri.startswith(("ws://", "wss://"))


SOCKET_SETTINGS = settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@SOCKET_SETTINGS
@given(TOKEN_FIELDS.map(_token_body).filter(_token_is_malformed))
@example(_token_body({"access_token": "tok-abcdef", "token_type": "bearer", "expires_in": -5}))
@example(_token_body({"access_token": "tok-abcdef", "token_type": "bearer"}))
@example(_token_body({"access_token": 12345, "token_type": "bearer", "expires_in": 60}))
def test_fuzz_malformed_token_response_is_counted_logged_and_retried(body: bytes) -> None:
    run = run_against(HostileServer(token_body=body), seconds=0.2, recover=False)
    assert run.problems() == []
    assert run.server.token_requests >= 2, "the agent stopped retrying"
    outcomes = [r.outcome for r in run.oauth]
    # Every answered attempt is counted as malformed, never ok. A keep-alive
    # connection the server closed just as it was reused may show up as one
    # `network` attempt on a loaded machine; that is a true outcome too.
    assert outcomes.count("malformed") >= 1 and set(outcomes) <= {"malformed", "network"}
    assert outcomes.count("network") <= 1, outcomes
    assert run.status["failures"].get("auth", 0) >= 1
    assert any("malformed token response" in r.getMessage() for r in run.logs)
    assert all(c.sent == 0 for c in run.counters.values())


@SOCKET_SETTINGS
@given(CHANNEL_FIELDS.map(_token_body).filter(_channel_is_malformed) | st.binary(max_size=40))
@example(b'{"connectUri": "ws://127.0.0.1:1/channels/x"}')
@example(b'{"id": "x", "connectUri": 42}')
def test_fuzz_malformed_channel_response_is_counted_logged_and_retried(body: bytes) -> None:
    assume(_channel_is_malformed(body))
    run = run_against(HostileServer(channel_body=body), seconds=0.2, recover=False)
    assert run.problems() == []
    assert run.server.channel_requests >= 2, "the agent stopped retrying"
    failures = run.status["failures"]
    assert sum(failures.values()) == run.status["reconnects"] >= 1
    assert any("malformed response" in r.getMessage() for r in run.logs)
    assert all(c.sent == 0 for c in run.counters.values())


def test_fuzz_good_token_body_is_accepted() -> None:
    """The strategies' healthy corner really parses (so the filters above filter something)."""
    assert not _token_is_malformed(json.dumps(GOOD_TOKEN).encode())
