"""Genesys-shaped HTTP error bodies, built in one place.

Platform API errors use the envelope
``{message, code, status, messageWithParams, messageParams, contextId, details, errors}``;
the login side uses ``{error, description, error_description}``. Every API
response carries ``ININ-Correlation-Id`` equal to the envelope's ``contextId``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping

from aiohttp import web

CORRELATION_HEADER = "ININ-Correlation-Id"


def new_context_id() -> str:
    """A fresh correlation id, as Genesys puts in ``contextId``."""
    return str(uuid.uuid4())


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """A Platform API error envelope with its correlation header."""
    context_id = new_context_id()
    body = {
        "message": message,
        "code": code,
        "status": status,
        "messageWithParams": message,
        "messageParams": {},
        "contextId": context_id,
        "details": [],
        "errors": [],
    }
    all_headers = {CORRELATION_HEADER: context_id, **(headers or {})}
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/json",
        headers=all_headers,
    )


def rate_limited_response(
    retry_after_s: int, *, extra_headers: Mapping[str, str] | None = None
) -> web.Response:
    """429 with ``Retry-After`` and the Genesys ``too.many.requests.retry.after`` body."""
    message = (
        f"Rate limit exceeded the maximum. Retry the request in [{retry_after_s}] seconds"
    )
    headers = {"Retry-After": str(retry_after_s), **(extra_headers or {})}
    return error_response(429, "too.many.requests.retry.after", message, headers=headers)


def oauth_error(status: int, error: str, description: str) -> web.Response:
    """A login-side error: ``{"error", "description", "error_description"}``."""
    body = {"error": error, "description": description, "error_description": description}
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/json",
        headers={CORRELATION_HEADER: new_context_id()},
    )


def json_response(data: object, status: int = 200) -> web.Response:
    """A JSON success response with a correlation header."""
    return web.Response(
        status=status,
        text=json.dumps(data),
        content_type="application/json",
        headers={CORRELATION_HEADER: new_context_id()},
    )
