"""The notification-channels REST client (``/api/v2/notifications/channels``).

Create a channel (``POST``, no body) to get the ``connectUri`` the WebSocket
dials, and manage its topic subscriptions (``PUT`` replaces, ``POST`` adds,
``GET`` lists, ``DELETE`` clears). See GENESYS.md.

Errors (all from :mod:`otel_genesys.errors`; the parsed Genesys envelope, with
``contextId`` and ``ININ-Correlation-Id``, is on the exception — read it with
:func:`otel_genesys.genesys.http.envelope_of`):

* 401 → :class:`ChannelError` ``status=401``, ``code`` e.g. ``credentials.expired``:
  refresh the token once and retry;
* 403 → :class:`PermissionDeniedError` (an operator must grant a permission);
* 429 → :class:`RateLimitedError` with ``retry_after_s``;
* 5xx and other statuses → :class:`ChannelError` with ``status``;
* a 2xx body that is not what Genesys sends → :class:`ChannelError` (``status``
  is the 2xx, ``code="malformed.response"``).

Network failures surface unchanged as ``aiohttp.ClientError`` or
``TimeoutError`` (the agent classifies those itself). The access token never
appears in a message.
"""

from __future__ import annotations

import json
import ssl as _ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from otel_genesys.errors import ChannelError
from otel_genesys.genesys.http import (
    BodyTooLargeError,
    api_error,
    clip,
    parse_error_envelope,
    parse_retry_after,
    read_body,
)
from otel_genesys.genesys.oauth import Token

__all__ = [
    "MAX_TOPICS_PER_CHANNEL",
    "Channel",
    "ChannelsClient",
    "SubscriptionResult",
    "parse_channel",
    "parse_subscriptions",
]

MAX_TOPICS_PER_CHANNEL = 1000
"""Genesys refuses more topics than this on one channel."""

MALFORMED = "malformed.response"


@dataclass(frozen=True, slots=True)
class Channel:
    """A notification channel: where to connect and until when it lives."""

    id: str
    connect_uri: str
    """``ws://`` or ``wss://`` URL, to be dialled exactly as returned."""
    expires_at_wall: datetime | None
    """Timezone-aware (UTC) expiry Genesys announced, if any."""
    created_at_ns: int
    """Monotonic time the create response arrived."""


@dataclass(frozen=True, slots=True)
class SubscriptionResult:
    """Genesys's verdict on one topic."""

    topic: str
    state: str
    """``Permitted`` or ``Rejected`` (a missing state is read as ``Permitted``)."""
    rejection_reason: str | None = None
    missing_permissions: tuple[str, ...] = ()


def _malformed(what: str, problem: str, status: int) -> ChannelError:
    return ChannelError(f"{what}: malformed response: {problem}", status=status, code=MALFORMED)


def _parse_json(body: bytes, what: str, status: int) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _malformed(what, "body is not JSON", status) from None


def _safe_token(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and all(33 <= ord(c) <= 126 for c in value)


def parse_expires(value: str) -> datetime | None:
    """An ISO-8601 time (``Z`` allowed) as an aware UTC datetime, or ``None`` if unreadable.

    >>> parse_expires("2024-05-01T12:00:00.000Z")
    datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.timezone.utc)
    """
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # Genesys times are UTC
    try:
        return when.astimezone(UTC)
    except OverflowError:
        return None


def parse_channel(body: bytes, *, created_at_ns: int, status: int = 200) -> Channel:
    """Validate a channel-create body; raise :class:`ChannelError` naming the bad field."""
    what = "notification channel create"
    data = _parse_json(body, what, status)
    if not isinstance(data, dict):
        raise _malformed(what, "expected a JSON object", status)
    cid = data.get("id")
    if not isinstance(cid, str) or not _safe_token(cid):
        raise _malformed(what, "id is missing or not a plain string", status)
    uri = data.get("connectUri")
    if not isinstance(uri, str) or not uri:
        raise _malformed(what, "connectUri is missing or not a string", status)
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _malformed(what, "connectUri is not a URL", status) from None
    if parts.scheme.lower() not in ("ws", "wss") or not host or not _safe_token(uri):
        shown = clip(uri, 80)
        raise _malformed(what, f"connectUri is not a ws:// or wss:// URL: {shown!r}", status)
    expires_at: datetime | None = None
    raw = data.get("expires")
    if raw is not None:
        if not isinstance(raw, str):
            raise _malformed(what, "expires is not a string", status)
        expires_at = parse_expires(raw)
        if expires_at is None:
            raise _malformed(what, f"expires is not ISO-8601: {clip(raw, 40)!r}", status)
    return Channel(id=cid, connect_uri=uri, expires_at_wall=expires_at, created_at_ns=created_at_ns)


def parse_subscriptions(body: bytes, *, status: int = 200) -> list[SubscriptionResult]:
    """Validate ``{"entities": [{"id", "state", "rejectionReason", "missingPermissions"}]}``."""
    what = "notification subscriptions"
    data = _parse_json(body, what, status)
    if not isinstance(data, dict) or not isinstance(data.get("entities"), list):
        raise _malformed(what, "expected an object with an entities array", status)
    results = []
    for i, item in enumerate(data["entities"]):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise _malformed(what, f"entities[{i}] has no string id", status)
        state = item.get("state", "Permitted")
        if not isinstance(state, str):
            raise _malformed(what, f"entities[{i}].state is not a string", status)
        reason = item.get("rejectionReason")
        if reason is not None and not isinstance(reason, str):
            raise _malformed(what, f"entities[{i}].rejectionReason is not a string", status)
        missing = item.get("missingPermissions")
        if missing is None:
            missing = []
        if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
            problem = f"entities[{i}].missingPermissions is not a string array"
            raise _malformed(what, problem, status)
        results.append(
            SubscriptionResult(
                topic=item["id"],
                state=state,
                rejection_reason=reason or None,
                missing_permissions=tuple(missing),
            )
        )
    return results


class ChannelsClient:
    """REST calls on ``channels_url`` (``<api>/api/v2/notifications/channels``).

    One client per API host is enough; it holds no state besides its settings.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        channels_url: str,
        *,
        ssl: bool | _ssl.SSLContext = True,
        timeout_s: float = 10.0,
        clock: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self.channels_url = channels_url.rstrip("/")
        self._session = session
        self._ssl = ssl
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._clock = clock

    def __repr__(self) -> str:
        return f"ChannelsClient({self.channels_url!r})"

    async def create(self, token: Token) -> Channel:
        """``POST`` a new channel (no body) and return it."""
        status, body = await self._call(
            "POST", self.channels_url, token, "notification channel create"
        )
        return parse_channel(body, created_at_ns=self._clock(), status=status)

    async def subscribe(
        self, token: Token, channel_id: str, topics: Sequence[str], *, replace: bool = True
    ) -> list[SubscriptionResult]:
        """Subscribe ``topics``: ``PUT`` replaces the set, ``POST`` adds to it.

        Returns Genesys's verdict per topic; a ``Rejected`` topic is a result,
        not an exception (read ``rejection_reason`` / ``missing_permissions``).
        """
        topics = list(topics)
        if len(topics) > MAX_TOPICS_PER_CHANNEL:
            raise ChannelError(
                f"{len(topics)} topics requested; a channel holds at most "
                f"{MAX_TOPICS_PER_CHANNEL}",
                code="too.many.topics",
            )
        payload = json.dumps([{"id": t} for t in topics]).encode()
        status, body = await self._call(
            "PUT" if replace else "POST",
            self._subscriptions_url(channel_id),
            token,
            "notification subscribe",
            payload,
        )
        if status == 204 or not body.strip():
            return []
        return parse_subscriptions(body, status=status)

    async def list_subscriptions(self, token: Token, channel_id: str) -> list[SubscriptionResult]:
        """``GET`` the channel's current subscriptions."""
        status, body = await self._call(
            "GET", self._subscriptions_url(channel_id), token, "notification subscriptions list"
        )
        return parse_subscriptions(body, status=status)

    async def clear_subscriptions(self, token: Token, channel_id: str) -> None:
        """``DELETE`` every subscription of the channel."""
        await self._call(
            "DELETE", self._subscriptions_url(channel_id), token, "notification subscriptions clear"
        )

    async def exists(self, token: Token, channel_id: str) -> bool:
        """``HEAD`` the channel: ``True`` while it lives, ``False`` on 404."""
        status, _ = await self._call(
            "HEAD", self._channel_url(channel_id), token, "notification channel check",
            missing_ok=True,
        )
        return status != 404

    # ---------------------------------------------------------------- internals

    def _channel_url(self, channel_id: str) -> str:
        return f"{self.channels_url}/{quote(channel_id, safe='')}"

    def _subscriptions_url(self, channel_id: str) -> str:
        return self._channel_url(channel_id) + "/subscriptions"

    async def _call(
        self,
        method: str,
        url: str,
        token: Token,
        what: str,
        payload: bytes | None = None,
        *,
        missing_ok: bool = False,
    ) -> tuple[int, bytes]:
        headers = {
            "Authorization": "Bearer " + token.value.reveal(),
            "Accept": "application/json",
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        async with self._session.request(
            method,
            url,
            data=payload,
            headers=headers,
            timeout=self._timeout,
            ssl=self._ssl,
            allow_redirects=False,  # never send the bearer token to another place
        ) as resp:
            status = resp.status
            try:
                body = b"" if method == "HEAD" else await read_body(resp)
            except BodyTooLargeError:
                if 200 <= status < 300:
                    raise ChannelError(
                        f"{what}: response body too large", status=status, code=MALFORMED
                    ) from None
                body = b""
            if 200 <= status < 300 or (missing_ok and status == 404):
                return status, body
            env = parse_error_envelope(status, body, resp.headers, secrets=(token.value,))
            retry_after = (
                parse_retry_after(resp.headers.get("Retry-After")) if status == 429 else None
            )
        raise api_error(what, env, retry_after_s=retry_after, secrets=(token.value,))
