"""Hooks into aiohttp's WebSocket client (``ClientSession.ws_connect``).

Class-level wrapt wrappers (undone by ``uninstrument``):

- ``ClientSession._ws_connect``: a new socket to a matching host gets a
  `ConnectionProbe` and the per-connection hooks below;
- ``ClientWebSocketResponse._send_heartbeat`` (when aiohttp has it): pings sent
  by ``ws_connect(heartbeat=...)`` (aiohttp schedules the bound method before
  the socket is returned, so an instance override would miss the first one).

Per-connection hooks, only on measured sockets:

- the connection's frame parser is fronted by an `_ArrivalTap`: right after
  each chunk from the network is parsed, the messages it appended to the
  socket's queue are inspected, so pongs are timestamped when they *arrive*,
  whether or not the app is reading at that moment (an app that reads late
  would otherwise turn answered pings into timeouts). End of stream aborts
  the outstanding pings;
- ``ping`` / ``send_str`` (and so ``send_json``) overrides (see `InstancePatches`):
  the app's RFC 6455 pings and Genesys JSON pings, registered just before the
  frame is written;
- ``close``: outstanding pings end ABORTED;
- only with active probing on a socket opened with ``autoping=False`` (the
  one case where the app reads pongs itself): the message queue the app reads
  (``ws._reader``) is fronted by `_PongFilter`, which drops the pongs of the
  instrumentation's own pings.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import wrapt
from aiohttp import WSMsgType
from opentelemetry.instrumentation.utils import unwrap
from yarl import URL

from otel_genesys.instrumentation._common import (
    JSON_PING_MAX_LEN,
    PROBE_ATTR,
    InstancePatches,
    Runtime,
    close_probe,
    is_json_ping,
    is_json_pong,
    probe_of,
    timed_json_send,
)
from otel_genesys.instrumentation._conn import ConnectionProbe

LIBRARY = "aiohttp"
_TEXT = WSMsgType.TEXT
_PONG = WSMsgType.PONG
_WS = aiohttp.client_ws.ClientWebSocketResponse
_MODULE = "aiohttp.client_ws"
_PONG_MAX_LEN = 256

_log = logging.getLogger(__name__)


class _ArrivalTap:
    """Stands in for a connection's WebSocket frame parser (``protocol._payload_parser``).

    aiohttp's parser appends each parsed message to the socket's queue
    (``queue._buffer``, a deque the app's ``receive()`` pops from the left).
    After each ``feed_data``, the entries right of the last one already seen
    are new: they are inspected, newest last, with one timestamp per chunk.
    """

    __slots__ = ("_buffer", "_inner", "_last", "_probe", "swallow")

    def __init__(self, inner: Any, buffer: Any, probe: ConnectionProbe) -> None:
        self._inner = inner
        self._buffer = buffer
        self._probe = probe
        self._last: object = buffer[-1] if buffer else None
        self.swallow: dict[bytes, int] = {}
        """Pongs of active pings still in the queue, by payload (hidden from the app)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def feed_data(self, data: Any) -> Any:
        result = self._inner.feed_data(data)
        buf = self._buffer
        if buf:
            newest = buf[-1]
            if newest is not self._last:
                probe = self._probe
                if probe.watching:
                    try:
                        if len(buf) == 1 or buf[-2] is self._last:
                            # The usual case, one new message: the clock is read only
                            # for a message that may be a pong (not for app traffic).
                            msg = newest[0]
                            kind = msg[0]
                            if kind is _PONG or (
                                kind is _TEXT and probe.json_pending and len(msg[1]) < _PONG_MAX_LEN
                            ):
                                self._one(msg, probe.clock())
                        else:
                            self._inspect(buf, probe.clock())
                    except Exception:
                        probe.fail()
                self._last = newest
        return result

    def feed_eof(self) -> Any:
        try:
            return self._inner.feed_eof()
        finally:
            close_probe(self._probe)

    def _inspect(self, buf: Any, now: int) -> None:
        # Several messages in one chunk (an app reading a busy socket): only pongs
        # and, while a JSON ping waits, texts can matter; the rest are skipped here.
        last = self._last
        texts = self._probe.json_pending
        new: list[Any] = []
        for item in reversed(buf):
            if item is last:
                break
            msg = item[0]
            kind = msg[0]
            if kind is _PONG or (texts and kind is _TEXT):
                new.append(msg)
        for msg in reversed(new):
            self._one(msg, now)

    def _one(self, msg: Any, now: int) -> None:
        kind = msg[0]
        if kind is _PONG:
            payload = bytes(msg[1] or b"")
            if self._probe.app_pong(payload, now):
                self.swallow[payload] = self.swallow.get(payload, 0) + 1
        elif kind is _TEXT and self._probe.json_pending:
            text = msg[1]
            if len(text) < _PONG_MAX_LEN:
                if not isinstance(text, str):
                    text = bytes(text).decode("utf-8", "replace")
                if is_json_pong(text):
                    self._probe.json_pong(now)


class _PongFilter:
    """Stands in for a socket's message queue; drops the pongs of active pings."""

    __slots__ = ("_inner", "_tap")

    def __init__(self, inner: Any, tap: _ArrivalTap) -> None:
        self._inner = inner
        self._tap = tap

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def read(self) -> Any:
        swallow = self._tap.swallow
        while True:
            msg = await self._inner.read()
            if swallow and msg[0] is _PONG:
                payload = bytes(msg[1] or b"")
                count = swallow.get(payload)
                if count:
                    if count == 1:
                        del swallow[payload]
                    else:
                        swallow[payload] = count - 1
                    continue  # an active probe's pong: not the app's business
            return msg


def _patch(rt: Runtime, ws: Any, probe: ConnectionProbe) -> InstancePatches:
    patches = InstancePatches(ws)
    orig_ping, orig_send_str, orig_close = ws.ping, ws.send_str, ws.close

    async def timed_ping(args: Any, kwargs: Any) -> Any:
        payload = args[0] if args else kwargs.get("message", b"")
        if rt.enabled() and not probe.closed:
            try:
                # Registered before the write: the pong cannot beat its ping.
                probe.app_ping_sent(bytes(payload), probe.clock())
            except Exception:
                probe.fail()
        try:
            return await orig_ping(*args, **kwargs)
        except Exception:
            close_probe(probe)  # the socket is gone: what is outstanding is aborted
            raise

    def ping(*args: Any, **kwargs: Any) -> Any:
        return timed_ping(args, kwargs)

    timed_json_ping = timed_json_send(rt, probe, orig_send_str)

    def send_str(data: Any, compress: Any = None, **kwargs: Any) -> Any:
        # aiohttp's own signature, so a keyword call binds the same way and the usual
        # call, ``send_str(text)``, passes on as a plain call (no argument unpacking).
        # Inlined cheap rejection: this runs once per message the app sends.
        if type(data) is str and len(data) <= JSON_PING_MAX_LEN and is_json_ping(data):
            return timed_json_ping((data,) if compress is None else (data, compress), kwargs)
        if compress is None and not kwargs:
            return orig_send_str(data)
        return orig_send_str(data, compress, **kwargs)

    async def close(*args: Any, **kwargs: Any) -> Any:
        try:
            return await orig_close(*args, **kwargs)
        finally:
            close_probe(probe)

    patches.set("ping", ping)
    patches.set("send_str", send_str)
    patches.set("close", close)
    return patches


def _attach(rt: Runtime, ws: Any, url: Any) -> None:
    response = getattr(ws, "_response", None)
    real_url = getattr(response, "url", None) or URL(str(url))
    host = real_url.host
    if host is None or not rt.settings.hosts(host):
        return
    conn = getattr(ws, "_conn", None)
    protocol: Any = getattr(conn, "protocol", None)
    parser = getattr(protocol, "_payload_parser", None)
    reader = getattr(ws, "_reader", None)
    buffer = getattr(reader, "_buffer", None)
    if parser is None or buffer is None or not hasattr(parser, "feed_data"):
        _log.debug("aiohttp %s: socket internals not recognised, not measured", aiohttp.__version__)
        return
    probe = rt.new_probe(host, real_url.port, real_url.scheme in ("wss", "https"), LIBRARY)
    patches = _patch(rt, ws, probe)
    tap = _ArrivalTap(parser, buffer, probe)
    protocol._payload_parser = tap
    ws.__dict__[PROBE_ATTR] = probe
    interval = rt.settings.active_interval_ns
    filtered = interval is not None and not getattr(ws, "_autoping", True)
    if filtered:
        ws._reader = _PongFilter(reader, tap)

    def undo() -> None:
        patches.undo()
        ws.__dict__.pop(PROBE_ATTR, None)
        if getattr(protocol, "_payload_parser", None) is tap:
            protocol._payload_parser = parser
        if filtered and ws.__dict__.get("_reader") is not reader and not tap.swallow:
            ws._reader = reader  # pongs still queued for the filter keep it in place

    probe.add_close_callback(undo)
    if interval is not None:

        async def send(payload: bytes) -> None:
            await ws.send_frame(payload, WSMsgType.PING)

        probe.start_active(interval, send)


def _ws_connect_wrapper(rt: Runtime) -> Callable[..., Any]:
    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        enabled = rt.enabled()
        ws = await wrapped(*args, **kwargs)
        if enabled:
            try:
                _attach(rt, ws, args[0] if args else kwargs.get("url"))
            except Exception:
                rt.errors.add(LIBRARY)
        return ws

    return wrapper


def _heartbeat_wrapper(rt: Runtime) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        probe = probe_of(instance)
        if probe is None:
            return wrapped(*args, **kwargs)
        before = getattr(instance, "_pong_response_cb", None)
        sent = probe.clock()
        result = wrapped(*args, **kwargs)
        try:
            # aiohttp arms a new pong timer exactly when it really sends a ping.
            after = getattr(instance, "_pong_response_cb", None)
            if after is not None and after is not before and rt.enabled():
                probe.app_ping_sent(b"", sent)
        except Exception:
            probe.fail()
        return result

    return wrapper


_WRAPPED: list[tuple[str, str]] = []


def instrument(rt: Runtime) -> None:
    """Install the class-level wrappers."""
    _WRAPPED.clear()
    plan: list[tuple[str, str, Callable[..., Any]]] = [
        ("aiohttp.client", "ClientSession._ws_connect", _ws_connect_wrapper(rt)),
    ]
    if hasattr(_WS, "_send_heartbeat"):
        plan.append((_MODULE, "ClientWebSocketResponse._send_heartbeat", _heartbeat_wrapper(rt)))
    for module, name, wrapper in plan:
        wrapt.wrap_function_wrapper(module, name, wrapper)
        _WRAPPED.append((module, name))


def uninstrument() -> None:
    """Remove the class-level wrappers (live sockets are detached by the instrumentor)."""
    for module, name in _WRAPPED:
        owner_name, _, attr = name.rpartition(".")
        unwrap(getattr(importlib.import_module(module), owner_name), attr)
    _WRAPPED.clear()
