"""Failure classification drives the reconnect policy."""

from __future__ import annotations

import aiohttp
import pytest

from otel_genesys.agent.failures import classify, classify_close
from otel_genesys.errors import (
    ChannelError,
    ConnectionLostError,
    HandshakeError,
    InvalidClientError,
    PermissionDeniedError,
    RateLimitedError,
)


@pytest.mark.parametrize("code", [1001, 1006, 1011, 1012, 1013])
def test_retryable_close_codes_back_off_fast(code: int) -> None:
    f = classify_close(code)
    assert f.cause == f"close_{code}"
    assert not f.needs_operator and not f.refresh_token


def test_protocol_error_and_policy_close() -> None:
    assert "protocol error" in classify_close(1002).message
    assert classify_close(1008).refresh_token
    assert classify_close(None).cause == "network"
    assert classify_close(4000).cause == "close_other"


def test_operator_errors_are_slow() -> None:
    assert classify(InvalidClientError("bad client")).needs_operator
    assert classify(PermissionDeniedError("nope", status=403)).needs_operator
    assert classify(HandshakeError("x", status=403)).needs_operator


def test_401_refreshes_token_once() -> None:
    assert classify(HandshakeError("x", status=401)).refresh_token
    assert classify(ChannelError("x", status=401)).refresh_token


def test_rate_limit_and_server_errors() -> None:
    f = classify(RateLimitedError("slow down", retry_after_s=7))
    assert f.cause == "http_429" and f.retry_after_s == 7
    assert classify(ChannelError("x", status=503)).cause == "http_503"
    assert classify(HandshakeError("x", status=503)).cause == "http_503"


def test_network_and_unknown() -> None:
    assert classify(aiohttp.ClientConnectionError()).cause == "network"
    assert classify(ConnectionResetError()).cause == "network"
    assert classify(TimeoutError()).cause == "timeout"
    assert classify(ConnectionLostError("x", close_code=1006)).cause == "close_1006"
    assert classify(ValueError("boom")).cause == "internal"
