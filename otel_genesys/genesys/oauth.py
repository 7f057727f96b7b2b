"""OAuth client credentials for Genesys Cloud, with one shared token per client.

``POST <login>/oauth/token`` with ``Authorization: Basic base64(id:secret)`` and
the form ``grant_type=client_credentials`` (see GENESYS.md). A
:class:`TokenProvider` owns one OAuth client's token: it caches it until its
refresh point, fetches a new one single-flight (concurrent callers await the
same request), retries 429/5xx/network failures with backoff, and reports bad
credentials once instead of hammering the login service. A :class:`TokenCache`
hands the same provider to every target that uses the same client.

Usage::

    cache = TokenCache(session, refresh_ratio=0.8)
    tokens = cache.provider(endpoints.token_url, client_id, Secret(client_secret))
    token = await tokens.get()          # Token; token.value is a Secret
    ...
    token = await tokens.refresh(reason="http_401", stale_generation=token.generation)

Failures raise :class:`~otel_genesys.errors.AuthError` or its subclasses
:class:`~otel_genesys.errors.InvalidClientError` (an operator must fix the
client id/secret) and :class:`~otel_genesys.errors.RateLimitedError`.
Neither the secret nor a token ever appears in a message or a log line.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
import random
import ssl as _ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from otel_genesys.core.backoff import Backoff
from otel_genesys.errors import AuthError, InvalidClientError, OtelGenesysError, RateLimitedError
from otel_genesys.genesys.http import (
    BodyTooLargeError,
    ErrorEnvelope,
    attach_envelope,
    clip,
    describe,
    parse_error_envelope,
    parse_retry_after,
    read_body,
    redact,
)
from otel_genesys.secret import Secret

__all__ = [
    "OAuthRequestRecord",
    "OAuthStats",
    "Token",
    "TokenCache",
    "TokenProvider",
    "parse_token_response",
]

log = logging.getLogger(__name__)

_NS = 1_000_000_000
MAX_EXPIRES_IN_S = 10 * 365 * 86400
"""A lifetime beyond ten years is not a Genesys token; such bodies are refused."""
_EXPIRY_MARGIN_NS = 5 * _NS
"""A token this close to expiry (or 10 % of its life, if less) is not handed out."""
_INVALID_CLIENT_CODES = frozenset({"invalid_client", "unauthorized_client"})


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and when to refresh it (all times monotonic ns)."""

    value: Secret
    expires_in_s: float
    issued_at_ns: int
    """Monotonic time the token request was sent (a conservative issue time)."""
    refresh_at_ns: int
    """``min(issued + ratio·expires_in, issued + max_age)``."""
    expires_at_ns: int
    generation: int
    """Increments with every new token, so a monitor can see a rollover."""

    def remaining_s(self, now_ns: int) -> float:
        """Seconds of validity left at ``now_ns`` (0 once expired)."""
        return max(0.0, (self.expires_at_ns - now_ns) / _NS)

    def usable_at(self, now_ns: int) -> bool:
        """Whether the token is far enough from expiry to hand out."""
        margin = min(_EXPIRY_MARGIN_NS, (self.expires_at_ns - self.issued_at_ns) // 10)
        return now_ns < self.expires_at_ns - margin


@dataclass(frozen=True, slots=True)
class OAuthStats:
    """Counters of one provider (a snapshot)."""

    requests: int = 0
    """HTTP requests sent to the token endpoint."""
    failures: int = 0
    """Requests that did not yield a token."""
    refreshes: int = 0
    """New tokens obtained while an earlier one existed."""
    rate_limited: int = 0
    """429 answers."""
    last_error_type: str | None = None
    """The outcome of the last failed request (``rate_limited``, ``http_503``, ``network`` …)."""
    last_duration_s: float | None = None


@dataclass(frozen=True, slots=True)
class OAuthRequestRecord:
    """One request to the token endpoint, for a lifecycle span and the duration metric."""

    start_wall_ns: int
    end_wall_ns: int
    duration_s: float
    """Monotonic duration of the request."""
    status: int | None
    """HTTP status; ``None`` when no response arrived."""
    outcome: str
    """``ok``, ``invalid_client``, ``rate_limited``, ``malformed``, ``network``,
    ``timeout`` or ``http_<status>``: low cardinality, usable as ``error.type``."""
    server_address: str
    client_id: str
    """Not secret: Genesys shows it in the admin UI; never the secret itself."""
    attempt: int
    """1 for the first try of a fetch, 2 for its first retry, …"""
    reason: str
    """Why the token was fetched: ``initial``, ``expiring``, ``proactive`` or a refresh reason."""


def parse_token_response(body: bytes) -> tuple[Secret, float]:
    """Validate a 200 body from the token endpoint; return ``(access_token, expires_in_s)``.

    Raises :class:`AuthError` naming the offending field. ``token_type`` may be
    absent; when present it must be ``bearer`` (any case).

    >>> secret, ttl = parse_token_response(
    ...     b'{"access_token": "abc", "token_type": "bearer", "expires_in": 86400}')
    >>> secret, ttl
    (Secret('***'), 86400.0)
    """
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise AuthError("malformed token response: body is not JSON") from None
    if not isinstance(data, dict):
        raise AuthError(f"malformed token response: expected a JSON object, got {_kind(data)}")
    access = data.get("access_token")
    if access is None:
        raise AuthError("malformed token response: access_token is missing")
    if not isinstance(access, str):
        raise AuthError(f"malformed token response: access_token is {_kind(access)}, not a string")
    if not access.strip():
        raise AuthError("malformed token response: access_token is empty")
    if not all(33 <= ord(ch) <= 126 for ch in access):
        # It goes into an HTTP header; a control character or space would break the request.
        raise AuthError(
            "malformed token response: access_token has characters not allowed in a header"
        )
    ttype = data.get("token_type")
    if ttype is not None and (not isinstance(ttype, str) or ttype.lower() != "bearer"):
        shown = clip(ttype, 40) if isinstance(ttype, str) else _kind(ttype)
        raise AuthError(f"malformed token response: token_type is {shown!r}, not 'bearer'")
    expires = data.get("expires_in")
    if expires is None:
        raise AuthError("malformed token response: expires_in is missing")
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        raise AuthError(f"malformed token response: expires_in is {_kind(expires)}, not a number")
    if (isinstance(expires, float) and not math.isfinite(expires)) or expires <= 0:
        raise AuthError(f"malformed token response: expires_in must be positive, got {expires!r}")
    if expires > MAX_EXPIRES_IN_S:
        raise AuthError(f"malformed token response: expires_in {expires!r} s is implausibly long")
    return Secret(access), float(expires)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def _new_backoff(base_ns: int, cap_ns: int, rng: random.Random) -> Backoff:
    return Backoff(base_ns, cap_ns, rng=rng)


@dataclass(frozen=True, slots=True)
class _Failure:
    exc: AuthError
    retryable: bool
    retry_after_s: float | None = None


class TokenProvider:
    """One per (token_url, client_id): the token every target of that client shares.

    ``get()`` returns the cached token until its refresh point, then fetches a
    new one; concurrent callers await the same request. While the old token is
    still valid, a failed refresh returns the old token (one attempt, then a
    backoff pause before the next try) so a login outage does not stop probes.
    Without a valid token, a fetch makes up to ``max_attempts`` attempts:
    429 (``Retry-After`` honoured), 5xx, 408 and network errors are retried
    with full-jitter backoff. Bad credentials raise :class:`InvalidClientError`,
    logged at ERROR once; for ``invalid_client_retry_s`` afterwards the error
    is raised again at once without asking the server.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        token_url: str,
        client_id: str,
        client_secret: Secret,
        *,
        refresh_ratio: float = 0.8,
        max_age_s: float = 3000.0,
        clock: Callable[[], int] = time.perf_counter_ns,
        wall_clock: Callable[[], int] = time.time_ns,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 60.0,
        invalid_client_retry_s: float = 300.0,
        max_attempts: int = 5,
        timeout_s: float = 10.0,
        max_retry_after_s: float = 600.0,
        on_request: Callable[[OAuthRequestRecord], None] | None = None,
        ssl: bool | _ssl.SSLContext = True,
    ) -> None:
        if not 0.0 < refresh_ratio <= 1.0:
            raise ValueError("refresh_ratio must be in (0, 1]")
        if max_age_s <= 0 or timeout_s <= 0 or max_attempts < 1:
            raise ValueError("max_age_s and timeout_s must be positive, max_attempts >= 1")
        if not isinstance(client_secret, Secret):
            raise TypeError("client_secret must be a Secret")
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self._session = session
        self._ratio = refresh_ratio
        self._max_age_ns = int(max_age_s * _NS)
        self._clock = clock
        self._wall = wall_clock
        self._sleep = sleep
        rng = rng or random.Random()
        self._backoff_args = (int(backoff_base_s * _NS), int(backoff_cap_s * _NS), rng)
        self._fallback_backoff = _new_backoff(*self._backoff_args)
        self._invalid_retry_ns = int(invalid_client_retry_s * _NS)
        self._max_attempts = max_attempts
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_retry_after_s = max_retry_after_s
        self._on_request = on_request
        self._ssl = ssl
        self._server = urlsplit(token_url).hostname or token_url

        self._token: Token | None = None
        self._generation = 0
        self._inflight: asyncio.Task[Token] | None = None
        self._distrusted: int | None = None
        """Generation the server refused (a forced refresh): never handed out again."""
        self._retry_not_before_ns: int | None = None
        self._invalid: tuple[str, int | None, int] | None = None
        """(message, status, until_ns) of the last invalid_client answer."""
        self._invalid_reported = False

        self._requests = 0
        self._failures = 0
        self._refreshes = 0
        self._rate_limited = 0
        self._last_error_type: str | None = None
        self._last_duration_s: float | None = None

    def __repr__(self) -> str:
        return f"TokenProvider(token_url={self.token_url!r}, client_id={self.client_id!r})"

    # ------------------------------------------------------------------ public

    @property
    def stats(self) -> OAuthStats:
        """A snapshot of this provider's counters."""
        return OAuthStats(
            self._requests,
            self._failures,
            self._refreshes,
            self._rate_limited,
            self._last_error_type,
            self._last_duration_s,
        )

    def current(self) -> Token | None:
        """The cached token (possibly past its refresh point), or ``None``."""
        return self._token

    async def get(self) -> Token:
        """The cached token while before its refresh point, else a fresh one (single-flight)."""
        now = self._clock()
        tok = self._usable(now)
        if tok is not None and now < tok.refresh_at_ns:
            return tok
        if self._inflight is not None:
            return await self._join()
        if tok is not None:
            if self._retry_not_before_ns is not None and now < self._retry_not_before_ns:
                return tok
            return await self._start("expiring", attempts=1, fallback=tok)
        self._raise_if_invalid(now)
        return await self._start("initial", attempts=self._max_attempts, fallback=None)

    async def refresh(self, *, reason: str, stale_generation: int | None = None) -> Token:
        """Force a new token, e.g. after a 401 on the channel or the handshake.

        ``stale_generation`` is the generation the caller saw fail: if a newer
        token already exists (another target refreshed first) it is returned
        without a request. Concurrent refreshes share one request.
        """
        for _ in range(3):
            tok = self._token
            newer = (
                tok is not None
                and stale_generation is not None
                and tok.generation > stale_generation
                and tok.generation != self._distrusted
            )
            if newer and tok is not None:
                return tok
            if self._inflight is not None:
                got = await self._join()
                if stale_generation is None or got.generation > stale_generation:
                    return got
                continue
            if tok is not None:
                self._distrusted = tok.generation
            self._raise_if_invalid(self._clock())
            return await self._start(reason, attempts=self._max_attempts, fallback=None)
        raise AuthError(f"could not refresh the token for client {self.client_id}")

    async def run_proactive_refresh(self) -> None:
        """Refresh at every token's refresh point, forever (cancel to stop)."""
        while True:
            now = self._clock()
            tok = self._usable(now)
            if tok is None or now >= tok.refresh_at_ns:
                with contextlib.suppress(OtelGenesysError):
                    await self.get()
            await self._sleep(self._next_due_ns(self._clock()) / _NS)

    async def aclose(self) -> None:
        """Cancel an in-flight fetch (shutdown)."""
        task = self._inflight
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ---------------------------------------------------------------- internals

    def _secrets(self) -> tuple[Secret, ...]:
        # A server may echo what it was sent; scrub the secret and the live token alike.
        tok = self._token
        return (self._secret,) if tok is None else (self._secret, tok.value)

    def _usable(self, now: int) -> Token | None:
        tok = self._token
        if tok is None or tok.generation == self._distrusted or not tok.usable_at(now):
            return None
        return tok

    def _next_due_ns(self, now: int) -> int:
        """How long the proactive loop sleeps before looking again."""
        tok = self._usable(now)
        if tok is not None and now < tok.refresh_at_ns:
            return tok.refresh_at_ns - now
        if self._retry_not_before_ns is not None and now < self._retry_not_before_ns:
            return self._retry_not_before_ns - now
        if self._invalid is not None and now < self._invalid[2]:
            return self._invalid[2] - now
        return max(self._fallback_backoff.next_delay_ns(), _NS // 10)

    def _raise_if_invalid(self, now: int) -> None:
        if self._invalid is not None and now < self._invalid[2]:
            message, status, _ = self._invalid
            log.debug("OAuth client %s: still rejected, not asking again yet", self.client_id)
            raise InvalidClientError(message, status=status)

    async def _start(self, reason: str, *, attempts: int, fallback: Token | None) -> Token:
        task = asyncio.create_task(
            self._run(reason, attempts, fallback), name=f"otel-genesys-oauth-{self.client_id}"
        )
        task.add_done_callback(_consume)
        self._inflight = task
        return await self._join()

    async def _join(self) -> Token:
        task = self._inflight
        assert task is not None
        # shield: one impatient caller must not cancel the request the others wait for
        return await asyncio.shield(task)

    async def _run(self, reason: str, attempts: int, fallback: Token | None) -> Token:
        try:
            return await self._fetch(reason, attempts, fallback)
        finally:
            self._inflight = None

    async def _fetch(self, reason: str, attempts: int, fallback: Token | None) -> Token:
        backoff = _new_backoff(*self._backoff_args)
        failure: _Failure | None = None
        for attempt in range(1, attempts + 1):
            result = await self._request(reason, attempt)
            if isinstance(result, Token):
                return result
            failure = result
            if not failure.retryable or attempt == attempts:
                break
            delay_s = failure.retry_after_s
            if delay_s is None:
                delay_s = backoff.next_delay_ns() / _NS
            log.debug(
                "OAuth token request for client %s failed (%s); retry %d in %.2fs",
                self.client_id, failure.exc.error_type, attempt, delay_s,
            )
            await self._sleep(delay_s)
        assert failure is not None
        now = self._clock()
        if fallback is not None and fallback.usable_at(now):
            pause_ns = self._fallback_backoff.next_delay_ns()
            if failure.retry_after_s is not None:
                pause_ns = max(pause_ns, int(failure.retry_after_s * _NS))
            if self._invalid is not None:
                pause_ns = max(pause_ns, self._invalid[2] - now)
            pause_ns = min(pause_ns, fallback.expires_at_ns - now)
            self._retry_not_before_ns = now + pause_ns
            log.warning(
                "OAuth client %s: token refresh failed (%s); keeping the current token "
                "(%.0fs left), next try in %.1fs",
                self.client_id, failure.exc, fallback.remaining_s(now), pause_ns / _NS,
            )
            return fallback
        if failure.retryable and attempts > 1:
            exc = failure.exc
            message = f"{exc} (gave up after {attempts} attempts)"
            if isinstance(exc, RateLimitedError):
                raise RateLimitedError(message, retry_after_s=exc.retry_after_s) from exc
            raise AuthError(message, status=exc.status) from exc
        raise failure.exc

    async def _request(self, reason: str, attempt: int) -> Token | _Failure:
        raw = f"{self.client_id}:{self._secret.reveal()}".encode()
        headers = {
            "Authorization": "Basic " + base64.b64encode(raw).decode("ascii"),
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        self._requests += 1
        start_wall = self._wall()
        start = self._clock()
        status: int | None = None
        result: Token | _Failure
        outcome: str
        try:
            async with self._session.post(
                self.token_url,
                data=b"grant_type=client_credentials",
                headers=headers,
                timeout=self._timeout,
                ssl=self._ssl,
                allow_redirects=False,  # a redirect would carry the Basic credentials elsewhere
            ) as resp:
                status = resp.status
                try:
                    body: bytes | None = await read_body(resp)
                except BodyTooLargeError:
                    body = None
                result, outcome = self._interpret(status, body, resp.headers, start)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            timeout = isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError)
            outcome = "timeout" if timeout else "network"
            what = "timed out" if timeout else f"failed: {type(exc).__name__}"
            detail = clip(redact(str(exc), *self._secrets())) if not timeout else ""
            message = f"OAuth token request to {self.token_url} {what}"
            message += f": {detail}" if detail and detail not in what else ""
            result = _Failure(AuthError(message), retryable=True)
        end = self._clock()
        duration_s = (end - start) / _NS
        self._last_duration_s = duration_s
        if isinstance(result, _Failure):
            self._failures += 1
            self._last_error_type = outcome
            if isinstance(result.exc, InvalidClientError):
                self._note_invalid(result.exc, end)
        else:
            result = self._install(result)
        self._report(
            OAuthRequestRecord(
                start_wall, self._wall(), duration_s, status, outcome,
                self._server, self.client_id, attempt, reason,
            )
        )
        return result

    def _interpret(
        self, status: int, body: bytes | None, headers: Mapping[str, str], issued_at: int
    ) -> tuple[Token | _Failure, str]:
        what = f"OAuth token request to {self.token_url} for client {self.client_id}"
        if 200 <= status < 300:
            try:
                if body is None:
                    raise AuthError("malformed token response: body too large")
                value, expires_in = parse_token_response(body)
            except AuthError as bad:
                message = f"{what}: {bad}"
                return _Failure(AuthError(message, status=status), retryable=False), "malformed"
            return self._make_token(value, expires_in, issued_at), "ok"
        env = parse_error_envelope(status, body or b"", headers, secrets=self._secrets())
        message = describe(what, env, *self._secrets())
        if status == 429:
            self._rate_limited += 1
            retry_after = parse_retry_after(
                headers.get("Retry-After"), cap_s=self._max_retry_after_s
            )
            exc: AuthError = RateLimitedError(message, retry_after_s=retry_after)
            return _Failure(_env(exc, env), retryable=True, retry_after_s=retry_after), (
                "rate_limited"
            )
        if status >= 500 or status == 408:
            exc = AuthError(message, status=status)
            return _Failure(_env(exc, env), retryable=True), f"http_{status}"
        if status == 401 or (env.code or "").lower() in _INVALID_CLIENT_CODES:
            message += " — check the OAuth client id and secret"
            exc = InvalidClientError(message, status=status)
            return _Failure(_env(exc, env), retryable=False), "invalid_client"
        exc = AuthError(message, status=status)
        return _Failure(_env(exc, env), retryable=False), f"http_{status}"

    def _make_token(self, value: Secret, expires_in_s: float, issued_at: int) -> Token:
        life_ns = int(expires_in_s * _NS)
        refresh_after = min(int(life_ns * self._ratio), self._max_age_ns)
        return Token(
            value=value,
            expires_in_s=expires_in_s,
            issued_at_ns=issued_at,
            refresh_at_ns=issued_at + refresh_after,
            expires_at_ns=issued_at + life_ns,
            generation=0,
        )

    def _install(self, fresh: Token) -> Token:
        self._generation += 1
        tok = Token(
            fresh.value, fresh.expires_in_s, fresh.issued_at_ns, fresh.refresh_at_ns,
            fresh.expires_at_ns, self._generation,
        )
        if self._token is not None:
            self._refreshes += 1
        if self._invalid_reported:
            log.warning("OAuth client %s: credentials accepted again", self.client_id)
        self._token = tok
        self._distrusted = None
        self._retry_not_before_ns = None
        self._invalid = None
        self._invalid_reported = False
        self._fallback_backoff.reset()
        log.debug(
            "OAuth client %s: token generation %d, expires in %gs",
            self.client_id, tok.generation, tok.expires_in_s,
        )
        return tok

    def _note_invalid(self, exc: InvalidClientError, now: int) -> None:
        self._invalid = (str(exc), exc.status, now + self._invalid_retry_ns)
        if not self._invalid_reported:
            self._invalid_reported = True
            log.error(
                "%s; not retrying for %.0fs", exc, self._invalid_retry_ns / _NS,
                extra={"client_id": self.client_id},
            )
        else:
            log.warning("OAuth client %s still rejected (invalid_client)", self.client_id)

    def _report(self, record: OAuthRequestRecord) -> None:
        if self._on_request is None:
            return
        try:
            self._on_request(record)
        except Exception:  # a telemetry hook must never break authentication
            log.debug("on_request hook failed", exc_info=True)


def _env(exc: AuthError, env: ErrorEnvelope) -> AuthError:
    attach_envelope(exc, env)
    return exc


def _consume(task: asyncio.Task[Token]) -> None:
    # Every waiter may have gone (cancelled); read the outcome so asyncio does not warn.
    if not task.cancelled():
        task.exception()


class TokenCache:
    """Registry of providers, so targets sharing an OAuth client share its token.

    Keyed by ``(token_url, client_id, client_secret)``: two targets that name the
    same client with different secrets get separate providers, so one wrong
    secret cannot break the target whose secret is right.
    """

    def __init__(self, session: aiohttp.ClientSession, **provider_kwargs: Any) -> None:
        self._session = session
        self._kwargs = provider_kwargs
        self._providers: dict[tuple[str, str, Secret], TokenProvider] = {}

    def provider(self, token_url: str, client_id: str, client_secret: Secret) -> TokenProvider:
        """The provider for this client, created on first use."""
        key = (token_url, client_id, client_secret)
        found = self._providers.get(key)
        if found is None:
            found = TokenProvider(
                self._session, token_url, client_id, client_secret, **self._kwargs
            )
            self._providers[key] = found
        return found

    def providers(self) -> tuple[TokenProvider, ...]:
        """Every provider created so far."""
        return tuple(self._providers.values())

    async def aclose(self) -> None:
        """Cancel every in-flight fetch."""
        for p in self._providers.values():
            await p.aclose()
