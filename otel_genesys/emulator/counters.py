"""What the emulator did, counted globally and per target, so tests can compare
what a client saw with what the server did.

Per-target counters (``EmulatorCounters.channel(key)``) roll up into
``EmulatorCounters.total`` as they are bumped. Definitions:

- ``pings_json`` / ``pings_control``: ``{"message":"ping"}`` texts / RFC 6455
  ping frames received (also while blackholed).
- ``pongs_sent``: pings answered (one per answered ping; duplicates and
  unsolicited pongs are counted apart).
- ``pongs_dropped``: pings left unanswered by ``drop_probability``.
- ``pongs_delayed``: pongs scheduled with a delay > 0.
- ``pongs_duplicated``: extra copies sent by ``duplicate``.
- ``unsolicited_sent``: pongs for no ping.
- ``pongs_blackholed``: pings swallowed by ``blackhole``.
- ``closes_by_code``: close frames the server sent, by code;
  ``client_closes_by_code``: close frames the client sent, by code.
- ``delay_overshoots`` (global only): for the last 10,000 delayed pongs, how
  much later than requested each left (s): the server's own timer error, which
  a client measuring "RTT = delay + floor" must not be blamed for. The snapshot
  gives its count, p50, p99 and max in ms.
- ``overshoot_log`` (global only): the same pongs as ``(overshoot_s, delay_s,
  received_s)`` records, numbered from 0 since the last reset
  (``overshoots_recorded`` is the next number), so a client can pair its own
  samples with them pong by pong (``GET /__emulator__/overshoots``).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

_SOCKET_FIELDS = (
    "pings_json",
    "pings_control",
    "pongs_sent",
    "pongs_dropped",
    "pongs_delayed",
    "pongs_duplicated",
    "pongs_blackholed",
    "unsolicited_sent",
    "heartbeats_sent",
    "subscribe_messages",
    "socket_closing_sent",
    "connections_open",
    "connections_total",
    "resets",
    "other_messages",
)

_SERVICE_FIELDS = (
    "token_requests",
    "tokens_issued",
    "token_dropped",
    "token_rate_limited",
    "channels_created",
    "channels_evicted",
    "channels_expired",
    "subscription_requests",
    "realtime_subscribed",
    "realtime_rejected",
)

_MAX_TARGETS = 50_000
_MAX_OVERSHOOTS = 10_000


class SocketCounters:
    """Counters for one target (or, as ``EmulatorCounters.total``, for all)."""

    __slots__ = (
        *_SOCKET_FIELDS,
        "_parent",
        "client_closes_by_code",
        "closes_by_code",
        "delay_overshoots",
        "overshoot_log",
        "overshoots_recorded",
    )

    pings_json: int
    pings_control: int
    pongs_sent: int
    pongs_dropped: int
    pongs_delayed: int
    pongs_duplicated: int
    pongs_blackholed: int
    unsolicited_sent: int
    heartbeats_sent: int
    subscribe_messages: int
    socket_closing_sent: int
    connections_open: int
    connections_total: int
    resets: int
    other_messages: int

    def __init__(self, parent: SocketCounters | None = None) -> None:
        self._parent = parent
        self.closes_by_code: dict[int, int] = {}
        self.client_closes_by_code: dict[int, int] = {}
        self.delay_overshoots: deque[float] = deque(maxlen=_MAX_OVERSHOOTS)
        self.overshoot_log: deque[tuple[float, float, float]] = deque(maxlen=_MAX_OVERSHOOTS)
        self.overshoots_recorded = 0
        self.zero()

    def zero(self) -> None:
        """Every counter back to 0 (``connections_open`` is a gauge and is kept)."""
        open_now = getattr(self, "connections_open", 0)
        for name in _SOCKET_FIELDS:
            setattr(self, name, 0)
        self.connections_open = open_now
        self.closes_by_code.clear()
        self.client_closes_by_code.clear()
        self.clear_overshoots()

    def clear_overshoots(self) -> int:
        """Forget the recorded overshoots and restart their numbering at 0; how many were held."""
        held = len(self.overshoot_log)
        self.delay_overshoots.clear()
        self.overshoot_log.clear()
        self.overshoots_recorded = 0
        return held

    def add(self, name: str, n: int = 1) -> None:
        """Bump ``name`` by ``n`` here and in the roll-up."""
        setattr(self, name, getattr(self, name) + n)
        if self._parent is not None:
            self._parent.add(name, n)

    def delay_overshoot(self, seconds: float, delay: float = 0.0,
                        received: float = float("nan")) -> None:
        """A pong delayed by ``delay`` (s) for a ping read at loop time ``received`` left
        ``seconds`` after its target time (kept in the roll-up only)."""
        if self._parent is not None:
            self._parent.delay_overshoot(seconds, delay, received)
        else:
            self.delay_overshoots.append(seconds)
            self.overshoot_log.append((seconds, delay, received))
            self.overshoots_recorded += 1

    def overshoots_since(self, since: int = 0) -> dict[str, Any]:
        """The recorded overshoots numbered ``since`` and later, oldest (first sent) first.

        ``first`` is the number of the first one returned, ``next`` the number the
        next pong will get; ``lost`` counts those from ``since`` on that fell out
        of the bounded log before this call.
        """
        held = len(self.overshoot_log)
        oldest = self.overshoots_recorded - held
        start = max(since, oldest)
        skip = min(held, start - oldest)
        picked = list(self.overshoot_log)[skip:] if skip < held else []
        return {
            "first": start if picked else self.overshoots_recorded,
            "next": self.overshoots_recorded,
            "lost": max(0, oldest - max(since, 0)),
            "overshoot_ms": [round(o * 1e3, 6) for o, _, _ in picked],
            "delay_ms": [round(d * 1e3, 6) for _, d, _ in picked],
            "received_s": [r for _, _, r in picked],
        }

    def close_sent(self, code: int) -> None:
        """The server sent a close frame with ``code``."""
        self.closes_by_code[code] = self.closes_by_code.get(code, 0) + 1
        if self._parent is not None:
            self._parent.close_sent(code)

    def close_received(self, code: int) -> None:
        """The client sent a close frame with ``code``."""
        self.client_closes_by_code[code] = self.client_closes_by_code.get(code, 0) + 1
        if self._parent is not None:
            self._parent.close_received(code)

    def snapshot(self) -> dict[str, Any]:
        """A plain JSON-ready dict (close-code keys are strings)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in _SOCKET_FIELDS}
        out["closes_by_code"] = {str(k): v for k, v in sorted(self.closes_by_code.items())}
        out["client_closes_by_code"] = {
            str(k): v for k, v in sorted(self.client_closes_by_code.items())
        }
        if self._parent is None:
            out["delay_overshoot_ms"] = _summary_ms(self.delay_overshoots)
        return out


def _summary_ms(values: deque[float]) -> dict[str, float | int | None]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "p50": None, "p99": None, "max": None}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3, 4)

    return {"count": len(ordered), "p50": at(0.5), "p99": at(0.99), "max": at(1.0)}


class EmulatorCounters:
    """Global and per-target counters, live; :meth:`snapshot` gives a plain dict.

    >>> c = EmulatorCounters()
    >>> c.channel("ch-1").add("pongs_sent")
    >>> c.total.pongs_sent, c.snapshot()["channels"]["ch-1"]["pongs_sent"]
    (1, 1)
    """

    def __init__(self) -> None:
        self.total = SocketCounters()
        self._targets: OrderedDict[str, SocketCounters] = OrderedDict()
        self.token_errors_by_status: dict[int, int] = {}
        self.handshakes_refused_by_status: dict[int, int] = {}
        self.token_requests = 0
        self.tokens_issued = 0
        self.token_dropped = 0
        self.token_rate_limited = 0
        self.channels_created = 0
        self.channels_evicted = 0
        self.channels_expired = 0
        self.subscription_requests = 0
        self.realtime_subscribed = 0
        self.realtime_rejected = 0

    def channel(self, key: str) -> SocketCounters:
        """The counters of one channel id or realtime ``connectionId`` (created on demand)."""
        counters = self._targets.get(key)
        if counters is None:
            counters = self._targets[key] = SocketCounters(self.total)
            # Bounded so a long-running emulator does not grow without limit;
            # the oldest idle targets go first.
            while len(self._targets) > _MAX_TARGETS:
                oldest_key, oldest = next(iter(self._targets.items()))
                if oldest.connections_open:
                    self._targets.move_to_end(oldest_key)
                    break
                del self._targets[oldest_key]
        return counters

    def get(self, key: str) -> SocketCounters | None:
        """The counters of ``key`` if it has any."""
        return self._targets.get(key)

    def token_error(self, status: int) -> None:
        """A token request was answered with an error ``status``."""
        self.token_errors_by_status[status] = self.token_errors_by_status.get(status, 0) + 1

    def handshake_refused(self, status: int) -> None:
        """A WebSocket upgrade was refused with ``status``."""
        self.handshakes_refused_by_status[status] = (
            self.handshakes_refused_by_status.get(status, 0) + 1
        )

    def reset(self) -> None:
        """Zero everything in place (live sockets keep their counter objects)."""
        self.total.zero()
        for counters in self._targets.values():
            counters.zero()
        self.token_errors_by_status.clear()
        self.handshakes_refused_by_status.clear()
        for name in _SERVICE_FIELDS:
            setattr(self, name, 0)

    def snapshot(self) -> dict[str, Any]:
        """``{"global": {...}, "channels": {key: {...}}}`` as plain JSON-ready data."""
        glob = self.total.snapshot()
        for name in _SERVICE_FIELDS:
            glob[name] = getattr(self, name)
        glob["token_errors_by_status"] = {
            str(k): v for k, v in sorted(self.token_errors_by_status.items())
        }
        glob["handshakes_refused_by_status"] = {
            str(k): v for k, v in sorted(self.handshakes_refused_by_status.items())
        }
        return {
            "global": glob,
            "channels": {key: c.snapshot() for key, c in self._targets.items()},
        }
