"""The notification WebSocket's text protocol: what we send, how we read replies.

Pure parsing, no I/O. Incoming messages are classified by ``topicName`` (never
by free text, see GENESYS.md), with a fast path for the two messages that
arrive all the time — the pong and the heartbeat — so the probe path does not
pay for ``json.loads`` on every reply.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

PING_TEXT = '{"message":"ping"}'
"""The Genesys application-level ping. It carries no id: pongs are matched FIFO."""

PONG_TEXT = '{"topicName":"channel.metadata","eventBody":{"message":"pong"}}'
HEARTBEAT_TEXT = '{"topicName":"channel.metadata","eventBody":{"message":"WebSocket Heartbeat"}}'

METADATA_TOPIC = "channel.metadata"
SOCKET_CLOSING_TOPIC = "v2.system.socket_closing"
NO_LONGER_SUBSCRIBED_PREFIX = "v2.system.no_longer_subscribed"
TOKEN_REVOKED_PREFIX = "v2.system.token_revoked"


class InboundKind(enum.Enum):
    PONG = "pong"
    HEARTBEAT = "heartbeat"
    SOCKET_CLOSING = "socket_closing"
    NO_LONGER_SUBSCRIBED = "no_longer_subscribed"
    TOKEN_REVOKED = "token_revoked"
    SUBSCRIBE_ACK = "subscribe_ack"
    METADATA = "metadata"
    """Another ``channel.metadata`` message we do not act on."""
    EVENT = "event"
    """A notification on a subscribed topic."""
    INVALID = "invalid"
    """Not JSON, or JSON of a shape no Genesys message has."""


@dataclass(frozen=True, slots=True)
class Inbound:
    kind: InboundKind
    topic: str | None = None
    detail: str | None = None
    """For INVALID: why; for SUBSCRIBE_ACK: the result code."""


_PONG = Inbound(InboundKind.PONG, METADATA_TOPIC)
_HEARTBEAT = Inbound(InboundKind.HEARTBEAT, METADATA_TOPIC)


def classify(text: str) -> Inbound:
    """Classify one text frame from a notification channel.

    >>> classify(PONG_TEXT).kind
    <InboundKind.PONG: 'pong'>
    >>> classify('{"topicName":"v2.system.socket_closing","eventBody":{}}').kind
    <InboundKind.SOCKET_CLOSING: 'socket_closing'>
    >>> classify("nonsense").kind
    <InboundKind.INVALID: 'invalid'>
    """
    if text == PONG_TEXT:
        return _PONG
    if text == HEARTBEAT_TEXT:
        return _HEARTBEAT
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError):
        return Inbound(InboundKind.INVALID, detail="not JSON")
    if not isinstance(data, dict):
        return Inbound(InboundKind.INVALID, detail="not a JSON object")
    topic = data.get("topicName")
    if topic is None:
        if "correlationId" in data and ("result" in data or "status" in data):
            return Inbound(InboundKind.SUBSCRIBE_ACK, detail=str(data.get("result")))
        return Inbound(InboundKind.INVALID, detail="no topicName")
    if not isinstance(topic, str):
        return Inbound(InboundKind.INVALID, detail="topicName is not a string")
    if topic == METADATA_TOPIC:
        body = data.get("eventBody")
        message = body.get("message") if isinstance(body, dict) else None
        if message == "pong":
            return _PONG
        if message == "WebSocket Heartbeat":
            return _HEARTBEAT
        return Inbound(InboundKind.METADATA, topic)
    if topic == SOCKET_CLOSING_TOPIC:
        return Inbound(InboundKind.SOCKET_CLOSING, topic)
    if topic.startswith(NO_LONGER_SUBSCRIBED_PREFIX):
        return Inbound(InboundKind.NO_LONGER_SUBSCRIBED, topic)
    if topic.startswith(TOKEN_REVOKED_PREFIX):
        return Inbound(InboundKind.TOKEN_REVOKED, topic)
    return Inbound(InboundKind.EVENT, topic)


def subscribe_message(topics: list[str], correlation_id: str) -> str:
    """The socket-level subscribe request (medium confidence, see GENESYS.md)."""
    return json.dumps({"message": "subscribe", "topics": topics, "correlationId": correlation_id})
