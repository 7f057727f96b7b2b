"""Hostile notification-channel traffic over a real socket: never a crash, never a double count.

Hypothesis writes the server's script: invalid JSON, JSON of every shape,
unknown and system topics, binary frames, control frames with any payload,
frames beyond ``max_message_bytes``, pongs for nothing, floods of pongs and
heartbeats (on the first connection only). The agent (both probe modes) runs
against it until the script is played and it probes OK again in both modes;
then every invariant of `fuzz_agent.Run.problems` must hold.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.fuzz_agent import MAX_MESSAGE_BYTES, run_against
from tests.fuzz.fuzz_server import HEARTBEAT, PONG, Frame, HostileServer

JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
TOPICS = st.sampled_from(
    [
        "channel.metadata",
        "v2.system.socket_closing",
        "v2.system.token_revoked.x",
        "v2.system.no_longer_subscribed.y",
        "v2.users.00000000.presence",
        "",
        "no.such.topic",
    ]
) | st.text(max_size=30)
MESSAGES = st.builds(
    lambda topic, body, extra: {"topicName": topic, "eventBody": body, **extra},
    TOPICS | st.integers() | st.none(),
    JSON,
    st.dictionaries(st.sampled_from(["correlationId", "result", "status", "message"]), JSON),
)


def _json_frame(value: Any) -> Frame:
    return Frame("text", json.dumps(value))


ONE_FRAME: st.SearchStrategy[Frame] = st.one_of(
    st.text(max_size=200).map(lambda t: Frame("text", t)),
    MESSAGES.map(_json_frame),
    JSON.map(_json_frame),
    st.binary(max_size=200).map(lambda b: Frame("binary", data=b)),
    st.binary(max_size=125).map(lambda b: Frame("ping", data=b)),
    st.binary(max_size=125).map(lambda b: Frame("pong", data=b)),
    st.just(PONG),
    st.just(HEARTBEAT),
    st.integers(MAX_MESSAGE_BYTES + 1, 4 * MAX_MESSAGE_BYTES).map(
        lambda n: Frame("text", json.dumps({"topicName": "v2.big", "pad": "x" * n}))
    ),
    st.integers(MAX_MESSAGE_BYTES + 1, 4 * MAX_MESSAGE_BYTES).map(
        lambda n: Frame("binary", data=b"\0" * n)
    ),
    st.floats(0.005, 0.02).map(lambda s: Frame("pause", pause_s=s)),
)
FLOOD: st.SearchStrategy[list[Frame]] = st.integers(1, 60).map(lambda n: [PONG, HEARTBEAT] * n)
FRAMES: st.SearchStrategy[list[Frame]] = st.lists(
    ONE_FRAME.map(lambda f: [f]) | FLOOD, max_size=12
).map(lambda chunks: [f for chunk in chunks for f in chunk])


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(FRAMES)
def test_fuzz_hostile_frames_never_crash_or_double_count(frames: list[Frame]) -> None:
    run = run_against(HostileServer(frames=frames))
    assert run.problems() == []
    # The agent really ran: it connected and probed OK in both modes.
    assert run.server.connections >= 1
    assert all(c.ok > 0 for c in run.counters.values())


def test_fuzz_oversized_frame_closes_1009_and_reconnects() -> None:
    """The deterministic case behind the fuzzing: a frame over the limit."""
    big = Frame("text", json.dumps({"topicName": "v2.big", "pad": "x" * (2 * MAX_MESSAGE_BYTES)}))
    run = run_against(HostileServer(frames=[big]))
    assert run.problems() == []
    assert 1009 in run.server.client_close_codes
    assert run.status["failures"].get("close_1009", 0) >= 1
    assert run.server.connections >= 2  # it came back


def test_fuzz_pong_flood_settles_each_ping_once() -> None:
    """Hundreds of pongs for nothing: counted as unsolicited, never as extra OK probes."""
    run = run_against(HostileServer(frames=[PONG] * 300 + [HEARTBEAT] * 300))
    assert run.problems() == []
    fifo = next(c for m, c in run.counters.items() if m.value == "notification")
    assert fifo.unsolicited >= 250
