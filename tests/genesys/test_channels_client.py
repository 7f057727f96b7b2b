"""The notification-channels REST client against a scripted API server on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from genesys_fakes import TOKEN_VALUE, FakeClock, FakeGenesys, Reply
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_genesys.errors import AuthError, ChannelError, PermissionDeniedError, RateLimitedError
from otel_genesys.genesys.channels import (
    MAX_TOPICS_PER_CHANNEL,
    Channel,
    ChannelsClient,
    SubscriptionResult,
    parse_channel,
    parse_subscriptions,
)
from otel_genesys.genesys.http import envelope_of
from otel_genesys.genesys.oauth import Token, TokenProvider
from otel_genesys.secret import Secret

PATH = "/api/v2/notifications/channels"
TOKEN = Token(Secret(TOKEN_VALUE), 86400.0, 0, 1, 2, 1)
CREATED = {
    "connectUri": "wss://streaming.mypurecloud.ie/channels/streaming-7-abc",
    "id": "streaming-7-abc",
    "expires": "2026-05-01T12:00:00.000Z",
}


@pytest.fixture
def client(fake: FakeGenesys, session: aiohttp.ClientSession, clock: FakeClock) -> ChannelsClient:
    return ChannelsClient(session, fake.url(PATH), clock=clock)


async def test_create_posts_without_body_and_parses_the_channel(
    fake: FakeGenesys, client: ChannelsClient, clock: FakeClock
) -> None:
    fake.script(Reply(200, CREATED))
    channel = await client.create(TOKEN)
    assert channel == Channel(
        id="streaming-7-abc",
        connect_uri=CREATED["connectUri"],
        expires_at_wall=datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
        created_at_ns=clock.now,
    )
    req = fake.seen[0]
    assert (req.method, req.path, req.body) == ("POST", PATH, b"")
    assert req.headers["Authorization"] == f"Bearer {TOKEN_VALUE}"


@pytest.mark.parametrize(
    ("expires", "expected"),
    [
        ("2026-05-01T12:00:00Z", datetime(2026, 5, 1, 12, tzinfo=UTC)),
        ("2026-05-01T14:00:00+02:00", datetime(2026, 5, 1, 12, tzinfo=UTC)),
        ("2026-05-01T12:00:00", datetime(2026, 5, 1, 12, tzinfo=UTC)),
        (None, None),
    ],
)
def test_expires_forms(expires: str | None, expected: datetime | None) -> None:
    body = {**CREATED, "expires": expires}
    channel = parse_channel(json.dumps(body).encode(), created_at_ns=0)
    assert channel.expires_at_wall == expected
    if expected is not None:
        assert channel.expires_at_wall is not None
        assert channel.expires_at_wall.tzinfo is not None


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("credentials.expired", "Credentials expired"),
        ("bad.credentials", "Invalid login credentials."),
        ("authentication.required", "No authentication bearer token specified"),
    ],
)
async def test_401_is_a_channel_error_the_caller_refreshes_for(
    fake: FakeGenesys, client: ChannelsClient, code: str, message: str
) -> None:
    fake.script(Reply(401, {"message": message, "code": code, "status": 401,
                            "contextId": "ctx-401"}))
    with pytest.raises(ChannelError) as info:
        await client.create(TOKEN)
    exc = info.value
    assert not isinstance(exc, PermissionDeniedError)
    assert (exc.status, exc.code) == (401, code)
    assert message in str(exc) and "ctx-401" in str(exc)

    from otel_genesys.agent.failures import classify

    assert classify(exc).refresh_token


async def test_403_is_permission_denied_with_the_missing_permissions(
    fake: FakeGenesys, client: ChannelsClient
) -> None:
    fake.script(Reply(
        403,
        {"message": "You are missing the following permission(s): notifications",
         "code": "missing.permissions", "status": 403,
         "messageWithParams": "You are missing the following permission(s): {permissions}",
         "messageParams": {"permissions": "notifications"},
         "contextId": "ctx-403", "details": [], "errors": []},
        headers=(("ININ-Correlation-Id", "corr-9"),),
    ))
    with pytest.raises(PermissionDeniedError) as info:
        await client.create(TOKEN)
    exc = info.value
    assert (exc.status, exc.code) == (403, "missing.permissions")
    assert "notifications" in str(exc)
    assert "ctx-403" in str(exc) and "corr-9" in str(exc)
    env = envelope_of(exc)
    assert env is not None
    assert env.context_id == "ctx-403" and env.correlation_id == "corr-9"
    assert env.message_params == (("permissions", "notifications"),)
    assert not exc.retryable


async def test_429_is_rate_limited_with_retry_after(
    fake: FakeGenesys, client: ChannelsClient
) -> None:
    fake.script(Reply(
        429,
        {"message": "Rate limit exceeded the maximum. Retry the request in [42] seconds",
         "code": "too.many.requests.retry.after", "status": 429},
        headers=(("Retry-After", "42"),),
    ))
    with pytest.raises(RateLimitedError) as info:
        await client.create(TOKEN)
    assert info.value.retry_after_s == 42.0
    assert info.value.status == 429


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_a_retryable_channel_error(
    fake: FakeGenesys, client: ChannelsClient, status: int
) -> None:
    fake.script(Reply(status, "<html>gateway</html>"))
    with pytest.raises(ChannelError) as info:
        await client.create(TOKEN)
    assert info.value.status == status
    assert info.value.retryable
    assert type(info.value) is ChannelError


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("not json", "not JSON"),
        ([CREATED], "expected a JSON object"),
        ({**CREATED, "id": None}, "id"),
        ({**CREATED, "id": ""}, "id"),
        ({**CREATED, "connectUri": None}, "connectUri"),
        ({**CREATED, "connectUri": "https://streaming.mypurecloud.ie/channels/x"}, "ws://"),
        ({**CREATED, "connectUri": "wss:///no-host"}, "connectUri"),
        ({**CREATED, "connectUri": "wss://h:99999/x"}, "connectUri"),
        ({**CREATED, "expires": "tomorrow"}, "expires"),
        ({**CREATED, "expires": 1714564800}, "expires"),
    ],
)
async def test_malformed_create_bodies(
    fake: FakeGenesys, client: ChannelsClient, body: Any, needle: str
) -> None:
    fake.script(Reply(200, body))
    with pytest.raises(ChannelError) as info:
        await client.create(TOKEN)
    assert info.value.code == "malformed.response"
    assert needle in str(info.value)


async def test_redirect_is_not_followed_with_the_token(
    fake: FakeGenesys, client: ChannelsClient
) -> None:
    fake.script(Reply(307, headers=(("Location", fake.url("/elsewhere")),)))
    with pytest.raises(ChannelError) as info:
        await client.create(TOKEN)
    assert info.value.status == 307
    assert fake.count == 1


# ------------------------------------------------------------------ subscriptions

ENTITIES = {"entities": [
    {"id": "v2.users.u1.presence", "state": "Permitted"},
    {"id": "v2.routing.queues.q1.conversations", "state": "Rejected",
     "rejectionReason": "The client is missing the permissions this topic requires",
     "missingPermissions": ["routing:queue:view"]},
]}


async def test_subscribe_puts_topics_and_returns_per_topic_results(
    fake: FakeGenesys, client: ChannelsClient
) -> None:
    fake.script(Reply(200, ENTITIES))
    topics = ["v2.users.u1.presence", "v2.routing.queues.q1.conversations"]
    results = await client.subscribe(TOKEN, "chan/1", topics)
    req = fake.seen[0]
    assert req.method == "PUT"
    assert req.path == f"{PATH}/chan%2F1/subscriptions"
    assert req.headers["Content-Type"] == "application/json"
    assert json.loads(req.body) == [{"id": t} for t in topics]
    assert results == [
        SubscriptionResult("v2.users.u1.presence", "Permitted", None, ()),
        SubscriptionResult(
            "v2.routing.queues.q1.conversations", "Rejected",
            "The client is missing the permissions this topic requires",
            ("routing:queue:view",),
        ),
    ]


async def test_subscribe_without_replace_posts(fake: FakeGenesys, client: ChannelsClient) -> None:
    fake.script(Reply(200, {"entities": [{"id": "v2.users.u1.presence"}]}))
    results = await client.subscribe(TOKEN, "c1", ["v2.users.u1.presence"], replace=False)
    assert fake.seen[0].method == "POST"
    assert results[0].state == "Permitted"


async def test_too_many_topics_are_refused_before_sending(
    fake: FakeGenesys, client: ChannelsClient
) -> None:
    topics = [f"v2.users.u{i}.presence" for i in range(MAX_TOPICS_PER_CHANNEL + 1)]
    with pytest.raises(ChannelError, match="at most 1000"):
        await client.subscribe(TOKEN, "c1", topics)
    assert fake.count == 0


async def test_subscribe_maps_errors_too(fake: FakeGenesys, client: ChannelsClient) -> None:
    fake.script(Reply(403, {"message": "no", "code": "missing.any.permissions"}))
    with pytest.raises(PermissionDeniedError):
        await client.subscribe(TOKEN, "c1", ["v2.users.u1.presence"])
    fake.script(Reply(200, {"entities": [{"id": 5}]}))
    with pytest.raises(ChannelError, match="entities"):
        await client.subscribe(TOKEN, "c1", ["v2.users.u1.presence"])


async def test_list_and_clear_subscriptions(fake: FakeGenesys, client: ChannelsClient) -> None:
    fake.script(Reply(200, ENTITIES), Reply(204))
    listed = await client.list_subscriptions(TOKEN, "c1")
    assert [r.topic for r in listed] == ["v2.users.u1.presence",
                                         "v2.routing.queues.q1.conversations"]
    await client.clear_subscriptions(TOKEN, "c1")
    assert [(s.method, s.path) for s in fake.seen] == [
        ("GET", f"{PATH}/c1/subscriptions"), ("DELETE", f"{PATH}/c1/subscriptions")
    ]


async def test_exists_uses_head(fake: FakeGenesys, client: ChannelsClient) -> None:
    fake.script(Reply(200), Reply(404, {"message": "not found", "code": "not.found"}),
                Reply(401, {"code": "credentials.expired"}))
    assert await client.exists(TOKEN, "c1") is True
    assert await client.exists(TOKEN, "c1") is False
    with pytest.raises(ChannelError) as info:
        await client.exists(TOKEN, "c1")
    assert info.value.status == 401
    assert {s.method for s in fake.seen} == {"HEAD"}


async def test_token_never_in_errors_or_logs(
    fake: FakeGenesys, client: ChannelsClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"message": f"token {TOKEN_VALUE} is bad", "code": "bad.credentials",
            "messageParams": {"token": TOKEN_VALUE}, "contextId": "ctx"}
    texts = [repr(TOKEN), repr(client)]
    for status in (401, 403, 429, 500):
        fake.script(Reply(status, echo))
        with pytest.raises(ChannelError if status != 429 else RateLimitedError) as info:
            await client.create(TOKEN)
        texts += [str(info.value), repr(info.value), repr(envelope_of(info.value))]
    texts.append(caplog.text)
    for text in texts:
        assert TOKEN_VALUE not in text


# ------------------------------------------------------------------ arbitrary bodies

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=12,
)
CHANNELISH = st.fixed_dictionaries(
    {},
    optional={
        "id": JSON | st.text(max_size=12),
        "connectUri": JSON | st.sampled_from(["wss://h/c", "ws://h:1/c", "http://h", "wss://"]),
        "expires": JSON | st.sampled_from(["2026-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59"]),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, CHANNELISH))
def test_any_json_create_body_gives_a_channel_or_a_channel_error(body: Any) -> None:
    raw = json.dumps(body).encode()
    try:
        channel = parse_channel(raw, created_at_ns=5)
    except ChannelError as exc:
        assert exc.code == "malformed.response"
        return
    assert channel.connect_uri.split(":", 1)[0].lower() in ("ws", "wss")
    assert channel.id and channel.created_at_ns == 5
    assert channel.expires_at_wall is None or channel.expires_at_wall.tzinfo is not None


SUBSISH = st.fixed_dictionaries(
    {"entities": st.lists(
        st.fixed_dictionaries({}, optional={"id": JSON | st.text(max_size=8), "state": JSON,
                                            "rejectionReason": JSON, "missingPermissions": JSON}),
        max_size=3,
    ) | JSON}
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, SUBSISH))
def test_any_json_subscription_body_gives_results_or_a_channel_error(body: Any) -> None:
    try:
        results = parse_subscriptions(json.dumps(body).encode())
    except ChannelError:
        return
    for r in results:
        assert isinstance(r.topic, str) and isinstance(r.state, str)
        assert all(isinstance(p, str) for p in r.missing_permissions)


TOKEN_BODIES = st.one_of(
    JSON,
    st.fixed_dictionaries({"access_token": st.sampled_from(["t", "", " "]) | JSON,
                           "expires_in": st.sampled_from([1, 300.5, 0, -1]) | JSON}),
)


@settings(max_examples=25, deadline=None)
@given(token_body=TOKEN_BODIES, channel_body=st.one_of(JSON, CHANNELISH))
def test_over_the_wire_any_bodies_give_values_or_documented_errors(
    token_body: Any, channel_body: Any
) -> None:
    async def scenario() -> None:
        server = FakeGenesys()
        server.script(Reply(200, json.dumps(token_body)), Reply(200, json.dumps(channel_body)))
        await server.start()
        try:
            async with aiohttp.ClientSession() as session:
                provider = TokenProvider(session, server.url("/oauth/token"), "c", Secret("s"))
                try:
                    token = await provider.get()
                except AuthError:
                    return
                assert isinstance(token, Token)
                client = ChannelsClient(session, server.url(PATH))
                try:
                    channel = await client.create(token)
                except ChannelError:
                    return
                assert isinstance(channel, Channel)
        finally:
            await server.close()

    asyncio.run(scenario())
