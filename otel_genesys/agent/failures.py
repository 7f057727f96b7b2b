"""What a failure means for the reconnect policy.

Every way a connection can fail — an exception while connecting, a close code,
a dead heartbeat — is mapped to a `Failure`: a low-cardinality cause (the
``genesys.reconnect.cause`` attribute), whether retrying fast can help, and
whether one token refresh should be tried first.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, replace
from typing import Any

import aiohttp

from otel_genesys.errors import (
    AuthError,
    ChannelError,
    ConnectionLostError,
    HandshakeError,
    InvalidClientError,
    OtelGenesysError,
    PermissionDeniedError,
    RateLimitedError,
)

RETRYABLE_CLOSE_CODES = frozenset({1000, 1001, 1005, 1006, 1011, 1012, 1013, 1014})


@dataclass(frozen=True, slots=True)
class Failure:
    """How the monitor should react to one failure."""

    cause: str
    """Low-cardinality cause, e.g. ``network``, ``close_1006``, ``http_503``."""
    message: str
    needs_operator: bool = False
    """Bad credentials or missing permissions: retry slowly, tell a human."""
    refresh_token: bool = False
    """Try one token refresh before backing off (401 on handshake/channel)."""
    retry_after_s: float | None = None


def classify_close(code: int | None, *, reason: str = "") -> Failure:
    """Map a WebSocket close code to a failure class."""
    if code is None:
        return Failure("network", "connection dropped without a close frame")
    text = f"closed by peer with code {code}" + (f" ({reason})" if reason else "")
    if code == 1002:
        return Failure("close_1002", text + ": protocol error — check what was sent")
    if code == 1008:
        return Failure("close_1008", text + ": policy violation (token?)", refresh_token=True)
    if code == 1009:
        return Failure("close_1009", text + ": message too big")
    if code in RETRYABLE_CLOSE_CODES:
        return Failure(f"close_{code}", text)
    return Failure("close_other", text)


def _http_failure(status: int | None, what: str, retry_after: float | None = None) -> Failure:
    if status == 401:
        return Failure("http_401", f"{what} refused with 401", refresh_token=True)
    if status == 403:
        return Failure("http_403", f"{what} refused with 403 (missing permissions)", True)
    if status == 429:
        return Failure("http_429", f"{what} rate limited (429)", retry_after_s=retry_after)
    if status is not None and 500 <= status < 600:
        return Failure(f"http_{status}", f"{what} failed with {status}")
    return Failure(f"http_{status}" if status else "http", f"{what} failed with {status}")


def classify(exc: BaseException) -> Failure:
    """Map an exception raised while connecting or probing to a failure class."""
    if isinstance(exc, InvalidClientError):
        return Failure("invalid_client", str(exc), needs_operator=True)
    if isinstance(exc, PermissionDeniedError):
        return Failure("http_403", str(exc), needs_operator=True)
    if isinstance(exc, RateLimitedError):
        return Failure("http_429", str(exc), retry_after_s=exc.retry_after_s)
    if isinstance(exc, AuthError):
        return Failure("auth", str(exc))
    if isinstance(exc, ChannelError):
        f = _http_failure(exc.status, "channel request")
        return Failure(f.cause, str(exc), f.needs_operator, f.refresh_token, f.retry_after_s)
    if isinstance(exc, HandshakeError):
        return _http_failure(exc.status, "WebSocket handshake")
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        retry_after = None
        if exc.headers is not None and exc.status == 429:
            try:
                retry_after = float(exc.headers.get("Retry-After", ""))
            except ValueError:
                retry_after = None
        return _http_failure(exc.status, "WebSocket handshake", retry_after)
    if isinstance(exc, ConnectionLostError):
        return classify_close(exc.close_code, reason=str(exc))
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return Failure("timeout", "timed out while connecting")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return Failure("network", f"network error: {type(exc).__name__}")
    if isinstance(exc, OtelGenesysError):
        return Failure(exc.error_type, str(exc))
    return Failure("internal", f"unexpected {type(exc).__name__}")


# --------------------------------------------------------------- 1002 diagnostics

_SENSITIVE_KEY = re.compile(r"token|secret|password|authori[sz]ation|api[-_]?key|cookie", re.I)
_LOOSE_MEMBER = re.compile(
    r'("[^"]*(?:token|secret|password|authori[sz]ation|api[-_]?key|cookie)[^"]*"\s*:\s*)"[^"]*"?',
    re.I,
)
FRAME_SNIPPET_CHARS = 200
"""How much of a frame a protocol-error diagnostic shows."""


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: ("***" if isinstance(k, str) and _SENSITIVE_KEY.search(k) else _mask(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def describe_frame(frame: str | bytes | None) -> str:
    """A short, secret-free description of one WebSocket frame for a diagnostic.

    JSON has the values of credential-like keys masked; anything else is cut
    to :data:`FRAME_SNIPPET_CHARS` (the log filter still scrubs registered
    secrets from it).

    >>> describe_frame('{"type":"subscribe","token":"abc","settings":{}}')
    '{"type": "subscribe", "token": "***", "settings": {}} (48 chars)'
    >>> describe_frame('{"type":"subscribe","token":"abc"')
    '{"type":"subscribe","token":"***" (33 chars)'
    >>> describe_frame(None)
    'nothing'
    """
    if frame is None:
        return "nothing"
    if isinstance(frame, bytes):
        return f"a {len(frame)}-byte ping frame"
    try:
        shown = json.dumps(_mask(json.loads(frame)), ensure_ascii=False)
    except (ValueError, RecursionError):
        # Not JSON (often: broken JSON, the usual reason for a 1002): mask what
        # looks like a credential-named string member, then cut.
        shown = repr(_LOOSE_MEMBER.sub(r'\1"***"', frame)[:FRAME_SNIPPET_CHARS])[1:-1]
    else:
        shown = shown[:FRAME_SNIPPET_CHARS]
    return f"{shown} ({len(frame)} chars)"


def with_frames(failure: Failure, sent: str | bytes | None, received: str | None) -> Failure:
    """``failure`` with the last frames each way appended (for close 1002)."""
    return replace(
        failure,
        message=f"{failure.message}; last text sent: {describe_frame(sent)}; "
        f"last text received: {describe_frame(received)}",
    )
