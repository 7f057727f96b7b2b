"""The notification socket's text protocol: classification by topicName."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from otel_genesys.genesys.protocol import (
    HEARTBEAT_TEXT,
    PING_TEXT,
    PONG_TEXT,
    InboundKind,
    classify,
    subscribe_message,
)


def test_ping_is_the_genesys_json_ping() -> None:
    assert json.loads(PING_TEXT) == {"message": "ping"}


def test_fast_paths_and_their_json_equivalents_agree() -> None:
    assert classify(PONG_TEXT).kind is InboundKind.PONG
    assert classify(HEARTBEAT_TEXT).kind is InboundKind.HEARTBEAT
    spaced_pong = json.dumps(json.loads(PONG_TEXT), indent=2)
    spaced_hb = json.dumps(json.loads(HEARTBEAT_TEXT), indent=1)
    assert classify(spaced_pong).kind is InboundKind.PONG
    assert classify(spaced_hb).kind is InboundKind.HEARTBEAT


def test_system_topics_are_matched_on_topic_not_text() -> None:
    closing = {"topicName": "v2.system.socket_closing", "eventBody": {"message": "pong"}}
    assert classify(json.dumps(closing)).kind is InboundKind.SOCKET_CLOSING
    nls = {"topicName": "v2.system.no_longer_subscribed.abc", "eventBody": {}}
    assert classify(json.dumps(nls)).kind is InboundKind.NO_LONGER_SUBSCRIBED
    revoked = {"topicName": "v2.system.token_revoked.abc", "eventBody": {}}
    assert classify(json.dumps(revoked)).kind is InboundKind.TOKEN_REVOKED
    event = {"topicName": "v2.users.x.presence", "eventBody": {"message": "pong"}}
    assert classify(json.dumps(event)).kind is InboundKind.EVENT
    other_meta = {"topicName": "channel.metadata", "eventBody": {"message": "hello"}}
    assert classify(json.dumps(other_meta)).kind is InboundKind.METADATA


def test_subscribe_ack_and_invalid_shapes() -> None:
    ack = {"correlationId": "c1", "topics": ["a"], "result": "200", "status": "subscribed"}
    assert classify(json.dumps(ack)).kind is InboundKind.SUBSCRIBE_ACK
    for bad in ("", "{", "[]", "42", '"pong"', '{"topicName": 5}', '{"eventBody": {}}'):
        assert classify(bad).kind is InboundKind.INVALID, bad


def test_subscribe_message_shape() -> None:
    assert json.loads(subscribe_message(["v2.a"], "c")) == {
        "message": "subscribe",
        "topics": ["v2.a"],
        "correlationId": "c",
    }


@given(st.text(max_size=200))
def test_classify_never_raises_on_any_text(text: str) -> None:
    assert isinstance(classify(text).kind, InboundKind)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=3),
        max_leaves=10,
    )
)
def test_classify_never_raises_on_any_json(value: object) -> None:
    assert isinstance(classify(json.dumps(value)).kind, InboundKind)
