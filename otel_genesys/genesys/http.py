"""Shared HTTP helpers for the Genesys Cloud REST side (OAuth and channels).

Three jobs, one place:

* read a response body with a size limit (:func:`read_body`);
* parse Genesys error bodies — the Platform API envelope
  ``{message, code, status, messageWithParams, messageParams, contextId, details, errors}``
  and the OAuth shape ``{error, description, error_description}`` — into one
  :class:`ErrorEnvelope` (:func:`parse_error_envelope`);
* turn a failed API response into the matching exception from
  :mod:`otel_genesys.errors` (:func:`api_error`), keeping the ``contextId`` and
  ``ININ-Correlation-Id`` (not secret) so an operator can quote them to support.

Also :func:`parse_retry_after` (seconds or HTTP-date) and :func:`redact`, which
scrubs known secret values out of text a server sent back, in case it echoes one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from otel_genesys.errors import (
    ChannelError,
    OtelGenesysError,
    PermissionDeniedError,
    RateLimitedError,
)
from otel_genesys.secret import Secret

MAX_BODY_BYTES = 256 * 1024
"""Larger bodies are refused: no Genesys REST answer we read comes near this."""

MAX_TEXT_CHARS = 300
"""Server-provided text is cut to this length before it enters an exception message."""

CORRELATION_HEADER = "ININ-Correlation-Id"

_ENVELOPE_ATTR = "genesys_envelope"


class BodyTooLargeError(Exception):
    """The response body was larger than the limit passed to :func:`read_body`."""


@dataclass(frozen=True, slots=True)
class ErrorEnvelope:
    """What Genesys said about a failed request, reduced to safe plain values."""

    http_status: int
    message: str | None = None
    code: str | None = None
    """Platform API ``code`` (``bad.credentials``) or OAuth ``error`` (``invalid_client``)."""
    description: str | None = None
    """OAuth ``error_description`` / ``description``."""
    message_with_params: str | None = None
    message_params: tuple[tuple[str, str], ...] = ()
    context_id: str | None = None
    correlation_id: str | None = None
    details: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    def text(self) -> str:
        """The most helpful human sentence available (may be empty)."""
        return self.message or self.description or self.message_with_params or ""

    def support_ids(self) -> str:
        """``contextId=… correlationId=…`` for log lines and support tickets ('' if none)."""
        parts = []
        if self.context_id:
            parts.append(f"contextId={self.context_id}")
        if self.correlation_id and self.correlation_id != self.context_id:
            parts.append(f"correlationId={self.correlation_id}")
        return " ".join(parts)


def clip(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Cut server text to ``limit`` characters and drop control characters."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def redact(text: str, *secrets: Secret | str | None) -> str:
    """Replace every occurrence of each secret's value in ``text`` with ``***``."""
    for s in secrets:
        if s is None:
            continue
        value = s.reveal() if isinstance(s, Secret) else s
        if value:
            text = text.replace(value, "***")
    return text


async def read_body(resp: aiohttp.ClientResponse, limit: int = MAX_BODY_BYTES) -> bytes:
    """Read the whole body, refusing more than ``limit`` bytes."""
    data = await resp.content.read(limit + 1)
    if len(data) > limit:
        raise BodyTooLargeError(f"response body larger than {limit} bytes")
    return data


def _opt_str(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return clip(value.strip())
    return None


def _str_items(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    out = []
    for item in value[:20]:
        if isinstance(item, str):
            out.append(clip(item, 120))
        elif isinstance(item, dict):
            text = _opt_str(item.get("message")) or _opt_str(item.get("code"))
            if text:
                out.append(clip(text, 120))
    return tuple(out)


def _scrub(value: Any, secrets: tuple[Secret | str | None, ...], depth: int = 0) -> Any:
    if not secrets:
        return value
    if isinstance(value, str):
        return redact(value, *secrets)
    if depth > 8:
        return None  # deeper than any envelope field we read
    if isinstance(value, list):
        return [_scrub(v, secrets, depth + 1) for v in value]
    if isinstance(value, dict):
        return {redact(str(k), *secrets): _scrub(v, secrets, depth + 1) for k, v in value.items()}
    return value


def parse_error_envelope(
    http_status: int,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    secrets: tuple[Secret | str | None, ...] = (),
) -> ErrorEnvelope:
    """Read whatever Genesys sent with an error; never raises.

    ``secrets`` are scrubbed from every field, in case the server echoes one.

    >>> env = parse_error_envelope(403, b'{"message":"no","code":"missing.permissions",'
    ...     b'"contextId":"c-1"}')
    >>> env.code, env.message, env.context_id
    ('missing.permissions', 'no', 'c-1')
    """
    correlation = None
    if headers is not None:
        correlation = _opt_str(_scrub(headers.get(CORRELATION_HEADER), secrets))
    try:
        data = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        data = None
    # Scrub before anything is clipped: a cut could otherwise leave half a secret behind.
    data = _scrub(data, secrets)
    if not isinstance(data, dict):
        return ErrorEnvelope(http_status, correlation_id=correlation)
    params: tuple[tuple[str, str], ...] = ()
    raw_params = data.get("messageParams")
    if isinstance(raw_params, dict):
        params = tuple(
            (clip(str(k), 60), clip(str(v), 120))
            for k, v in list(raw_params.items())[:20]
            if isinstance(v, str | int | float)
        )
    return ErrorEnvelope(
        http_status=http_status,
        message=_opt_str(data.get("message")),
        code=_opt_str(data.get("code")) or _opt_str(data.get("error")),
        description=_opt_str(data.get("error_description")) or _opt_str(data.get("description")),
        message_with_params=_opt_str(data.get("messageWithParams")),
        message_params=params,
        context_id=_opt_str(data.get("contextId")),
        correlation_id=correlation,
        details=_str_items(data.get("details")),
        errors=_str_items(data.get("errors")),
    )


def parse_retry_after(
    value: str | None, *, now: datetime | None = None, cap_s: float = 3600.0
) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP-date.

    Returns ``None`` when absent or unreadable; negative values and past dates
    become ``0``; absurd values are capped at ``cap_s``.

    >>> parse_retry_after("42")
    42.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
    ...                   now=datetime(2015, 10, 21, 7, 27, 30, tzinfo=UTC))
    30.0
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap_s)


def attach_envelope(exc: OtelGenesysError, envelope: ErrorEnvelope) -> OtelGenesysError:
    """Keep the parsed envelope on the exception (read it back with :func:`envelope_of`)."""
    setattr(exc, _ENVELOPE_ATTR, envelope)
    return exc


def envelope_of(exc: BaseException) -> ErrorEnvelope | None:
    """The Genesys error envelope a REST exception was raised for, if any."""
    env = getattr(exc, _ENVELOPE_ATTR, None)
    return env if isinstance(env, ErrorEnvelope) else None


def describe(what: str, envelope: ErrorEnvelope, *secrets: Secret | str | None) -> str:
    """One line: what failed, the status, Genesys's code and message, and the support ids."""
    line = f"{what} failed with HTTP {envelope.http_status}"
    if envelope.code:
        line += f" [{envelope.code}]"
    text = envelope.text()
    if text:
        line += f": {text}"
    ids = envelope.support_ids()
    if ids:
        line += f" ({ids})"
    return redact(line, *secrets)


def api_error(
    what: str,
    envelope: ErrorEnvelope,
    *,
    retry_after_s: float | None = None,
    secrets: tuple[Secret | str | None, ...] = (),
) -> OtelGenesysError:
    """Map a failed Platform API response to the exception the agent reacts to.

    * 401 → :class:`ChannelError` with ``status=401`` and the Genesys code
      (``authentication.required``/``bad.credentials``/``credentials.expired``):
      the caller refreshes the token once and retries.
    * 403 → :class:`PermissionDeniedError` (an operator must grant a role).
    * 429 → :class:`RateLimitedError` with ``retry_after_s``.
    * anything else (5xx, 404, other 4xx) → :class:`ChannelError` with the status.
    """
    message = describe(what, envelope, *secrets)
    status = envelope.http_status
    exc: OtelGenesysError
    if status == 403:
        missing = [v for k, v in envelope.message_params if "permission" in k.lower()]
        if missing and "missing" not in message.lower():
            message += f"; missing permissions: {', '.join(missing)}"
        exc = PermissionDeniedError(message, status=403, code=envelope.code)
    elif status == 429:
        if retry_after_s is not None:
            message += f"; retry after {retry_after_s:g}s"
        exc = RateLimitedError(message, retry_after_s=retry_after_s)
    else:
        exc = ChannelError(message, status=status, code=envelope.code)
    return attach_envelope(exc, envelope)
