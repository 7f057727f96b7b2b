"""Values that leave the measurement core: one `ProbeOutcome` per ping.

Everything here is immutable (a frozen, slotted dataclass, or for the outcome a
named tuple) and made of plain numbers, so that the probe path can hand a
compact record to the recorder and return at once.
Durations are integer nanoseconds from a monotonic clock (`perf_counter_ns`);
``sent_wall_ns`` is the only wall-clock field, kept so spans can be placed on
a timeline.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any, NamedTuple


class _FastHashEnum(enum.Enum):
    """An enum hashed by identity (members are singletons; ``Enum`` compares by identity).

    ``Enum.__hash__`` is Python code hashing the member's name; these enums key the
    recorder's per-probe dictionaries, where that cost showed up in profiles.
    """

    __hash__ = object.__hash__

    def __reduce_ex__(self, protocol: object) -> str:  # type: ignore[override]
        # Pickled by name (a global), so a batch of outcomes shipped to the export
        # process refers to each member once instead of calling the class per value.
        return f"{type(self).__qualname__}.{self.name}"


class ProbeMode(_FastHashEnum):
    """How a ping is carried on the wire."""

    NOTIFICATION = "notification"
    """The Genesys JSON ping ``{"message":"ping"}``; pongs matched FIFO."""
    CONTROL = "control"
    """An RFC 6455 ping control frame with a unique payload."""


class Outcome(_FastHashEnum):
    """How a ping ended. Every ping sent ends in exactly one of these."""

    OK = "ok"
    TIMEOUT = "timeout"
    ABORTED = "aborted"
    """Cut off by a disconnect or shutdown before its pong or deadline."""


class Confidence(_FastHashEnum):
    """Whether the agent itself could have distorted a sample (loop lag, GC)."""

    TRUSTED = "trusted"
    DEGRADED = "degraded"


class TargetKind(_FastHashEnum):
    NOTIFICATION = "notification"
    GENERIC = "generic"


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """The identity of a monitored target, shared by all its outcomes.

    Holds only low-cardinality facts fit for metric attributes: never a
    channel id, never a URL path carrying ids, never a secret.
    """

    name: str
    kind: TargetKind
    server_address: str
    server_port: int
    url_scheme: str
    region: str | None = None
    _hash: int = field(default=0, init=False, repr=False, compare=False)
    """The hash, computed once: a target keys several dictionaries per probe."""

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "_hash",
            hash((self.name, self.kind, self.server_address, self.server_port,
                  self.url_scheme, self.region)),
        )  # fmt: skip

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[TargetInfo], tuple[object, ...]]:
        # Rebuilt through __init__, so the hash is this process's (str hashes are salted).
        return (TargetInfo, _target_values(self))


@dataclass(frozen=True, slots=True)
class Breach:
    """One threshold exceeded by one probe."""

    threshold: str
    """``latency``, ``jitter`` or ``timeout``."""
    value_ns: int
    limit_ns: int
    consecutive: int
    """How many probes in a row (this one included) breached this threshold."""

    def __reduce__(self) -> tuple[type[Breach], tuple[object, ...]]:
        # As ProbeOutcome's: a tuple of fields, not the slotted dataclass's default
        # state, which is rebuilt in Python (``fields()`` on every load).
        return (Breach, (self.threshold, self.value_ns, self.limit_ns, self.consecutive))


class ProbeOutcome(NamedTuple):
    """The whole story of one ping, as the core concluded it.

    A named tuple, not a frozen dataclass: one is built for every ping on the event
    loop and rebuilt for every ping in the export process, and a tuple is built in
    C where a frozen dataclass sets each of its 19 fields through
    ``object.__setattr__`` (``python -m bench.telemetry_cost``, *outcome*). It is
    immutable all the same; ``_replace`` makes a changed copy.
    """

    target: TargetInfo
    mode: ProbeMode
    sequence: int
    outcome: Outcome
    sent_ns: int
    """Monotonic send time (perf_counter_ns)."""
    sent_wall_ns: int
    """Wall-clock send time (time_ns), for span placement only."""
    rtt_ns: int | None
    """Round trip; ``None`` unless ``outcome`` is OK."""
    timeout_ns: int
    """The deadline this ping was given (adaptive RTO or fixed)."""
    jitter_ns: int | None
    """Tutorial jitter: |RTT(n) - RTT(n-1)| over consecutive OK samples."""
    jitter_rfc3550_ns: int | None
    """RFC 3550 smoothed interarrival jitter estimate after this sample."""
    pdv_ns: int | None
    """Windowed packet delay variation: high quantile minus minimum."""
    stability: float
    """Share of probes within the latency limit over the sliding window."""
    stability_lifetime: float
    breaches: tuple[Breach, ...]
    lateness_ns: int
    """How late the scheduler fired this ping compared with its slot."""
    error_type: str | None = None
    """Low-cardinality error class for non-OK outcomes (``timeout``…)."""
    loop_lag_ns: int = 0
    """Worst event-loop lag that could have moved this sample: while the ping was
    outstanding, or, for a pong the kernel stamped, before its write returned."""
    gc_pause_ns: int = 0
    """Garbage-collection pause time overlapping the same window."""
    confidence: Confidence = Confidence.TRUSTED

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Rebuilt by ``tuple.__new__`` itself (C), not through the generated
        # ``__new__``, a Python function of 19 arguments.
        return (_tuple_new, (ProbeOutcome, tuple(self)))

    @property
    def rtt_s(self) -> float | None:
        return None if self.rtt_ns is None else self.rtt_ns / 1e9

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


_tuple_new = tuple.__new__
_target_values: Callable[[TargetInfo], tuple[object, ...]] = attrgetter(
    *(f.name for f in fields(TargetInfo) if f.init)
)
