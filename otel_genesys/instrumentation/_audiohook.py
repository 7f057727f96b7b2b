"""AudioHook servers on aiohttp: the RTT Genesys reports, and the server's own turnaround.

In AudioHook, Genesys is the WebSocket client and pings the integrator's
server with ``{"version":"2","type":"ping","seq":N,"parameters":{"rtt":"PT0.045S"}}``;
``rtt`` is Genesys's last measured round trip (absent on the first ping). The
server answers ``{"type":"pong","clientseq":N,...}``. So a server can report,
passively, the latency Genesys sees — and how long it took itself to answer.

A class-level wrapper on ``aiohttp.web_ws.WebSocketResponse.prepare``: a
handler whose path matches (default: any) gets an `AudioHookWatch` and two
per-socket overrides (see `InstancePatches`):

- ``receive``: text frames shaped like an AudioHook ping are read (cheap
  substring filter first; audio is binary and skipped); the ping's time is
  taken when the handler receives it;
- ``send_str``: a pong whose ``clientseq`` names a ping seen ends its turnaround.

Text that is not JSON is not a ping: the app's parser deals with it, the
instrumentation says nothing.
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import wrapt
from aiohttp import WSMsgType
from opentelemetry.instrumentation.utils import unwrap

from otel_genesys.instrumentation._common import PROBE_ATTR, InstancePatches, Runtime
from otel_genesys.instrumentation._telemetry import InstrumentationTelemetry
from otel_genesys.telemetry import names as n

LIBRARY = "audiohook"
_MODULE = "aiohttp.web_ws"
PENDING_PINGS = 16
"""Pings awaiting their pong per session (Genesys pings one at a time; bounded anyway)."""
_MAX_LEN = 4096

_ISO = re.compile(
    r"P(?!$)(?:(?P<d>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+(?:[.,]\d+)?)H)?(?:(?P<m>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<s>\d+(?:[.,]\d+)?)S)?)?"
)
_UNIT_NS = {"d": 86_400 * 10**9, "h": 3_600 * 10**9, "m": 60 * 10**9, "s": 10**9}


def parse_iso_duration(text: str) -> int:
    """An ISO-8601 duration of days, hours, minutes and seconds, in nanoseconds.

    Years and months are rejected (their length is not fixed).

    >>> parse_iso_duration("PT0.045S"), parse_iso_duration("PT1M2.5S")
    (45000000, 62500000000)
    >>> parse_iso_duration("45ms")
    Traceback (most recent call last):
    ...
    ValueError: not an ISO-8601 duration: '45ms'
    """
    if not isinstance(text, str) or len(text) > 64:
        raise ValueError(f"not an ISO-8601 duration: {text!r:.70}")
    m = _ISO.fullmatch(text.strip().upper())
    if m is None or not any(m.groupdict().values()):
        raise ValueError(f"not an ISO-8601 duration: {text!r}")
    total = Decimal(0)
    try:
        for unit, value in m.groupdict().items():
            if value:
                total += Decimal(value.replace(",", ".")) * _UNIT_NS[unit]
    except InvalidOperation as exc:
        raise ValueError(f"not an ISO-8601 duration: {text!r}") from exc
    return int(total.to_integral_value())


class AudioHookWatch:
    """The state of one AudioHook session: pings seen, awaiting the app's pong."""

    def __init__(self, telemetry: InstrumentationTelemetry, attrs: dict[str, Any]) -> None:
        self.telemetry = telemetry
        self.attrs = attrs
        self.closed = False
        self.pending: collections.OrderedDict[int, int] = collections.OrderedDict()
        self.rtts = 0
        """Reported RTTs recorded."""
        self.invalid = 0
        """Pings whose ``rtt`` could not be read."""
        self.turnarounds = 0
        """Pongs matched to their ping."""
        self._on_close: list[Callable[[], None]] = []

    def on_text(self, text: str, now_ns: int) -> None:
        """Inspect one text frame the server received (non-JSON text is not a ping)."""
        if len(text) > _MAX_LEN or '"ping"' not in text:
            return
        try:
            data = json.loads(text)
        except ValueError:
            return  # the app's own parser deals with it
        if not (isinstance(data, dict) and data.get("type") == "ping"):
            return
        if str(data.get("version")) != "2":
            return
        seq = data.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool):
            pending = self.pending
            pending[seq] = now_ns
            if len(pending) > PENDING_PINGS:
                pending.popitem(last=False)
        params = data.get("parameters")
        rtt = params.get("rtt") if isinstance(params, dict) else None
        if rtt is None:
            return  # the first ping of a session carries none
        try:
            ns = parse_iso_duration(rtt)
        except ValueError:
            self.invalid += 1
            self.telemetry.audiohook_invalid.add(1, self.attrs)  # type: ignore[attr-defined]
            return
        self.rtts += 1
        # One point per AudioHook ping (every few seconds): cheap enough for the loop.
        self.telemetry.audiohook_rtt.record(ns / 1e9, self.attrs)  # type: ignore[attr-defined]

    def on_send(self, text: str, now_ns: int) -> None:
        """Inspect one text frame the server app sends (its pongs)."""
        if not self.pending or len(text) > _MAX_LEN or '"pong"' not in text:
            return
        try:
            data = json.loads(text)
        except ValueError:
            return
        if not (isinstance(data, dict) and data.get("type") == "pong"):
            return
        seq = data.get("clientseq")
        received = self.pending.pop(seq, None) if isinstance(seq, int) else None
        if received is None:
            return
        self.turnarounds += 1
        seconds = max(0, now_ns - received) / 1e9
        self.telemetry.audiohook_turnaround.record(seconds, self.attrs)  # type: ignore[attr-defined]

    def add_close_callback(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once when the watch closes."""
        self._on_close.append(callback)

    def close(self) -> None:
        """The session ended (or uninstrument): stop watching, restore the socket's methods."""
        if self.closed:
            return
        self.closed = True
        self.pending.clear()
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            callback()


def watch_of(ws: Any) -> AudioHookWatch | None:
    """The AudioHook watch attached to a server socket, if any."""
    watch: AudioHookWatch | None = ws.__dict__.get(PROBE_ATTR)
    return watch if watch is not None and not watch.closed else None


_ENDED = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR})


def _watch(rt: Runtime, ws: Any, watch: AudioHookWatch) -> None:
    """Per-socket overrides of ``receive`` (``async for`` and ``receive_*`` use it) and
    ``send_str`` (``send_json`` uses it); other servers' sockets pay nothing."""
    patches = InstancePatches(ws)
    orig_receive, orig_send_str = ws.receive, ws.send_str

    async def receive(*args: Any, **kwargs: Any) -> Any:
        msg = await orig_receive(*args, **kwargs)
        if not watch.closed:
            now = rt.clock()
            try:
                kind = msg[0]
                if kind is WSMsgType.TEXT and rt.enabled():
                    watch.on_text(msg[1], now)
                elif kind in _ENDED:
                    watch.close()
            except Exception:
                rt.errors.add(LIBRARY)
        return msg

    def send_str(*args: Any, **kwargs: Any) -> Any:
        if watch.pending and not watch.closed:
            try:
                data = args[0] if args else kwargs.get("data")
                if isinstance(data, str) and rt.enabled():
                    watch.on_send(data, rt.clock())
            except Exception:
                rt.errors.add(LIBRARY)
        return orig_send_str(*args, **kwargs)

    patches.set("receive", receive)
    patches.set("send_str", send_str)
    ws.__dict__[PROBE_ATTR] = watch

    def undo() -> None:
        patches.undo()
        ws.__dict__.pop(PROBE_ATTR, None)

    watch.add_close_callback(undo)
    rt.watches.add(watch)


def _prepare_wrapper(rt: Runtime) -> Callable[..., Any]:
    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        enabled = rt.enabled()
        result = await wrapped(*args, **kwargs)
        if enabled and PROBE_ATTR not in instance.__dict__:
            try:
                request = args[0] if args else kwargs.get("request")
                if rt.settings.audiohook_path_matches(request.path):
                    attrs: dict[str, Any] = {
                        n.NETWORK_PROTOCOL_NAME: n.WEBSOCKET,
                        n.INSTRUMENTATION_LIBRARY: LIBRARY,
                    }
                    transport = request.transport
                    sock = transport.get_extra_info("sockname") if transport else None
                    if isinstance(sock, tuple) and len(sock) >= 2:
                        attrs[n.SERVER_PORT] = sock[1]
                    _watch(rt, instance, AudioHookWatch(rt.telemetry, attrs))
            except Exception:
                rt.errors.add(LIBRARY)
        return result

    return wrapper


_WRAPPED: list[tuple[str, str]] = []


def instrument(rt: Runtime) -> None:
    """Install the class-level wrapper."""
    _WRAPPED.clear()
    wrapt.wrap_function_wrapper(_MODULE, "WebSocketResponse.prepare", _prepare_wrapper(rt))
    _WRAPPED.append((_MODULE, "WebSocketResponse.prepare"))


def uninstrument() -> None:
    """Remove the wrapper (live sessions are detached by the instrumentor)."""
    import aiohttp.web_ws

    for _, name in _WRAPPED:
        unwrap(aiohttp.web_ws.WebSocketResponse, name.rpartition(".")[2])
    _WRAPPED.clear()
