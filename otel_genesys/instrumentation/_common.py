"""What every hook shares: the per-instrumentation runtime, message shapes, the attach point."""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from otel_genesys.genesys.protocol import PING_TEXT, PONG_TEXT, InboundKind, classify
from otel_genesys.instrumentation._conn import Clock, ConnectionProbe
from otel_genesys.instrumentation._settings import InstrumentSettings, target_for
from otel_genesys.instrumentation._telemetry import ErrorCounts, InstrumentationTelemetry

PROBE_ATTR = "_otel_genesys_probe"
"""Instance attribute holding a connection's `ConnectionProbe` (absent = not measured)."""

JSON_PING_MAX_LEN = 64
"""Longer texts are never taken for a Genesys ping (cheap rejection on the send path)."""


def is_json_ping(text: str) -> bool:
    """Whether a text frame the app sends is the Genesys ping, however it was spelled.

    >>> is_json_ping('{"message":"ping"}'), is_json_ping('{"message": "ping"}')
    (True, True)
    >>> is_json_ping('{"message":"subscribe"}')
    False
    """
    if text == PING_TEXT:
        return True
    if len(text) > JSON_PING_MAX_LEN or "ping" not in text:
        return False
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and data == {"message": "ping"}


def is_json_pong(text: str) -> bool:
    """Whether a received text frame is the ``channel.metadata`` pong (topic, never free text)."""
    if text == PONG_TEXT:
        return True
    return "channel.metadata" in text and classify(text).kind is InboundKind.PONG


class Closable(Protocol):
    """Per-connection state that ``uninstrument`` detaches."""

    def close(self) -> None:
        """Stop measuring and undo the connection's patches."""


@dataclass(eq=False)
class Runtime:
    """What the wrappers of one ``instrument()`` call share."""

    settings: InstrumentSettings
    telemetry: InstrumentationTelemetry
    errors: ErrorCounts
    clock: Clock = time.perf_counter_ns
    probes: weakref.WeakSet[ConnectionProbe] = field(default_factory=weakref.WeakSet)
    watches: weakref.WeakSet[Closable] = field(default_factory=weakref.WeakSet)
    """Server-side watches (AudioHook) to detach on ``uninstrument``."""

    def enabled(self) -> bool:
        """False inside ``suppress_instrumentation()``."""
        return is_instrumentation_enabled()

    def new_probe(self, host: str, port: int | None, secure: bool, library: str) -> ConnectionProbe:
        """A probe for a new connection, remembered so ``uninstrument`` can close it."""
        probe = ConnectionProbe(
            target_for(host, port, secure),
            self.settings.probe,
            self.telemetry.recorder,
            self.errors,
            library,
            loop=asyncio.get_running_loop(),
            clock=self.clock,
        )
        self.probes.add(probe)
        return probe

    def close_all(self) -> None:
        """Uninstrument: abort every live connection's outstanding pings, undo patches."""
        for probe in list(self.probes):
            probe.close()
        for watch in list(self.watches):
            watch.close()


class InstancePatches:
    """Per-connection method overrides, stored in the instance's ``__dict__``.

    Why not class-level wrapt wrappers for the per-message methods: a wrapt
    wrapper costs every socket of the process a descriptor binding and an extra
    Python call per message, measured or not. An instance override costs
    unmeasured sockets nothing and measured ones one plain call; ``undo``
    restores the class's methods (on close and on ``uninstrument``).
    """

    __slots__ = ("names", "obj")

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self.names: list[str] = []

    def set(self, name: str, function: Any) -> None:
        """Route ``obj.<name>(...)`` to ``function`` (called without ``self``)."""
        self.obj.__dict__[name] = function
        self.names.append(name)

    def undo(self) -> None:
        """Remove every override."""
        for name in self.names:
            self.obj.__dict__.pop(name, None)
        self.names.clear()


def probe_of(instance: Any) -> ConnectionProbe | None:
    """The probe attached to a socket object, if it is measured and still open."""
    try:
        probe: ConnectionProbe | None = instance.__dict__.get(PROBE_ATTR)
    except AttributeError:
        return None
    if probe is None or probe.closed:
        return None
    return probe


def close_probe(probe: ConnectionProbe) -> None:
    """The connection is gone: abort what is outstanding (never raises)."""
    try:
        probe.close()
    except Exception:
        probe.fail()


def timed_json_send(
    rt: Runtime, probe: ConnectionProbe, send: Callable[..., Awaitable[Any]]
) -> Callable[[Any, Any], Awaitable[Any]]:
    """Wrap the app's write of a Genesys JSON ping (both client libraries).

    The ping is registered before the write, so its pong cannot beat it; a
    failed write aborts what is outstanding and re-raises the app's exception.
    """

    async def timed(args: Any, kwargs: Any) -> Any:
        if rt.enabled() and not probe.closed:
            try:
                probe.json_ping_sent(probe.clock())
            except Exception:
                probe.fail()
        try:
            return await send(*args, **kwargs)
        except Exception:
            close_probe(probe)
            raise

    return timed

