"""The Notification API's REST side: channels and their subscriptions."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from aiohttp import web

from otel_genesys.emulator.appkey import emulator_of
from otel_genesys.emulator.envelopes import error_response, json_response, rate_limited_response
from otel_genesys.emulator.state import TokenState

if TYPE_CHECKING:
    from otel_genesys.emulator.config import ClientConfig
    from otel_genesys.emulator.server import Emulator
    from otel_genesys.emulator.state import Channel

_MAX_TOPIC_LENGTH = 512


def authenticate(request: web.Request) -> ClientConfig | web.Response:
    """The client behind the request's bearer token, or the 401/429 response to send."""
    emu = emulator_of(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error_response(401, "authentication.required", "No authentication bearer token "
                              "specified in authorization header.")
    state, record = emu.tokens.check(token.strip())
    if state is TokenState.UNKNOWN or record is None:
        return error_response(401, "bad.credentials", "Invalid login credentials.")
    if state is TokenState.EXPIRED:
        return error_response(401, "credentials.expired", "The supplied credentials are expired "
                              "and cannot be used.")
    client = emu.config.client(record.client_id)
    if client is None:  # pragma: no cover - tokens are only issued to configured clients
        return error_response(401, "bad.credentials", "Invalid login credentials.")
    if client.api_rate is not None:
        decision = emu.rate.check(f"api:{client.client_id}", client.api_rate)
        if not decision.allowed:
            return rate_limited_response(
                max(1, math.ceil(decision.reset_s)), extra_headers=decision.headers()
            )
    return client


def channel_json(emu: Emulator, request: web.Request, channel: Channel) -> dict[str, Any]:
    """``{connectUri, id, expires}``; ``connectUri`` points back at this emulator."""
    scheme = "wss" if request.secure else "ws"
    remaining = max(0.0, channel.expires_at - emu.clock())
    expires = datetime.fromtimestamp(time.time() + remaining, tz=UTC)
    return {
        "connectUri": f"{scheme}://{request.host}/channels/{channel.id}",
        "id": channel.id,
        "expires": expires.strftime("%Y-%m-%dT%H:%M:%S.") + f"{expires.microsecond // 1000:03d}Z",
    }


async def create_channel(request: web.Request) -> web.Response:
    """``POST /api/v2/notifications/channels``."""
    emu = emulator_of(request)
    client = authenticate(request)
    if isinstance(client, web.Response):
        return client
    channel = emu.create_channel(client.client_id)
    return json_response(channel_json(emu, request, channel))


async def list_channels(request: web.Request) -> web.Response:
    """``GET /api/v2/notifications/channels``: the caller's live channels."""
    emu = emulator_of(request)
    client = authenticate(request)
    if isinstance(client, web.Response):
        return client
    channels = emu.channel_store.of_client(client.client_id)
    return json_response({"entities": [channel_json(emu, request, c) for c in channels]})


def _owned_channel(request: web.Request, client: ClientConfig) -> Channel | None:
    emu = emulator_of(request)
    channel = emu.channel_store.get(request.match_info["channel_id"])
    if channel is None or channel.client_id != client.client_id:
        return None
    return channel


def _channel_not_found() -> web.Response:
    return error_response(404, "not.found", "The requested channel could not be found.")


async def get_channel(request: web.Request) -> web.Response:
    """``GET``/``HEAD /api/v2/notifications/channels/{id}``: 200 while live, else 404."""
    emu = emulator_of(request)
    client = authenticate(request)
    if isinstance(client, web.Response):
        return client
    channel = _owned_channel(request, client)
    if channel is None:
        return _channel_not_found()
    return json_response(channel_json(emu, request, channel))


def _topic_state(client: ClientConfig, topic: str) -> dict[str, Any]:
    if (not topic.startswith("v2.") or len(topic) > _MAX_TOPIC_LENGTH
            or any(ch.isspace() for ch in topic)):
        return {"id": topic, "state": "Rejected", "rejectionReason": "Invalid topic name",
                "missingPermissions": []}
    if any(fnmatchcase(topic, pattern) for pattern in client.topics):
        return {"id": topic, "state": "Permitted"}
    return {"id": topic, "state": "Rejected",
            "rejectionReason": "The client is missing the permissions this topic requires",
            "missingPermissions": [f"notifications:{topic.split('.')[1]}:view"]}


def evaluate_topics(client: ClientConfig, topics: list[str]) -> list[dict[str, Any]]:
    """Per-topic Permitted/Rejected entities for ``client``."""
    return [_topic_state(client, t) for t in topics]


def _missing_notifications() -> web.Response:
    return error_response(
        403, "missing.permissions",
        "Unable to perform the requested action. You are missing the following permission(s): "
        "notifications",
    )


async def _topics_from_body(request: web.Request) -> list[str] | web.Response:
    try:
        body = json.loads(await request.read() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return error_response(400, "bad.request", "The request body is not valid JSON.")
    if not isinstance(body, list) or not all(
        isinstance(item, dict) and isinstance(item.get("id"), str) for item in body
    ):
        return error_response(400, "bad.request",
                              'The body must be a list of {"id": "<topic>"} objects.')
    return [item["id"] for item in body]


async def subscriptions(request: web.Request) -> web.Response:
    """``GET/PUT/POST/DELETE /api/v2/notifications/channels/{id}/subscriptions``."""
    emu = emulator_of(request)
    client = authenticate(request)
    if isinstance(client, web.Response):
        return client
    channel = _owned_channel(request, client)
    if channel is None:
        return _channel_not_found()
    if request.method == "GET":
        entities = [{"id": t, "state": "Permitted"} for t in channel.topics]
        return json_response({"entities": entities})
    if not client.notifications:
        return _missing_notifications()
    emu.counters.subscription_requests += 1
    if request.method == "DELETE":
        channel.topics.clear()
        emu.channel_store.touch(channel)
        return web.Response(status=204)
    topics = await _topics_from_body(request)
    if isinstance(topics, web.Response):
        return topics
    entities = evaluate_topics(client, topics)
    permitted = [e["id"] for e in entities if e["state"] == "Permitted"]
    result = dict.fromkeys(permitted) if request.method == "PUT" else (
        channel.topics | dict.fromkeys(permitted))
    if len(result) > emu.config.max_topics_per_channel:
        return error_response(
            400, "bad.request",
            f"A channel may subscribe to at most {emu.config.max_topics_per_channel} topics.",
        )
    channel.topics = result
    emu.extend_channel(channel)
    return json_response({"entities": entities})
