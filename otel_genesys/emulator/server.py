"""The :class:`Emulator`: one aiohttp server that plays login, API and streaming hosts.

Paths disambiguate what a real deployment splits across hosts, so a single
``base_url`` serves ``/oauth/token`` (login), ``/api/v2/...`` (API),
``/channels/{id}`` (streaming), ``/v2/analytics/events/realtime`` (the
tutorial's endpoint) and ``/__emulator__/...`` (admin, loopback only).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from otel_genesys.emulator import admin, oauth, rest, streaming
from otel_genesys.emulator.appkey import EMULATOR
from otel_genesys.emulator.config import EmulatorConfig
from otel_genesys.emulator.counters import EmulatorCounters
from otel_genesys.emulator.envelopes import error_response
from otel_genesys.emulator.faults import FaultController
from otel_genesys.emulator.sockets import HeartbeatScheduler, SocketConn
from otel_genesys.emulator.state import Channel, ChannelStore, RateLimiter, TokenStore

log = logging.getLogger("otel_genesys.emulator")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_STOP_GRACE_S = 0.5


def is_loopback_peer(peer: object) -> bool:
    """True when a transport ``peername`` is a loopback address (v4, v6, v4-mapped)."""
    if not isinstance(peer, tuple | list) or not peer:
        return False
    host = str(peer[0]).split("%", 1)[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


_STATUS_CODES = {
    400: "bad.request",
    401: "authentication.required",
    403: "not.authorized",
    404: "not.found",
    405: "method.not.allowed",
    413: "request.entity.too.large",
    415: "unsupported.media.type",
    429: "too.many.requests.retry.after",
    500: "internal.server.error",
    503: "service.unavailable",
}


@web.middleware
async def _genesys_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Loopback guard for admin paths; Genesys envelopes instead of aiohttp pages or tracebacks."""
    if request.path == admin.PREFIX or request.path.startswith(admin.PREFIX + "/"):
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        if not is_loopback_peer(peer):
            return error_response(403, "not.authorized",
                                  "The emulator admin API only answers loopback clients.")
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        message = "The requested resource was not found." if exc.status == 404 else exc.reason
        return error_response(exc.status, _STATUS_CODES.get(exc.status, "error"), message,
                              headers=headers)
    except Exception:
        log.exception("emulator: unexpected error on %s %s", request.method, request.path)
        ws = request.get(streaming.WS_KEY)
        if ws is not None:  # the upgrade is done; an HTTP answer is no longer possible
            return ws  # type: ignore[no-any-return]
        return error_response(500, "internal.server.error", "The emulator hit an internal error.")


class Emulator:
    """A local Genesys Cloud stand-in with fault injection.

    >>> async def demo():                                     # doctest: +SKIP
    ...     async with Emulator() as emu:
    ...         print(emu.base_url)          # http://127.0.0.1:PORT
    ...         emu.faults.set_global(FaultSpec(pong_delay=DelaySpec.fixed(0.05)))

    ``clock`` (monotonic seconds) decides token and channel expiry; timers
    run on the event loop's own clock, which is the same one by default.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.clock = clock
        self.counters = EmulatorCounters()
        """Live counters (global + per target); ``.snapshot()`` gives a plain dict."""
        self.faults = FaultController(self.config.faults)
        """Live fault state: ``set_global``, ``set_channel``, ``clear``."""
        for key, spec in self.config.channel_faults:
            self.faults.set_channel(key, spec)
        self.tokens = TokenStore(clock)
        self.channel_store = ChannelStore(clock)
        self.rate = RateLimiter(clock)
        self.heartbeats = HeartbeatScheduler(self.config.heartbeat_interval_s)
        self._conns: dict[SocketConn, None] = {}
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._host = ""
        self._port = 0
        self.faults.add_listener(self._faults_changed)

    # -- lifecycle ---------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[_genesys_errors], client_max_size=1024 * 1024)
        app[EMULATOR] = self
        r = app.router
        r.add_post("/oauth/token", oauth.token_handler)
        r.add_post("/api/v2/notifications/channels", rest.create_channel)
        r.add_get("/api/v2/notifications/channels", rest.list_channels)
        r.add_get("/api/v2/notifications/channels/{channel_id}", rest.get_channel)
        for method in ("GET", "PUT", "POST", "DELETE"):
            r.add_route(method, "/api/v2/notifications/channels/{channel_id}/subscriptions",
                        rest.subscriptions)
        r.add_get("/channels/{channel_id}", streaming.channel_socket, allow_head=False)
        r.add_get("/v2/analytics/events/realtime", streaming.realtime_socket, allow_head=False)
        admin.add_routes(app)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (port 0: an ephemeral port; see :attr:`base_url`)."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        self._loop = asyncio.get_running_loop()
        runner = web.AppRunner(self._build_app(), access_log=None, handle_signals=False,
                               shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = runner.addresses[0]
        self._host = host if host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        self._port = int(bound[1])
        log.info("emulator listening on %s", self.base_url)

    async def stop(self) -> None:
        """Close every socket (1001), stop the timers, stop listening."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self.heartbeats.stop()
        conns = list(self._conns)
        for conn in conns:
            conn.close(1001, "emulator stopping")
        tasks = [c.close_task for c in conns if c.close_task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=_STOP_GRACE_S)
        for conn in list(self._conns):
            conn.transport.abort()
        for channel in self.channel_store.all():
            if channel.expiry_handle is not None:
                channel.expiry_handle.cancel()
        await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The port actually bound."""
        if not self._port:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``: login, API and streaming all live here."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def realtime_url(self) -> str:
        """``ws://HOST:PORT/v2/analytics/events/realtime``."""
        return "ws" + self.base_url[4:] + "/v2/analytics/events/realtime"

    # -- Python API for tests and the demo ---------------------------------------

    def issue_token(self, client_id: str) -> str:
        """A valid token for a configured client, without an HTTP round trip."""
        client = self.config.client(client_id)
        if client is None:
            raise KeyError(f"unknown emulator client {client_id!r}")
        spec = self.faults.global_spec
        lifetime = spec.token_lifetime_s if spec.token_lifetime_s is not None else (
            client.token_lifetime_s)
        self.counters.tokens_issued += 1
        return self.tokens.issue(client_id, lifetime)

    def channels(self) -> list[str]:
        """Ids of every live channel."""
        return [c.id for c in self.channel_store.all()]

    def close_channel(self, target_id: str, code: int = 1000, after_s: float = 0.0) -> bool:
        """Close the socket of a channel (or realtime connectionId); False if none is open."""
        conn = self.find_conn(target_id)
        if conn is None:
            return False
        conn.close_later(after_s, code, "closed by the emulator")
        return True

    def announce_socket_closing(self, target_id: str, lead_s: float | None = None) -> bool:
        """Send ``v2.system.socket_closing`` then close 1001 after ``lead_s``."""
        conn = self.find_conn(target_id)
        if conn is None:
            return False
        lead = self.config.socket_closing_lead_s if lead_s is None else lead_s
        conn.announce_closing(lead)
        return True

    def find_conn(self, target_id: str) -> SocketConn | None:
        """The open socket of a channel id or realtime connectionId."""
        for conn in self._conns:
            if conn.key == target_id and conn.alive and not conn.closing:
                return conn
        return None

    def open_connections(self) -> int:
        """How many WebSockets are open right now."""
        return len(self._conns)

    def describe_targets(self) -> list[dict[str, Any]]:
        """JSON view of live channels and open realtime connections (admin API)."""
        out: list[dict[str, Any]] = []
        now = self.clock()
        for ch in self.channel_store.all():
            out.append({"id": ch.id, "kind": "channel", "client_id": ch.client_id,
                        "connected": ch.conn is not None and ch.conn.alive,
                        "expires_in_s": round(ch.expires_at - now, 3),
                        "topics": len(ch.topics)})
        for conn in self._conns:
            if conn.key and self.channel_store.get(conn.key) is None:
                out.append({"id": conn.key, "kind": "realtime", "connected": True})
        return out

    # -- used by the handlers -------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the emulator runs on."""
        return self._loop or asyncio.get_running_loop()

    def create_channel(self, client_id: str) -> Channel:
        """A new channel for ``client_id``; the LRU ones past the limit are evicted."""
        channel, evicted = self.channel_store.create(
            client_id, self.config.channel_lifetime_s, self.config.channels_per_client)
        self.counters.channels_created += 1
        for old in evicted:
            self.counters.channels_evicted += 1
            self._retire(old, "channel evicted")
        self._arm_expiry(channel)
        return channel

    def extend_channel(self, channel: Channel) -> None:
        """Subscribing again extends a channel's life to a full lifetime from now."""
        channel.expires_at = self.clock() + self.config.channel_lifetime_s
        self.channel_store.touch(channel)
        self._arm_expiry(channel)

    def _arm_expiry(self, channel: Channel) -> None:
        if channel.expiry_handle is not None:
            channel.expiry_handle.cancel()
        delay = max(0.0, channel.expires_at - self.clock())
        channel.expiry_handle = self.loop.call_later(delay, self._expire, channel)

    def _expire(self, channel: Channel) -> None:
        if self.clock() < channel.expires_at:  # extended meanwhile by a fake clock
            self._arm_expiry(channel)
            return
        self.channel_store.expire(channel)
        self.counters.channels_expired += 1
        self._retire(channel, "channel expired")

    def _retire(self, channel: Channel, reason: str) -> None:
        if channel.expiry_handle is not None:
            channel.expiry_handle.cancel()
            channel.expiry_handle = None
        if channel.conn is not None:
            channel.conn.close(1001, reason)

    def attach(self, conn: SocketConn, channel: Channel | None) -> None:
        """A socket opened (on ``channel``, or on the realtime endpoint if None)."""
        self._conns[conn] = None
        conn.counters.add("connections_open")
        conn.counters.add("connections_total")
        if channel is not None:
            old = channel.conn
            if old is not None and old.alive:
                old.close(1001, "replaced by a new connection")
            channel.conn = conn
            self.channel_store.touch(channel)
            self.heartbeats.add(conn)
            after = self.config.maintenance_close_after_s
            if after is not None:
                lead = min(self.config.socket_closing_lead_s, after)
                conn.loop.call_later(after - lead, self._maintenance, conn, lead)
        conn.apply_faults()

    @staticmethod
    def _maintenance(conn: SocketConn, lead_s: float) -> None:
        if conn.alive and not conn.closing:
            conn.announce_closing(lead_s)

    def bind_realtime(self, conn: SocketConn, connection_id: str) -> None:
        """A realtime socket named its ``connectionId``: count and fault it under that key."""
        conn.counters.add("connections_open", -1)
        conn.counters.add("connections_total", -1)
        conn.key = connection_id
        conn.counters = self.counters.channel(connection_id)
        conn.counters.add("connections_open")
        conn.counters.add("connections_total")
        conn.apply_faults()

    def detach(self, conn: SocketConn, channel: Channel | None) -> None:
        """A socket ended: stop its timers and forget it."""
        if conn in self._conns:
            del self._conns[conn]
            conn.finish()
            conn.counters.add("connections_open", -1)
        if channel is not None and channel.conn is conn:
            channel.conn = None

    def _faults_changed(self, target: str | None) -> None:
        for conn in list(self._conns):
            if target is None or conn.key == target:
                with contextlib.suppress(RuntimeError):
                    conn.apply_faults()
