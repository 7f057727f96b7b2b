"""The WebSocket endpoints: notification channels (``/channels/{id}``) and the
tutorial's ``/v2/analytics/events/realtime``.

Handshake refusals (emulator's pick for GENESYS.md's medium-confidence note
that dead channels are refused with 401/403 at the upgrade):

- channel id never issued (or forgotten): 403 ``not.authorized``;
- channel expired or evicted: 401 ``credentials.expired``;
- ``handshake_status`` fault: that status with a matching envelope.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from otel_genesys.emulator.appkey import emulator_of
from otel_genesys.emulator.counters import SocketCounters
from otel_genesys.emulator.envelopes import error_response
from otel_genesys.emulator.rest import evaluate_topics
from otel_genesys.emulator.sockets import SocketConn
from otel_genesys.emulator.state import TokenState

WS_KEY: web.RequestKey[web.WebSocketResponse] = web.RequestKey("otel_genesys.emulator.ws")

if TYPE_CHECKING:
    from otel_genesys.emulator.server import Emulator
    from otel_genesys.emulator.state import Channel

CLOSE_PROTOCOL_ERROR = 1002
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009

_PING_TEXT = '{"message":"ping"}'
_CONNECTION_ID = re.compile(r"^[a-zA-Z0-9\-_]{8,36}$")
_NOTIFICATION_MAX_MSG = 1024 * 1024
_CLOSE_TIMEOUT_S = 5.0

_REFUSALS = {
    401: ("bad.credentials", "The WebSocket upgrade was refused: credentials are invalid."),
    403: ("not.authorized", "The WebSocket upgrade was refused: not authorized."),
    429: ("too.many.requests.retry.after",
          "Rate limit exceeded the maximum. Retry the request in [1] seconds"),
    503: ("service.unavailable", "The streaming service is unavailable."),
}


def refuse(emu: Emulator, status: int, code: str | None = None,
           message: str | None = None) -> web.Response:
    """An HTTP error instead of the 101 upgrade, counted by status."""
    emu.counters.handshake_refused(status)
    default_code, default_message = _REFUSALS.get(status, ("error", "Refused."))
    headers = {"Retry-After": "1"} if status == 429 else None
    return error_response(status, code or default_code, message or default_message,
                          headers=headers)


def _not_websocket() -> web.Response:
    return error_response(400, "bad.request", "This endpoint only accepts WebSocket upgrades.")


async def _apply_handshake_faults(emu: Emulator, key: str | None) -> web.Response | None:
    spec = emu.faults.effective(key)[0]
    if spec.handshake_delay_s > 0:
        await asyncio.sleep(spec.handshake_delay_s)
    if spec.handshake_status is not None:
        return refuse(emu, spec.handshake_status)
    return None


def _echo_code(code: object) -> int:
    # 1005 ("no status") may be received but never sent; answer it with 1000.
    if isinstance(code, int) and (1000 <= code <= 1003 or 1007 <= code <= 1014
                                  or 3000 <= code <= 4999):
        return code
    return 1000


async def _wait_transport_closed(conn: SocketConn) -> None:
    # Blackholed: the client's close frame gets no answer; wait until the
    # client gives up and drops TCP. Polling is slow on purpose and only runs
    # in this rare state, so it costs nothing in steady state.
    while conn.alive and not conn.transport.is_closing():
        await asyncio.sleep(0.1)


TextHandler = Callable[[SocketConn, str, float], None]


async def pump(conn: SocketConn, on_text: TextHandler) -> None:
    """Read frames until the socket ends, dispatching pings, texts and closes."""
    ws = conn.ws
    loop = conn.loop
    while True:
        msg = await ws.receive()
        # Timestamp first: delayed pongs are scheduled from this instant.
        received_at = loop.time()
        kind = msg.type
        if kind is WSMsgType.TEXT:
            on_text(conn, msg.data, received_at)
        elif kind is WSMsgType.PING:
            conn.on_control_ping(msg.data, received_at)
        elif kind is WSMsgType.CLOSE:
            await _client_closed(conn, msg.data)
            return
        elif kind is WSMsgType.CLOSING:
            if conn.close_task is not None:
                await conn.close_task
            return
        elif kind in (WSMsgType.CLOSED, WSMsgType.ERROR):
            _count_error_close(conn)
            return
        else:  # binary frames and unsolicited pongs from the client
            conn.counters.add("other_messages")


def _count_error_close(conn: SocketConn) -> None:
    # aiohttp itself closes with 1009/1002/1007 on oversize or malformed
    # frames; the code it sent is on the exception it recorded.
    code = getattr(conn.ws.exception(), "code", None)
    if code in (CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG, 1007) and not conn.closing:
        conn.closing = True
        conn.counters.close_sent(int(code))


async def _client_closed(conn: SocketConn, code: object) -> None:
    conn.counters.close_received(code if isinstance(code, int) else 1005)
    if conn.spec().blackhole:
        await _wait_transport_closed(conn)
        return
    if conn.closing:
        if conn.close_task is not None:
            await conn.close_task
        return
    echo = _echo_code(code)
    conn.closing = True
    conn.counters.close_sent(echo)
    await conn.ws.close(code=echo)


async def close_now(conn: SocketConn, code: int, reason: str) -> None:
    """Close from the handler's own task and wait for the handshake to finish."""
    conn.close(code, reason)
    if conn.close_task is not None:
        await conn.close_task


def _new_ws(max_msg_size: int) -> web.WebSocketResponse:
    # autoping/autoclose off: every ping and close reaches the emulator so
    # faults apply to them; compression off so frames written straight to the
    # transport are always well-formed.
    return web.WebSocketResponse(
        autoping=False, autoclose=False, compress=False,
        max_msg_size=max_msg_size, timeout=_CLOSE_TIMEOUT_S,
    )


async def channel_socket(request: web.Request) -> web.StreamResponse:
    """``GET /channels/{id}``: the notification stream of one channel."""
    emu = emulator_of(request)
    channel_id = request.match_info["channel_id"]
    ws = _new_ws(_NOTIFICATION_MAX_MSG)
    if not ws.can_prepare(request).ok:
        return _not_websocket()
    refusal = await _apply_handshake_faults(emu, channel_id)
    if refusal is not None:
        return refusal
    channel = emu.channel_store.get(channel_id)
    if channel is None:
        if emu.channel_store.dead_reason(channel_id) is not None:
            return refuse(emu, 401, "credentials.expired",
                          "The channel has expired or was evicted; create a new one.")
        return refuse(emu, 403, "not.authorized", "Unknown notification channel.")
    await ws.prepare(request)
    request[WS_KEY] = ws
    assert request.transport is not None
    conn = SocketConn(channel_id, ws, request.transport,
                      emu.counters.channel(channel_id), emu.faults)
    emu.attach(conn, channel)
    try:
        await pump(conn, lambda c, text, t: _channel_text(emu, channel, c, text, t))
    finally:
        emu.detach(conn, channel)
    return ws


def _channel_text(emu: Emulator, channel: Channel, conn: SocketConn, text: str,
                  received_at: float) -> None:
    if text == _PING_TEXT:
        conn.on_json_ping(received_at)
        return
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        conn.counters.add("other_messages")
        return
    message = data.get("message") if isinstance(data, dict) else None
    if message == "ping":
        conn.on_json_ping(received_at)
    elif message == "subscribe":
        conn.counters.add("subscribe_messages")
        conn.send_json(_socket_subscribe(emu, channel, data))
    else:
        conn.counters.add("other_messages")


def _socket_subscribe(emu: Emulator, channel: Channel, data: dict[str, Any]) -> dict[str, Any]:
    topics = data.get("topics")
    reply: dict[str, Any] = {"correlationId": data.get("correlationId")}
    client = emu.config.client(channel.client_id)
    if client is None or not isinstance(topics, list) or not all(
            isinstance(t, str) for t in topics):
        return reply | {"topics": [], "result": "400", "status": "rejected"}
    if not client.notifications:
        return reply | {"topics": [], "result": "403", "status": "rejected"}
    permitted = [e["id"] for e in evaluate_topics(client, topics) if e["state"] == "Permitted"]
    merged = channel.topics | dict.fromkeys(permitted)
    if len(merged) > emu.config.max_topics_per_channel:
        return reply | {"topics": [], "result": "400", "status": "rejected"}
    if topics and not permitted:
        return reply | {"topics": [], "result": "403", "status": "rejected"}
    channel.topics = merged
    emu.extend_channel(channel)
    return reply | {"topics": permitted, "result": "200", "status": "subscribed"}


async def realtime_socket(request: web.Request) -> web.StreamResponse:
    """``GET /v2/analytics/events/realtime``: the tutorial's endpoint.

    The first data message must be ``{"type":"subscribe","token":…,"connectionId":…,
    "settings":{…}}``. Malformed JSON or shape → close 1002; missing, unknown or
    expired token → 1008; a message over ``realtime_max_message_bytes`` → 1009;
    no subscribe within ``realtime_subscribe_timeout_s`` → 1008. After it the
    server sends ``{"type":"subscribed","connectionId":…}`` and answers RFC 6455
    pings (which it also answers before the subscribe).
    """
    emu = emulator_of(request)
    # aiohttp refuses messages >= max_msg_size; the limit is "more than N bytes".
    ws = _new_ws(emu.config.realtime_max_message_bytes + 1)
    if not ws.can_prepare(request).ok:
        return _not_websocket()
    refusal = await _apply_handshake_faults(emu, None)
    if refusal is not None:
        return refusal
    await ws.prepare(request)
    request[WS_KEY] = ws
    assert request.transport is not None
    # Until the subscribe names a connectionId, counts go to the totals only.
    conn = SocketConn("", ws, request.transport,
                      SocketCounters(emu.counters.total), emu.faults)
    emu.attach(conn, None)
    try:
        if await _realtime_subscribe(emu, conn):
            await pump(conn, _realtime_text)
    finally:
        emu.detach(conn, None)
    return ws


def _realtime_text(conn: SocketConn, text: str, received_at: float) -> None:
    conn.counters.add("other_messages")


async def _realtime_subscribe(emu: Emulator, conn: SocketConn) -> bool:
    ws = conn.ws
    loop = conn.loop
    deadline = loop.time() + emu.config.realtime_subscribe_timeout_s
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            await close_now(conn, CLOSE_POLICY_VIOLATION, "no subscribe message")
            return False
        try:
            msg = await ws.receive(timeout=remaining)
        except TimeoutError:
            continue
        received_at = loop.time()
        if msg.type is WSMsgType.PING:
            conn.on_control_ping(msg.data, received_at)
            continue
        if msg.type is WSMsgType.CLOSE:
            await _client_closed(conn, msg.data)
            return False
        if msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR, WSMsgType.CLOSING):
            _count_error_close(conn)
            return False
        if msg.type is not WSMsgType.TEXT:
            await close_now(conn, CLOSE_PROTOCOL_ERROR, "expected a subscribe message")
            emu.counters.realtime_rejected += 1
            return False
        verdict = _check_subscribe(emu, msg.data)
        if isinstance(verdict, tuple):
            emu.counters.realtime_rejected += 1
            await close_now(conn, *verdict)
            return False
        emu.bind_realtime(conn, verdict)
        emu.counters.realtime_subscribed += 1
        conn.send_json({"type": "subscribed", "connectionId": verdict})
        return True


def _check_subscribe(emu: Emulator, text: str) -> str | tuple[int, str]:
    """The connectionId of a valid subscribe, else (close code, reason)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return CLOSE_PROTOCOL_ERROR, "malformed JSON"
    if not isinstance(data, dict) or data.get("type") != "subscribe":
        return CLOSE_PROTOCOL_ERROR, "expected type=subscribe"
    connection_id = data.get("connectionId")
    if not isinstance(connection_id, str) or not _CONNECTION_ID.match(connection_id):
        return CLOSE_PROTOCOL_ERROR, "invalid connectionId"
    if "settings" in data and not isinstance(data["settings"], dict):
        return CLOSE_PROTOCOL_ERROR, "settings must be an object"
    token = data.get("token")
    if not isinstance(token, str) or emu.tokens.check(token)[0] is not TokenState.VALID:
        return CLOSE_POLICY_VIOLATION, "invalid or expired token"
    return connection_id
