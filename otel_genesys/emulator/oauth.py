"""``POST /oauth/token``: the client-credentials grant, with token-endpoint faults."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import math
import socket
import struct
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from aiohttp import web

from otel_genesys.emulator.appkey import emulator_of
from otel_genesys.emulator.envelopes import (
    error_response,
    json_response,
    oauth_error,
    rate_limited_response,
)

if TYPE_CHECKING:
    pass

_FORM = "application/x-www-form-urlencoded"


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


def _drop_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def token_handler(request: web.Request) -> web.StreamResponse:
    """Issue a bearer token, or answer the way Genesys's login service would refuse."""
    emu = emulator_of(request)
    counters = emu.counters
    counters.token_requests += 1
    spec = emu.faults.global_spec

    if spec.token_outage == "drop":
        counters.token_dropped += 1
        _drop_connection(request)
        # The connection is gone; aiohttp discards whatever is returned.
        raise web.HTTPServiceUnavailable()
    if spec.token_outage in ("503", "500"):
        status = int(spec.token_outage)
        counters.token_error(status)
        code = "service.unavailable" if status == 503 else "internal.server.error"
        return error_response(status, code, "The token service is unavailable (emulated)")
    if emu.faults.take_token_429():
        counters.token_error(429)
        counters.token_rate_limited += 1
        return rate_limited_response(spec.token_retry_after_s)

    creds = _basic_credentials(request.headers.get("Authorization"))
    client = emu.config.client(creds[0]) if creds else None
    if creds is None or client is None or not hmac.compare_digest(
        creds[1].encode(), client.client_secret.reveal().encode()
    ):
        counters.token_error(401)
        return oauth_error(401, "invalid_client", "authentication failed")

    if client.token_rate is not None:
        decision = emu.rate.check(f"token:{client.client_id}", client.token_rate)
        if not decision.allowed:
            counters.token_error(429)
            counters.token_rate_limited += 1
            return rate_limited_response(
                max(1, math.ceil(decision.reset_s)), extra_headers=decision.headers()
            )

    if request.content_type != _FORM:
        counters.token_error(400)
        return oauth_error(400, "invalid_request", "content type must be " + _FORM)
    try:
        form = parse_qs((await request.read()).decode("utf-8"), strict_parsing=False)
    except UnicodeDecodeError:
        form = {}
    grant = form.get("grant_type")
    if not grant:
        counters.token_error(400)
        return oauth_error(400, "invalid_request", "grant_type is required")
    if grant != ["client_credentials"]:
        counters.token_error(400)
        return oauth_error(400, "unsupported_grant_type", "unsupported grant type")

    lifetime = spec.token_lifetime_s if spec.token_lifetime_s is not None else (
        client.token_lifetime_s)
    token = emu.tokens.issue(client.client_id, lifetime)
    counters.tokens_issued += 1
    return json_response(
        {"access_token": token, "token_type": "bearer", "expires_in": math.ceil(lifetime)}
    )
