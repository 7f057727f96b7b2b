"""Hooks into the ``websockets`` asyncio client (``websockets.asyncio.client.connect``).

Installed only when ``websockets`` (with its asyncio implementation) is importable.

Class-level wrapt wrapper (undone by ``uninstrument``): ``connect.connect`` — a
new connection to a matching host gets a `ConnectionProbe` and the overrides
below (covers ``await connect()``, ``async with connect()`` and ``async for``).

Per-connection overrides (see `InstancePatches`), only on measured connections:

- ``ping``: every RFC 6455 ping — the app's and websockets' own keepalive
  pings, which call ``self.ping()`` — is registered before it is written;
  websockets resolves the ping's pong waiter when its pong (or a later one,
  which answers every earlier ping too) arrives, and the waiter's
  done-callback settles it. websockets consumes pongs itself, so active pings
  never reach the app;
- ``send``: Genesys JSON pings;
- ``process_event``: each incoming frame as it is parsed, while a JSON ping is
  outstanding (for its ``channel.metadata`` pong);
- ``connection_lost``: outstanding pings end ABORTED.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import wrapt
from opentelemetry.instrumentation.utils import unwrap

from otel_genesys.instrumentation._common import (
    JSON_PING_MAX_LEN,
    PROBE_ATTR,
    InstancePatches,
    Runtime,
    is_json_ping,
    is_json_pong,
    timed_json_send,
)
from otel_genesys.instrumentation._conn import ConnectionProbe

LIBRARY = "websockets"
_CLIENT_MODULE = "websockets.asyncio.client"
_PONG_MAX_LEN = 256


def available() -> bool:
    """Whether the websockets asyncio client can be instrumented here."""
    try:
        import websockets.asyncio.client
        import websockets.asyncio.connection  # noqa: F401
    except ImportError:
        return False
    return True


def _settled(probe: ConnectionProbe, key: bytes, sent_ns: int, waiter: Any) -> None:
    """Done-callback of a pong waiter: the pong arrived, or the connection closed.

    websockets resolves the waiter with the latency it measured itself, on the
    pong's arrival (``acknowledge_pings``); done-callbacks run a loop turn later,
    so the pong's time is taken from that latency, not from the callback.
    """
    try:
        if waiter.cancelled() or waiter.exception() is not None:
            probe.close()
            return
        latency = waiter.result()
        now = probe.clock()
        if isinstance(latency, (int, float)) and latency >= 0:
            now = min(now, sent_ns + int(latency * 1e9))
        probe.settle_control(key, now)
    except Exception:
        probe.fail()


def _patch(rt: Runtime, conn: Any, probe: ConnectionProbe) -> InstancePatches:
    from websockets.frames import Opcode

    text = Opcode.TEXT
    patches = InstancePatches(conn)
    orig_ping, orig_send = conn.ping, conn.send
    orig_event, orig_lost = conn.process_event, conn.connection_lost

    async def timed_ping(args: Any, kwargs: Any) -> Any:
        measure = rt.enabled()
        sent = probe.clock()
        waiter = await orig_ping(*args, **kwargs)
        if measure and not probe.closed:
            try:
                key = probe.send_control(sent)
                waiter.add_done_callback(functools.partial(_settled, probe, key, sent))
            except Exception:
                probe.fail()
        return waiter

    def ping(*args: Any, **kwargs: Any) -> Any:
        data = args[0] if args else kwargs.get("data")
        if data is not None and probe.is_active_key(data):
            return orig_ping(*args, **kwargs)  # our own: registered by the active loop
        return timed_ping(args, kwargs)

    timed_json_ping = timed_json_send(rt, probe, orig_send)

    def send(message: Any, *args: Any, **kwargs: Any) -> Any:
        # ``message`` is the library's own parameter name, so a keyword call binds it
        # too; the usual call, ``send(text)``, passes on as a plain call.
        # Inlined cheap rejection: this runs once per message the app sends.
        if type(message) is str and len(message) <= JSON_PING_MAX_LEN and is_json_ping(message):
            return timed_json_ping((message, *args), kwargs)
        if args or kwargs:
            return orig_send(message, *args, **kwargs)
        return orig_send(message)

    def process_event(event: Any) -> None:
        # Runs once per incoming frame: plain attribute reads first, the clock only
        # for a frame small enough to be the pong.
        if probe.json_pending and event.opcode is text and len(event.data) < _PONG_MAX_LEN:
            now = probe.clock()
            try:
                if event.fin and is_json_pong(bytes(event.data).decode("utf-8", "replace")):
                    probe.json_pong(now)
            except Exception:
                probe.fail()
        orig_event(event)

    def connection_lost(exc: Exception | None) -> None:
        try:
            orig_lost(exc)
        finally:
            try:
                probe.close()
            except Exception:
                probe.fail()

    patches.set("ping", ping)
    patches.set("send", send)
    patches.set("process_event", process_event)
    patches.set("connection_lost", connection_lost)
    return patches


def _attach(rt: Runtime, factory: Any, conn: Any) -> None:
    uri = getattr(factory, "ws_uri", None)
    host = getattr(uri, "host", None)
    if uri is None or not isinstance(host, str) or not rt.settings.hosts(host):
        return
    probe = rt.new_probe(host, getattr(uri, "port", None), bool(uri.secure), LIBRARY)
    patches = _patch(rt, conn, probe)
    conn.__dict__[PROBE_ATTR] = probe

    def undo() -> None:
        patches.undo()
        conn.__dict__.pop(PROBE_ATTR, None)

    probe.add_close_callback(undo)
    interval = rt.settings.active_interval_ns
    if interval is not None:

        async def send(payload: bytes) -> None:
            sent = probe.clock()
            waiter = await conn.ping(payload)
            waiter.add_done_callback(functools.partial(_settled, probe, payload, sent))

        probe.start_active(interval, send)


def _connect_wrapper(rt: Runtime) -> Callable[..., Any]:
    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        enabled = rt.enabled()
        conn = await wrapped(*args, **kwargs)
        if enabled:
            try:
                _attach(rt, instance, conn)
            except Exception:
                rt.errors.add(LIBRARY)
        return conn

    return wrapper


_WRAPPED: list[tuple[str, str]] = []


def instrument(rt: Runtime) -> None:
    """Install the class-level wrapper (call only when `available`)."""
    _WRAPPED.clear()
    wrapt.wrap_function_wrapper(_CLIENT_MODULE, "connect.connect", _connect_wrapper(rt))
    _WRAPPED.append((_CLIENT_MODULE, "connect.connect"))


def uninstrument() -> None:
    """Remove the class-level wrapper (live connections are detached by the instrumentor)."""
    for module, name in _WRAPPED:
        owner_name, _, attr = name.rpartition(".")
        unwrap(getattr(importlib.import_module(module), owner_name), attr)
    _WRAPPED.clear()
