"""Genesys error envelopes, Retry-After, status → exception, redaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_genesys.errors import AuthError, ChannelError, PermissionDeniedError, RateLimitedError
from otel_genesys.genesys.http import (
    ErrorEnvelope,
    api_error,
    clip,
    envelope_of,
    parse_error_envelope,
    parse_retry_after,
    redact,
)
from otel_genesys.genesys.oauth import parse_token_response
from otel_genesys.secret import Secret

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("42", 42.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("-3", 0.0),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),
        ("99999999", 3600.0),
        ("inf", 3600.0),
        ("nan", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_full_platform_envelope() -> None:
    body: dict[str, Any] = {
        "message": "Rate limit exceeded the maximum. Retry the request in [42] seconds",
        "code": "too.many.requests.retry.after",
        "status": 429,
        "messageWithParams": "Retry in {seconds}",
        "messageParams": {"seconds": "42"},
        "contextId": "ctx-1",
        "details": [{"errorCode": "x", "message": "detail one"}, "detail two"],
        "errors": [{"message": "nested", "code": "n"}],
    }
    env = parse_error_envelope(429, json.dumps(body).encode(), {"ININ-Correlation-Id": "corr-1"})
    assert env == ErrorEnvelope(
        http_status=429,
        message=body["message"],
        code="too.many.requests.retry.after",
        message_with_params="Retry in {seconds}",
        message_params=(("seconds", "42"),),
        context_id="ctx-1",
        correlation_id="corr-1",
        details=("detail one", "detail two"),
        errors=("nested",),
    )
    assert env.support_ids() == "contextId=ctx-1 correlationId=corr-1"


def test_oauth_error_shape() -> None:
    body = b'{"error":"invalid_client","description":"authentication failed",' \
           b'"error_description":"authentication failed"}'
    env = parse_error_envelope(401, body)
    assert (env.code, env.description, env.text()) == (
        "invalid_client", "authentication failed", "authentication failed"
    )


@pytest.mark.parametrize("body", [b"", b"<html>502</html>", b"[1]", b'"x"', b"\xff\xfe"])
def test_unreadable_error_bodies_give_an_empty_envelope(body: bytes) -> None:
    env = parse_error_envelope(502, body)
    assert env == ErrorEnvelope(502)
    assert env.text() == ""


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, ChannelError), (403, PermissionDeniedError), (429, RateLimitedError),
     (404, ChannelError), (500, ChannelError), (503, ChannelError)],
)
def test_api_error_maps_status(status: int, kind: type[Exception]) -> None:
    env = ErrorEnvelope(status, message="m", code="c", context_id="ctx")
    exc = api_error("thing", env, retry_after_s=5.0 if status == 429 else None)
    assert type(exc) is kind
    assert getattr(exc, "status", None) == status
    assert envelope_of(exc) is env
    assert str(exc).startswith(f"thing failed with HTTP {status} [c]: m")
    assert "contextId=ctx" in str(exc)
    if status == 429:
        assert isinstance(exc, RateLimitedError) and exc.retry_after_s == 5.0
    else:
        assert isinstance(exc, ChannelError) and exc.code == "c"


def test_redact_and_clip() -> None:
    assert redact("a hunter2 b hunter2", Secret("hunter2"), None, "") == "a *** b ***"
    assert clip("x" * 500).endswith("…") and len(clip("x" * 500)) == 300
    assert clip("a\nb\x00c") == "a b c"


def test_secret_cut_by_clipping_is_still_scrubbed() -> None:
    secret = "S" * 40
    body = json.dumps({"message": "x" * 280 + secret}).encode()
    env = parse_error_envelope(400, body, secrets=(Secret(secret),))
    assert "S" not in (env.message or "")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                  max_size=5),
    max_leaves=15,
)
ENVELOPEISH = st.fixed_dictionaries(
    {},
    optional={k: JSON for k in ("message", "code", "status", "messageWithParams",
                                "messageParams", "contextId", "details", "errors", "error",
                                "description", "error_description")},
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, ENVELOPEISH), st.integers(400, 599))
def test_any_error_body_parses_without_raising(body: Any, status: int) -> None:
    env = parse_error_envelope(status, json.dumps(body).encode())
    assert env.http_status == status
    exc = api_error("x", env)
    assert str(exc).startswith(f"x failed with HTTP {status}")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_parse_as_an_envelope(body: bytes) -> None:
    assert parse_error_envelope(500, body).http_status == 500


TOKENISH = st.fixed_dictionaries(
    {},
    optional={
        "access_token": JSON | st.text(min_size=1, max_size=20),
        "expires_in": JSON | st.integers(-10, 10**12) | st.floats(allow_nan=True),
        "token_type": JSON | st.sampled_from(["bearer", "BEARER", "mac"]),
    },
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(JSON, TOKENISH))
def test_any_json_token_body_gives_a_token_or_an_auth_error(body: Any) -> None:
    try:
        value, expires_in = parse_token_response(json.dumps(body).encode())
    except AuthError as exc:
        assert str(exc).startswith("malformed token response: ")
        return
    assert isinstance(body, dict)
    assert value.reveal() == body["access_token"] and value.reveal().strip()
    assert 0 < expires_in <= 10 * 365 * 86400
