"""OAuth client credentials against a scripted login server on loopback."""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from genesys_fakes import (
    CLIENT_ID,
    SECRET_VALUE,
    TOKEN_VALUE,
    FakeClock,
    FakeGenesys,
    FakeSleep,
    HalfRng,
    Reply,
    token_reply,
)

from otel_genesys.errors import AuthError, InvalidClientError, RateLimitedError
from otel_genesys.genesys.http import envelope_of
from otel_genesys.genesys.oauth import (
    OAuthRequestRecord,
    Token,
    TokenCache,
    TokenProvider,
)
from otel_genesys.secret import Secret

NS = 1_000_000_000
MakeProvider = Callable[..., TokenProvider]


@pytest.fixture
def make(
    fake: FakeGenesys, session: aiohttp.ClientSession, clock: FakeClock, sleep: FakeSleep
) -> MakeProvider:
    def build(**kwargs: Any) -> TokenProvider:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("sleep", sleep)
        kwargs.setdefault("rng", random.Random(7))
        return TokenProvider(
            session, fake.url("/oauth/token"), CLIENT_ID, Secret(SECRET_VALUE), **kwargs
        )

    return build


# ------------------------------------------------------------------ fetch and cache


async def test_fetches_with_basic_auth_and_caches(fake: FakeGenesys, make: MakeProvider) -> None:
    fake.script(token_reply(expires_in=3600))
    provider = make()
    token = await provider.get()
    again = await provider.get()

    assert again is token
    assert fake.count == 1
    req = fake.seen[0]
    assert req.method == "POST" and req.path == "/oauth/token"
    scheme, _, encoded = req.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"{CLIENT_ID}:{SECRET_VALUE}"
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(req.body.decode()) == {"grant_type": ["client_credentials"]}
    assert token.value.reveal() == TOKEN_VALUE
    assert token.generation == 1
    assert token.expires_in_s == 3600.0
    assert token.refresh_at_ns - token.issued_at_ns == int(0.8 * 3600 * NS)
    assert token.expires_at_ns - token.issued_at_ns == 3600 * NS
    assert provider.current() is token
    stats = provider.stats
    assert (stats.requests, stats.failures, stats.refreshes) == (1, 0, 0)


async def test_token_type_is_case_insensitive_and_may_be_absent(
    fake: FakeGenesys, make: MakeProvider
) -> None:
    fake.script(Reply(200, {"access_token": "a", "token_type": "Bearer", "expires_in": 300}))
    assert (await make().get()).value.reveal() == "a"
    fake.script(Reply(200, {"access_token": "b", "expires_in": 300.5}))
    assert (await make().get()).expires_in_s == 300.5


async def test_ten_concurrent_gets_share_one_request(
    fake: FakeGenesys, make: MakeProvider
) -> None:
    fake.script(Reply(200, token_reply().body, delay_s=0.05))
    provider = make()
    tokens = await asyncio.gather(*(provider.get() for _ in range(10)))
    assert fake.count == 1
    assert {id(t) for t in tokens} == {id(tokens[0])}


async def test_a_cancelled_waiter_does_not_cancel_the_shared_fetch(
    fake: FakeGenesys, make: MakeProvider
) -> None:
    fake.script(Reply(200, token_reply().body, delay_s=0.1))
    provider = make()
    impatient = asyncio.create_task(provider.get())
    patient = asyncio.create_task(provider.get())
    await asyncio.sleep(0.02)
    impatient.cancel()
    token = await patient
    assert token.generation == 1
    assert fake.count == 1


async def test_refreshes_at_the_ratio_of_the_lifetime(
    fake: FakeGenesys, make: MakeProvider, clock: FakeClock
) -> None:
    fake.script(token_reply(expires_in=100, token="first"), token_reply(expires_in=100))
    provider = make(refresh_ratio=0.8)
    first = await provider.get()
    clock.advance(79.9)
    assert await provider.get() is first
    assert fake.count == 1
    clock.advance(0.1)
    second = await provider.get()
    assert fake.count == 2
    assert second.generation == 2
    assert second.value.reveal() == TOKEN_VALUE
    assert provider.stats.refreshes == 1


async def test_max_age_caps_the_refresh_point(
    fake: FakeGenesys, make: MakeProvider, clock: FakeClock
) -> None:
    fake.script(token_reply(expires_in=86400))
    provider = make(refresh_ratio=0.8, max_age_s=3000)
    token = await provider.get()
    assert token.refresh_at_ns - token.issued_at_ns == 3000 * NS
    clock.advance(2999)
    await provider.get()
    assert fake.count == 1
    clock.advance(1)
    await provider.get()
    assert fake.count == 2


async def test_proactive_loop_refreshes_at_each_refresh_point(
    fake: FakeGenesys, make: MakeProvider, clock: FakeClock
) -> None:
    delays: list[float] = []
    gate = asyncio.Event()

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        clock.advance(seconds)
        if len(delays) >= 3:
            await gate.wait()  # park the loop; the test cancels it
        await asyncio.sleep(0)

    fake.default = token_reply(expires_in=100)
    provider = make(sleep=sleep)
    task = asyncio.create_task(provider.run_proactive_refresh())
    for _ in range(200):
        if len(delays) >= 3:
            break
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert delays == pytest.approx([80.0, 80.0, 80.0])
    assert fake.count == 3
    current = provider.current()
    assert current is not None and current.generation == 3


async def test_proactive_loop_waits_out_failures_instead_of_spinning(
    fake: FakeGenesys, make: MakeProvider, clock: FakeClock
) -> None:
    delays: list[float] = []
    gate = asyncio.Event()

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        clock.advance(seconds)
        if len(delays) >= 3:
            await gate.wait()
        await asyncio.sleep(0)

    fake.default = Reply(401, {"error": "invalid_client"})
    provider = make(sleep=sleep, invalid_client_retry_s=120)
    task = asyncio.create_task(provider.run_proactive_refresh())
    for _ in range(200):
        if len(delays) >= 3:
            break
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert delays == pytest.approx([120.0, 120.0, 120.0])
    assert fake.count == 3


# ------------------------------------------------------------------ retries


async def test_429_honours_retry_after(
    fake: FakeGenesys, make: MakeProvider, sleep: FakeSleep
) -> None:
    fake.script(
        Reply(429, {"message": "Rate limit exceeded", "code": "too.many.requests.retry.after",
                    "status": 429}, headers=(("Retry-After", "7"),)),
        token_reply(),
    )
    provider = make()
    token = await provider.get()
    assert token.generation == 1
    assert sleep.delays == [7.0]
    assert fake.count == 2
    assert provider.stats.rate_limited == 1


async def test_429_without_retry_after_uses_full_jitter(
    fake: FakeGenesys, make: MakeProvider, sleep: FakeSleep
) -> None:
    fake.script(Reply(429), Reply(429), Reply(429), token_reply())
    await make(rng=HalfRng(), backoff_base_s=0.5, backoff_cap_s=1.5).get()
    # midpoint of [0, min(cap, base·2^n)] for n = 0, 1, 2
    assert sleep.delays == pytest.approx([0.25, 0.5, 0.75])


async def test_jittered_backoff_stays_within_bounds(
    fake: FakeGenesys, make: MakeProvider, sleep: FakeSleep
) -> None:
    fake.script(*[Reply(429)] * 4, token_reply())
    await make(rng=random.Random(1), backoff_base_s=0.5, backoff_cap_s=60, max_attempts=5).get()
    assert len(sleep.delays) == 4
    for n, delay in enumerate(sleep.delays):
        assert 0.0 <= delay <= 0.5 * 2**n
    assert len(set(sleep.delays)) > 1


async def test_repeated_429_gives_up_with_rate_limited_error(
    fake: FakeGenesys, make: MakeProvider
) -> None:
    fake.default = Reply(429, headers=(("Retry-After", "3"),))
    with pytest.raises(RateLimitedError) as info:
        await make(max_attempts=3).get()
    assert info.value.retry_after_s == 3.0
    assert "3 attempts" in str(info.value)
    assert fake.count == 3


async def test_server_error_then_success(
    fake: FakeGenesys, make: MakeProvider, sleep: FakeSleep
) -> None:
    fake.script(Reply(500, {"message": "boom", "code": "internal.server.error"}), token_reply())
    provider = make()
    assert (await provider.get()).generation == 1
    assert len(sleep.delays) == 1
    assert provider.stats.failures == 1
    assert provider.stats.last_error_type == "http_500"


async def test_dropped_connection_is_retried(
    fake: FakeGenesys, make: MakeProvider, sleep: FakeSleep
) -> None:
    fake.script(Reply(drop=True), token_reply())
    provider = make()
    assert (await provider.get()).generation == 1
    assert fake.count == 2
    assert provider.stats.last_error_type == "network"


async def test_gives_up_after_max_attempts_with_the_last_cause(
    fake: FakeGenesys, make: MakeProvider, sleep: FakeSleep
) -> None:
    fake.default = Reply(503, {"message": "down", "code": "service.unavailable"})
    with pytest.raises(AuthError) as info:
        await make(max_attempts=4).get()
    assert not isinstance(info.value, InvalidClientError)
    assert fake.count == 4
    assert len(sleep.delays) == 3
    assert "503" in str(info.value) and "4 attempts" in str(info.value)
    assert isinstance(info.value.__cause__, AuthError)


async def test_timeout_is_reported(fake: FakeGenesys, make: MakeProvider) -> None:
    fake.script(Reply(200, token_reply().body, delay_s=1.0))
    records: list[OAuthRequestRecord] = []
    with pytest.raises(AuthError, match="timed out"):
        await make(timeout_s=0.1, max_attempts=1, on_request=records.append).get()
    assert records[0].outcome == "timeout"
    assert records[0].status is None


async def test_unreachable_server_is_a_network_failure(
    session: aiohttp.ClientSession, clock: FakeClock, sleep: FakeSleep
) -> None:
    closed = FakeGenesys()
    await closed.start()
    url = closed.url("/oauth/token")
    await closed.close()
    provider = TokenProvider(
        session, url, CLIENT_ID, Secret(SECRET_VALUE), clock=clock, sleep=sleep, max_attempts=2
    )
    with pytest.raises(AuthError, match="2 attempts"):
        await provider.get()
    assert provider.stats.last_error_type == "network"
    assert len(sleep.delays) == 1


async def test_redirects_are_not_followed(fake: FakeGenesys, make: MakeProvider) -> None:
    fake.script(Reply(302, headers=(("Location", fake.url("/elsewhere")),)))
    with pytest.raises(AuthError, match="302"):
        await make().get()
    assert [s.path for s in fake.seen] == ["/oauth/token"]


# ------------------------------------------------------------------ bad credentials

INVALID = {"error": "invalid_client", "description": "authentication failed",
           "error_description": "authentication failed"}


async def test_invalid_client_is_reported_once_and_cached(
    fake: FakeGenesys, make: MakeProvider, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="otel_genesys")
    fake.default = Reply(401, INVALID)
    provider = make(invalid_client_retry_s=300)
    with pytest.raises(InvalidClientError) as first:
        await provider.get()
    assert "authentication failed" in str(first.value)
    assert "invalid_client" in str(first.value)
    assert first.value.status == 401
    assert not first.value.retryable
    for _ in range(5):
        clock.advance(10)
        with pytest.raises(InvalidClientError):
            await provider.get()
    assert fake.count == 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1

    clock.advance(300)
    with pytest.raises(InvalidClientError):
        await provider.get()
    assert fake.count == 2
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
    assert any(r.levelno == logging.WARNING for r in caplog.records)


async def test_invalid_client_also_on_400(fake: FakeGenesys, make: MakeProvider) -> None:
    fake.script(Reply(400, INVALID))
    with pytest.raises(InvalidClientError):
        await make().get()
    assert fake.count == 1


async def test_recovery_after_invalid_client_reports_again_at_error(
    fake: FakeGenesys, make: MakeProvider, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="otel_genesys")
    fake.script(Reply(401, INVALID), token_reply(expires_in=100), Reply(401, INVALID))
    provider = make(invalid_client_retry_s=60)
    with pytest.raises(InvalidClientError):
        await provider.get()
    clock.advance(61)
    assert (await provider.get()).generation == 1
    clock.advance(200)  # token expired, credentials revoked again
    with pytest.raises(InvalidClientError):
        await provider.get()
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 2


async def test_other_client_errors_are_not_retried(
    fake: FakeGenesys, make: MakeProvider
) -> None:
    fake.script(Reply(400, {"error": "unsupported_grant_type",
                            "error_description": "grant type not allowed"}))
    with pytest.raises(AuthError) as info:
        await make().get()
    assert type(info.value) is AuthError
    assert "grant type not allowed" in str(info.value)
    assert info.value.status == 400
    assert fake.count == 1
    env = envelope_of(info.value)
    assert env is not None and env.code == "unsupported_grant_type"


# ------------------------------------------------------------------ malformed bodies


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"token_type": "bearer", "expires_in": 60}, "access_token is missing"),
        ({"access_token": 123, "expires_in": 60}, "access_token is a number"),
        ({"access_token": "", "expires_in": 60}, "access_token is empty"),
        ({"access_token": "a b", "expires_in": 60}, "access_token has characters"),
        ({"access_token": "x"}, "expires_in is missing"),
        ({"access_token": "x", "expires_in": "3600"}, "expires_in is a string"),
        ({"access_token": "x", "expires_in": True}, "expires_in is a boolean"),
        ({"access_token": "x", "expires_in": 0}, "expires_in must be positive"),
        ({"access_token": "x", "expires_in": -5}, "expires_in must be positive"),
        ({"access_token": "x", "expires_in": 10**40}, "implausibly long"),
        ({"access_token": "x", "expires_in": 60, "token_type": "mac"}, "token_type"),
        ([1, 2], "expected a JSON object"),
        ("<html>captive portal</html>", "not JSON"),
        (b"", "not JSON"),
    ],
)
async def test_malformed_token_bodies_raise_clear_auth_errors(
    fake: FakeGenesys, make: MakeProvider, body: Any, needle: str
) -> None:
    fake.script(Reply(200, body))
    records: list[OAuthRequestRecord] = []
    with pytest.raises(AuthError) as info:
        await make(on_request=records.append).get()
    assert type(info.value) is AuthError
    assert needle in str(info.value)
    assert "malformed token response" in str(info.value)
    assert fake.count == 1  # a broken 200 is not retried fast
    assert records[0].outcome == "malformed"


# ------------------------------------------------------------------ forced refresh


async def test_refresh_with_stale_generation_dedupes(
    fake: FakeGenesys, make: MakeProvider
) -> None:
    provider = make()
    first = await provider.get()
    second = await provider.refresh(reason="http_401", stale_generation=first.generation)
    assert second.generation == 2
    assert fake.count == 2
    # another target saw the same 401 on generation 1: no new request
    again = await provider.refresh(reason="http_401", stale_generation=first.generation)
    assert again is second
    assert fake.count == 2


async def test_concurrent_refreshes_share_one_request(
    fake: FakeGenesys, make: MakeProvider
) -> None:
    provider = make()
    first = await provider.get()
    fake.script(Reply(200, token_reply().body, delay_s=0.05))
    results = await asyncio.gather(
        *(provider.refresh(reason="http_401", stale_generation=first.generation)
          for _ in range(5))
    )
    assert {t.generation for t in results} == {2}
    assert fake.count == 2


async def test_a_refused_token_is_not_handed_out_after_a_failed_refresh(
    fake: FakeGenesys, make: MakeProvider
) -> None:
    provider = make(max_attempts=2)
    first = await provider.get()
    fake.script(Reply(503), Reply(503))
    with pytest.raises(AuthError):
        await provider.refresh(reason="http_401", stale_generation=first.generation)
    token = await provider.get()  # must not be the refused generation 1
    assert token.generation == 2
    assert fake.count == 4


async def test_failed_refresh_keeps_a_still_valid_token(
    fake: FakeGenesys, make: MakeProvider, clock: FakeClock, sleep: FakeSleep
) -> None:
    fake.script(token_reply(expires_in=100), Reply(503), token_reply(expires_in=100))
    provider = make(rng=HalfRng(), backoff_base_s=2.0)
    first = await provider.get()
    clock.advance(85)  # past the refresh point, 15 s of life left
    assert await provider.get() is first
    assert fake.count == 2  # one attempt, no retry loop while the old token works
    assert sleep.delays == []
    assert await provider.get() is first  # pausing before the next try
    assert fake.count == 2
    clock.advance(1.0)  # the pause was the jitter midpoint, 1 s
    assert (await provider.get()).generation == 2
    assert fake.count == 3


# ------------------------------------------------------------------ hooks, cache


async def test_on_request_records_each_attempt(fake: FakeGenesys, make: MakeProvider) -> None:
    fake.script(Reply(429, headers=(("Retry-After", "1"),)), token_reply())
    records: list[OAuthRequestRecord] = []
    await make(on_request=records.append).get()
    assert [(r.outcome, r.status, r.attempt, r.reason) for r in records] == [
        ("rate_limited", 429, 1, "initial"),
        ("ok", 200, 2, "initial"),
    ]
    assert all(r.end_wall_ns >= r.start_wall_ns for r in records)
    assert records[0].server_address == "127.0.0.1"
    assert records[0].client_id == CLIENT_ID


async def test_a_failing_hook_does_not_break_auth(fake: FakeGenesys, make: MakeProvider) -> None:
    def hook(record: OAuthRequestRecord) -> None:
        raise RuntimeError("telemetry bug")

    assert (await make(on_request=hook).get()).generation == 1


async def test_token_cache_shares_providers_per_client(
    fake: FakeGenesys, session: aiohttp.ClientSession
) -> None:
    cache = TokenCache(session, refresh_ratio=0.01)
    url = fake.url("/oauth/token")
    a = cache.provider(url, CLIENT_ID, Secret(SECRET_VALUE))
    b = cache.provider(url, CLIENT_ID, Secret(SECRET_VALUE))
    c = cache.provider(url, "other-client", Secret(SECRET_VALUE))
    d = cache.provider(url, CLIENT_ID, Secret("another-secret"))
    assert a is b
    assert len({id(a), id(c), id(d)}) == 3
    assert cache.providers() == (a, c, d)
    await asyncio.gather(a.get(), b.get())
    assert fake.count == 1
    token = a.current()
    assert token is not None
    assert token.refresh_at_ns - token.issued_at_ns == 864 * NS
    await cache.aclose()


def test_provider_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        TokenProvider(None, "u", "c", Secret("s"), refresh_ratio=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        TokenProvider(None, "u", "c", "plain")  # type: ignore[arg-type]


# ------------------------------------------------------------------ secrets


async def test_secrets_never_leak_into_errors_or_logs(
    fake: FakeGenesys, make: MakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"error": "invalid_client",
            "error_description": f"bad secret {SECRET_VALUE} for token {TOKEN_VALUE}"}
    fake.script(token_reply(), Reply(400, {"error": "x", "description": SECRET_VALUE}),
                Reply(401, echo))
    provider = make()
    token = await provider.get()
    texts = [repr(token), str(token), repr(provider), repr(provider.stats)]
    with pytest.raises(AuthError) as other:
        await provider.refresh(reason="test")
    with pytest.raises(InvalidClientError) as invalid:
        await provider.refresh(reason="test")
    for exc in (other.value, invalid.value):
        texts += [str(exc), repr(exc), repr(envelope_of(exc))]
    texts.append(caplog.text)
    for text in texts:
        assert SECRET_VALUE not in text
        assert TOKEN_VALUE not in text
    assert "***" in str(invalid.value)


async def test_token_repr_hides_the_value() -> None:
    token = Token(Secret(TOKEN_VALUE), 60.0, 0, 48 * NS, 60 * NS, 1)
    assert TOKEN_VALUE not in repr(token)
    assert token.remaining_s(30 * NS) == 30.0
    assert token.remaining_s(90 * NS) == 0.0
