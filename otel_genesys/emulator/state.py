"""The emulator's bookkeeping: issued tokens, notification channels, rate windows.

Plain classes with an injected clock (seconds, monotonic); no I/O.
"""

from __future__ import annotations

import secrets
import string
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

    from otel_genesys.emulator.config import RateLimit
    from otel_genesys.emulator.sockets import SocketConn

Clock = Callable[[], float]

_ALPHABET = string.ascii_lowercase + string.digits
_PRUNE_EXPIRED_AFTER_S = 3600.0
_GRAVEYARD_SIZE = 10_000


class TokenState(Enum):
    """What a bearer token looks like to the emulator."""

    VALID = "valid"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An issued access token: its client and when it stops working."""

    client_id: str
    expires_at: float


class TokenStore:
    """Random opaque tokens; expired ones are remembered for an hour so they
    answer ``credentials.expired`` rather than ``bad.credentials``."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tokens: dict[str, TokenRecord] = {}
        self._issued_since_prune = 0

    def issue(self, client_id: str, lifetime_s: float) -> str:
        """A new token for ``client_id`` valid for ``lifetime_s`` seconds."""
        self._issued_since_prune += 1
        if self._issued_since_prune >= 1000:
            self._prune()
        token = secrets.token_urlsafe(48)
        self._tokens[token] = TokenRecord(client_id, self._clock() + lifetime_s)
        return token

    def _prune(self) -> None:
        self._issued_since_prune = 0
        horizon = self._clock() - _PRUNE_EXPIRED_AFTER_S
        for token in [t for t, r in self._tokens.items() if r.expires_at < horizon]:
            del self._tokens[token]

    def check(self, token: str) -> tuple[TokenState, TokenRecord | None]:
        """Whether ``token`` is valid, expired or unknown, and its record."""
        record = self._tokens.get(token)
        if record is None:
            return TokenState.UNKNOWN, None
        if self._clock() >= record.expires_at:
            return TokenState.EXPIRED, record
        return TokenState.VALID, record

    def clear(self) -> None:
        """Forget every token."""
        self._tokens.clear()


def new_channel_id() -> str:
    """An id shaped like Genesys's ``streaming-0-<26 chars>``."""
    return "streaming-0-" + "".join(secrets.choice(_ALPHABET) for _ in range(26))


@dataclass(eq=False, slots=True)
class Channel:
    """A notification channel: owner, lifetime, topics, and its socket if connected."""

    id: str
    client_id: str
    expires_at: float
    topics: dict[str, None] = field(default_factory=dict)  # an ordered set
    conn: SocketConn | None = None
    expiry_handle: asyncio.TimerHandle | None = None


class DeadReason(Enum):
    """Why a channel id no longer works."""

    EXPIRED = "expired"
    EVICTED = "evicted"


class ChannelStore:
    """Live channels per client in LRU order, plus a bounded memory of dead ids."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._by_id: dict[str, Channel] = {}
        self._by_client: dict[str, OrderedDict[str, Channel]] = {}
        self._dead: OrderedDict[str, DeadReason] = OrderedDict()

    def create(
        self, client_id: str, lifetime_s: float, limit: int
    ) -> tuple[Channel, list[Channel]]:
        """A new channel, and the least recently used ones evicted to stay within ``limit``."""
        lru = self._by_client.setdefault(client_id, OrderedDict())
        evicted: list[Channel] = []
        while len(lru) >= limit:
            _, old = lru.popitem(last=False)
            self._bury(old, DeadReason.EVICTED)
            evicted.append(old)
        channel = Channel(new_channel_id(), client_id, self._clock() + lifetime_s)
        self._by_id[channel.id] = channel
        lru[channel.id] = channel
        return channel, evicted

    def _bury(self, channel: Channel, reason: DeadReason) -> None:
        self._by_id.pop(channel.id, None)
        lru = self._by_client.get(channel.client_id)
        if lru is not None:
            lru.pop(channel.id, None)
        self._dead[channel.id] = reason
        while len(self._dead) > _GRAVEYARD_SIZE:
            self._dead.popitem(last=False)

    def expire(self, channel: Channel) -> None:
        """Mark ``channel`` expired (it stops being live)."""
        if self._by_id.get(channel.id) is channel:
            self._bury(channel, DeadReason.EXPIRED)

    def get(self, channel_id: str) -> Channel | None:
        """The live channel with this id (an expired one is buried on the way)."""
        channel = self._by_id.get(channel_id)
        if channel is not None and self._clock() >= channel.expires_at:
            self._bury(channel, DeadReason.EXPIRED)
            return None
        return channel

    def dead_reason(self, channel_id: str) -> DeadReason | None:
        """Why ``channel_id`` is dead, if it once lived (bounded memory)."""
        return self._dead.get(channel_id)

    def touch(self, channel: Channel) -> None:
        """Mark ``channel`` most recently used."""
        lru = self._by_client.get(channel.client_id)
        if lru is not None and channel.id in lru:
            lru.move_to_end(channel.id)

    def of_client(self, client_id: str) -> list[Channel]:
        """The live channels of ``client_id``, least recently used first."""
        lru = self._by_client.get(client_id, OrderedDict())
        return [c for c in list(lru.values()) if self.get(c.id) is not None]

    def all(self) -> list[Channel]:
        """Every live channel."""
        return [c for c in list(self._by_id.values()) if self.get(c.id) is not None]


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The result of one rate-limit check, with the ``inin-ratelimit-*`` values."""

    allowed: bool
    count: int
    limit: int
    reset_s: float

    def headers(self) -> dict[str, str]:
        """``inin-ratelimit-count/allowed/reset`` (reset in whole seconds)."""
        return {
            "inin-ratelimit-count": str(self.count),
            "inin-ratelimit-allowed": str(self.limit),
            "inin-ratelimit-reset": str(max(1, round(self.reset_s + 0.4999))),
        }


class RateLimiter:
    """Fixed windows per key (client id + which endpoint)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._windows: dict[str, list[float]] = {}

    def check(self, key: str, rate: RateLimit) -> RateDecision:
        """Count one request under ``key``; refuse it past ``rate.requests`` in the window."""
        now = self._clock()
        window = self._windows.get(key)
        if window is None or now - window[0] >= rate.window_s:
            window = self._windows[key] = [now, 0.0]
        reset_s = window[0] + rate.window_s - now
        if window[1] >= rate.requests:
            return RateDecision(False, int(window[1]), rate.requests, reset_s)
        window[1] += 1
        return RateDecision(True, int(window[1]), rate.requests, reset_s)

    def clear(self) -> None:
        """Forget every window."""
        self._windows.clear()
