"""The fault matrix's machinery: one `Agent` against its own in-process `Emulator` per cell.

A *cell* is one fault x one probe mode. Every cell runs the same script on the
same event loop as all the others (they run side by side, so the whole matrix
takes about as long as its slowest cell):

1. start an emulator and an agent (short intervals, fixed 250 ms pong timeout,
   200 ms heartbeats, 50-200 ms reconnect backoff);
2. wait for a first OK probe in every mode (skipped for faults injected at start);
3. inject the fault, hold it, clear it;
4. wait for an OK probe in every mode sent after the clear (recovery);
5. stop the agent, then compare what the agent saw with what the emulator did.

`check_cell` turns a finished cell into a list of broken expectations (empty
means the cell passed); the expectations are stated in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from otel_genesys.agent.supervisor import Agent
from otel_genesys.config import MonitorConfig, NotificationTarget, OAuthClient
from otel_genesys.core.events import (
    AuditEvent,
    AuditKind,
    ConnectionState,
    LifecycleRecord,
    LifecycleStep,
)
from otel_genesys.core.outcome import Outcome, ProbeMode, ProbeOutcome, TargetInfo
from otel_genesys.core.probe import ProbeCounters
from otel_genesys.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DelaySpec,
    Emulator,
    EmulatorConfig,
    FaultSpec,
)
from otel_genesys.genesys.oauth import OAuthRequestRecord
from otel_genesys.secret import Secret

MS = 1_000_000
INTERVAL_S = 0.1
TIMEOUT_S = 0.25
HEARTBEAT_S = 0.2
MISS_FACTOR = 3.0
RECONNECT_BASE_S = 0.05
RECONNECT_CAP_S = 0.2
OPERATOR_RETRY_S = 0.3
SLACK_S = 0.25
"""Scheduling slack: ~80 agents and emulators share one event loop and two cores."""
CLOSE_WAIT_S = 2.0
"""How long the monitor waits for a close handshake on a dead link (monitor._close_link)."""
TOKEN_RETRY_S = 0.5 + 1.0 + 2.0
"""The token provider's first three full-jitter backoff ceilings (base 0.5 s, doubling)."""
WARMUP_LIMIT_S = 3.0
IN_FLIGHT_AT_STOP = 2
"""Pings the agent may have written that the emulator had not read when the agent stopped."""

MODES: dict[str, frozenset[ProbeMode]] = {
    "notification": frozenset({ProbeMode.NOTIFICATION}),
    "control": frozenset({ProbeMode.CONTROL}),
    "both": frozenset({ProbeMode.NOTIFICATION, ProbeMode.CONTROL}),
}


def monitor_config(**overrides: Any) -> MonitorConfig:
    """The matrix's monitor settings: everything short so faults show in milliseconds."""
    values: dict[str, Any] = {
        "interval_ns": int(INTERVAL_S * 1e9),
        "probe_frequency_limit_ns": int(INTERVAL_S * 1e9),
        "timeout_ns": int(TIMEOUT_S * 1e9),
        "heartbeat_interval_ns": int(HEARTBEAT_S * 1e9),
        "heartbeat_miss_factor": MISS_FACTOR,
        "reconnect_base_ns": int(RECONNECT_BASE_S * 1e9),
        "reconnect_cap_ns": int(RECONNECT_CAP_S * 1e9),
        "operator_retry_ns": int(OPERATOR_RETRY_S * 1e9),
        # A probe is only "degraded" by a stall longer than this; the matrix shares its loop.
        "lag_limit_ns": 50 * MS,
    }
    values.update(overrides)
    return MonitorConfig(**values)


def notification_target(
    name: str,
    base_url: str,
    modes: frozenset[ProbeMode],
    monitor: MonitorConfig,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    topics: tuple[str, ...] = (),
) -> NotificationTarget:
    """A notification target aimed at an emulator (or any fake Genesys) at ``base_url``."""
    return NotificationTarget(
        name=name,
        region=None,
        base_url=base_url,
        oauth=OAuthClient(client_id, Secret(client_secret)),
        topics=topics,
        modes=modes,
        monitor=monitor,
    )


class CollectingSink:
    """A `TelemetrySink` that keeps everything with its arrival time (perf_counter_ns)."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[int, ProbeOutcome]] = []
        self.events: list[tuple[int, AuditEvent]] = []
        self.lifecycle_records: list[tuple[int, LifecycleRecord]] = []
        self.states: list[tuple[int, ConnectionState]] = []
        self.heartbeats = 0

    def outcome(self, outcome: ProbeOutcome) -> None:
        self.outcomes.append((time.perf_counter_ns(), outcome))

    def event(self, event: AuditEvent) -> None:
        self.events.append((time.perf_counter_ns(), event))

    def lifecycle(self, record: LifecycleRecord) -> None:
        self.lifecycle_records.append((time.perf_counter_ns(), record))

    def state(self, target: TargetInfo, state: ConnectionState) -> None:
        self.states.append((time.perf_counter_ns(), state))

    def heartbeat(self, target: TargetInfo) -> None:
        self.heartbeats += 1

    def first_ok_after(self, mode: ProbeMode, sent_after_ns: int) -> int | None:
        """Arrival time of the first OK outcome of ``mode`` whose ping left after the mark."""
        for at, o in self.outcomes:
            if o.mode is mode and o.outcome is Outcome.OK and o.sent_ns >= sent_after_ns:
                return at
        return None

    def first_event(
        self, kinds: set[AuditKind], after_ns: int, cause: str | None = None
    ) -> int | None:
        """Arrival time of the first event of one of ``kinds`` (with that cause) after the mark."""
        for at, e in self.events:
            if at < after_ns or e.kind not in kinds:
                continue
            if cause is None or dict(e.attributes).get("cause") == cause:
                return at
        return None


class ProblemLog(logging.Handler):
    """Collects records that betray an unexpected exception (a traceback attached).

    Only from the agent, asyncio and aiohttp: a thread another test left behind
    (an OTel exporter finishing its last export) logs to the same root logger.
    """

    SOURCES = ("otel_genesys", "asyncio", "aiohttp", "root")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(self.SOURCES):
            return
        if record.exc_info is not None or record.exc_text or "crashed" in record.getMessage():
            self.records.append(record)


@dataclass
class Cell:
    """One fault x one mode while it runs, and what it left behind."""

    fault: Fault
    mode_name: str
    modes: frozenset[ProbeMode]
    emu: Emulator
    sink: CollectingSink
    agent: Agent | None = None
    oauth: list[tuple[int, OAuthRequestRecord]] = field(default_factory=list)
    t_start: int = 0
    t_inject: int = 0
    t_clear: int = 0
    t_stop: int = 0
    warm: bool = True
    recovered_at: int | None = None
    counters: dict[ProbeMode, ProbeCounters] = field(default_factory=dict)
    outstanding: dict[ProbeMode, int] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    emulator: dict[str, Any] = field(default_factory=dict)
    leaked_tasks: list[str] = field(default_factory=list)
    open_sockets: int = 0
    final_state: ConnectionState | None = None
    error: str | None = None

    @property
    def name(self) -> str:
        return f"{self.fault.name}-{self.mode_name}"

    def current_channel(self) -> str | None:
        """The channel id the agent is connected to right now, if any."""
        for target in self.emu.describe_targets():
            if target.get("kind") == "channel" and target.get("connected"):
                return str(target["id"])
        return None


Action = Callable[[Cell], None]
Detector = Callable[[Cell], int | None]
Check = Callable[[Cell], list[str]]


def _nothing(cell: Cell) -> None:
    pass


def _no_checks(cell: Cell) -> list[str]:
    return []


@dataclass(frozen=True)
class Fault:
    """One row of the matrix: how to inject and clear it, and what must follow."""

    name: str
    description: str
    inject: Action
    detect: Detector
    detect_bound_s: float
    """Detection time (from injection) must not exceed this."""
    recover_bound_s: float
    """Time from clearing the fault to an OK probe in every mode must not exceed this."""
    clear: Action = _nothing
    hold_s: float = 0.6
    at_start: bool = False
    """Inject before the agent starts (handshake and token faults hit the first connect)."""
    disconnects: bool = True
    """Whether pings may be aborted (False: every ping must end OK or TIMEOUT)."""
    may_time_out: bool = True
    emulator: EmulatorConfig | None = None
    check: Check = _no_checks


USED_SPECS: list[FaultSpec] = []
"""Every spec the matrix injects (a test checks that each FaultSpec field is exercised)."""


def set_faults(spec: FaultSpec) -> Action:
    """An action that replaces the emulator's global fault spec."""
    USED_SPECS.append(spec)

    def act(cell: Cell) -> None:
        cell.emu.faults.set_global(spec)

    return act


def _used(spec: FaultSpec) -> FaultSpec:
    USED_SPECS.append(spec)
    return spec


def clear_faults(cell: Cell) -> None:
    """Back to a healthy emulator."""
    cell.emu.faults.clear()


def first_event(kinds: set[AuditKind], cause: str | None = None) -> Detector:
    """Detection = the first audit event of these kinds after the injection."""

    def detect(cell: Cell) -> int | None:
        return cell.sink.first_event(kinds, cell.t_inject, cause)

    return detect


def first_timeout(cell: Cell) -> int | None:
    """Detection = the first TIMEOUT outcome after the injection."""
    for at, o in cell.sink.outcomes:
        if at >= cell.t_inject and o.outcome is Outcome.TIMEOUT:
            return at
    return None


def first_oauth_failure(cell: Cell) -> int | None:
    """Detection = the first token request that did not yield a token."""
    for at, rec in cell.oauth:
        if rec.outcome != "ok":
            return at
    return None


def slow_rtt(delay_s: float) -> Detector:
    """Detection = the first OK probe whose RTT shows the injected delay."""

    def detect(cell: Cell) -> int | None:
        for at, o in cell.sink.outcomes:
            if at >= cell.t_inject and o.rtt_ns is not None and o.rtt_ns >= delay_s * 1e9:
                return at
        return None

    return detect


def slow_handshake(delay_s: float) -> Detector:
    """Detection = a handshake lifecycle record at least ``delay_s`` long."""

    def detect(cell: Cell) -> int | None:
        for at, rec in cell.sink.lifecycle_records:
            long_enough = rec.end_wall_ns - rec.start_wall_ns >= delay_s * 1e9
            if rec.step is LifecycleStep.HANDSHAKE and rec.error_type is None and long_enough:
                return at
        return None

    return detect


# ----------------------------------------------------------------------- expectations


def rtts_between(low_s: float, high_s: float) -> Check:
    """OK probes sent while the fault held have an RTT in ``[low_s, high_s]``."""

    def check(cell: Cell) -> list[str]:
        bad = [
            o.rtt_ns / 1e6
            for _, o in cell.sink.outcomes
            if o.rtt_ns is not None
            and cell.t_inject + 5 * MS <= o.sent_ns
            and o.sent_ns + o.rtt_ns <= cell.t_clear
            and not low_s * 1e9 <= o.rtt_ns <= high_s * 1e9
        ]
        return [f"RTT outside [{low_s * 1e3:.0f}, {high_s * 1e3:.0f}] ms: {bad[:5]}"] if bad else []

    return check


def needs_events(*kinds: AuditKind) -> Check:
    """Each of these audit events was emitted at least once."""

    def check(cell: Cell) -> list[str]:
        seen = {e.kind for _, e in cell.sink.events}
        return [f"no {k.value} event" for k in kinds if k not in seen]

    return check


def needs_failure(*causes: str) -> Check:
    """The monitor counted at least one failure with one of these causes."""

    def check(cell: Cell) -> list[str]:
        failures = cell.status.get("failures", {})
        if any(failures.get(c) for c in causes):
            return []
        return [f"no failure with cause in {causes}: {failures}"]

    return check


def needs_rollover(cell: Cell) -> list[str]:
    """A make-before-break channel replacement happened."""
    return [] if cell.status.get("rollovers", 0) >= 1 else ["no channel rollover"]


def fifo_extras_unsolicited(cell: Cell) -> list[str]:
    """Extra JSON pongs can only be counted as unsolicited (no id to call them duplicates)."""
    if ProbeMode.NOTIFICATION not in cell.modes:
        return []
    c = cell.counters[ProbeMode.NOTIFICATION]
    return [] if c.unsolicited > 0 else ["no unsolicited JSON pong counted"]


def control_duplicates(cell: Cell) -> list[str]:
    """Copies of a control pong are recognised as duplicates of an answered ping."""
    if ProbeMode.CONTROL not in cell.modes:
        return []
    c = cell.counters[ProbeMode.CONTROL]
    return [] if c.duplicate > 0 else ["no duplicate control pong counted"]


def server_never_closed(code: int) -> Check:
    """The emulator never had to close a socket with ``code`` (the agent moved first)."""

    def check(cell: Cell) -> list[str]:
        count = cell.emulator["closes_by_code"].get(str(code), 0)
        return [f"emulator closed {count} socket(s) with {code}"] if count else []

    return check


def all_of(*checks: Check) -> Check:
    """Every check's problems together."""

    def check(cell: Cell) -> list[str]:
        return [p for c in checks for p in c(cell)]

    return check


# ----------------------------------------------------------------------- the faults

CONNECT_S = 0.1
"""Token (cached) + channel create + handshake on loopback, generously."""
START_S = 0.5
"""First connection attempt of ~80 agents starting on one loop at once (at-start faults)."""
RECONNECT_BOUND_S = RECONNECT_CAP_S + CONNECT_S + INTERVAL_S + SLACK_S
"""Cleared while backing off: the backoff ends, the link opens, the next tick probes."""
HEARTBEAT_BOUND_S = HEARTBEAT_S + HEARTBEAT_S * MISS_FACTOR + INTERVAL_S + SLACK_S
"""The last heartbeat may have just arrived; silence is checked on probe ticks."""
TIMEOUT_BOUND_S = INTERVAL_S + TIMEOUT_S + SLACK_S
"""The next ping goes out within an interval and times out at its deadline."""
GHOST_BOUND_S = TIMEOUT_S * 3 + INTERVAL_S + SLACK_S
"""A JSON ping's late pong may be absorbed by a ghost for up to deadline + 2·timeout."""


def storm_free(cell: Cell) -> list[str]:
    """A close storm never becomes a reconnect or token storm: backoff holds."""
    problems = []
    # Full-jitter backoff from 50 ms capped at 200 ms averages ~100 ms a try.
    limit = int(cell.fault.hold_s / RECONNECT_BASE_S) + 5
    if cell.status.get("reconnects", 0) > limit:
        problems.append(f"{cell.status['reconnects']} reconnects in {cell.fault.hold_s} s")
    if cell.emulator.get("token_requests", 0) > 3:
        problems.append(f"{cell.emulator['token_requests']} token requests")
    return problems


def _close_code(code: int) -> Fault:
    cause = f"close_{code}" if code < 3000 else "close_other"
    return Fault(
        name=f"close_{code}",
        description=f"server closes every socket with {code} while the fault holds",
        inject=set_faults(FaultSpec(close_after_s=0.0, close_code=code)),
        clear=clear_faults,
        detect=first_event({AuditKind.CONNECTION_LOST}, cause),
        detect_bound_s=SLACK_S,
        recover_bound_s=RECONNECT_BOUND_S,
        hold_s=0.5,
        may_time_out=False,
        check=all_of(needs_failure(cause), storm_free),
    )


def _handshake(status: int) -> Fault:
    recover = RECONNECT_BOUND_S
    if status == 429:
        recover += 1.0  # the emulator answers Retry-After: 1, which the agent honours
    if status == 403:
        recover = OPERATOR_RETRY_S + CONNECT_S + INTERVAL_S + SLACK_S
    kinds = {AuditKind.RECONNECT, AuditKind.AUTH_FAILURE}
    return Fault(
        name=f"handshake_{status}",
        description=f"WebSocket upgrade refused with {status}",
        inject=set_faults(FaultSpec(handshake_status=status)),
        clear=clear_faults,
        detect=first_event(kinds, f"http_{status}"),
        detect_bound_s=START_S + SLACK_S,
        recover_bound_s=recover,
        hold_s=0.5,
        at_start=True,
        may_time_out=False,
        check=needs_failure(f"http_{status}"),
    )


def _token_outage(kind: str) -> Fault:
    return Fault(
        name=f"token_outage_{kind}",
        description=f"token endpoint answers {kind} until cleared",
        inject=set_faults(FaultSpec(token_outage=kind)),
        clear=clear_faults,
        detect=first_oauth_failure,
        detect_bound_s=START_S + SLACK_S,
        # The provider retries on its own backoff (0.5 s base, full jitter); the
        # monitor's own backoff applies once the provider gives up.
        recover_bound_s=TOKEN_RETRY_S + RECONNECT_BOUND_S,
        hold_s=0.5,
        at_start=True,
        may_time_out=False,
    )


CHANNEL_LIFETIME_S = 2.0
CHANNEL_MARGIN_S = 1.2
"""Stands in for the agent's 300 s margin (monitor.CHANNEL_EXPIRY_MARGIN_S) during the
run: it must exceed the old link's retirement grace (RTO + 0.5 s) plus a tick, or the
server expires the retired channel first. Genesys channels live 24 h."""


def _socket_closing(cell: Cell) -> None:
    channel = cell.current_channel()
    assert channel is not None, "no connected channel to announce on"
    cell.emu.announce_socket_closing(channel, lead_s=0.5)


FAULTS: tuple[Fault, ...] = (
    Fault(
        name="pong_delay_50ms",
        description="every pong delayed 50 ms (below the 250 ms timeout)",
        inject=set_faults(FaultSpec(pong_delay=DelaySpec.fixed(0.05))),
        clear=clear_faults,
        detect=slow_rtt(0.05),
        detect_bound_s=INTERVAL_S + 0.05 + SLACK_S,
        recover_bound_s=INTERVAL_S + 0.05 + SLACK_S,
        disconnects=False,
        may_time_out=False,
        check=rtts_between(0.05, 0.05 + SLACK_S),
    ),
    Fault(
        name="pong_delay_400ms",
        description="every pong delayed 400 ms (beyond the 250 ms timeout)",
        inject=set_faults(FaultSpec(pong_delay=DelaySpec.fixed(0.4))),
        clear=clear_faults,
        detect=first_timeout,
        detect_bound_s=TIMEOUT_BOUND_S,
        recover_bound_s=GHOST_BOUND_S + 0.4,
        disconnects=False,
        check=needs_events(AuditKind.LATE_PONG),
    ),
    Fault(
        name="drop_all",
        description="no pong at all (drop_probability 1)",
        inject=set_faults(FaultSpec(drop_probability=1.0)),
        clear=clear_faults,
        detect=first_timeout,
        detect_bound_s=TIMEOUT_BOUND_S,
        recover_bound_s=GHOST_BOUND_S,
        disconnects=False,
    ),
    Fault(
        name="drop_half",
        description="half the pongs dropped (seeded)",
        inject=set_faults(FaultSpec(drop_probability=0.5, seed=7)),
        clear=clear_faults,
        detect=first_timeout,
        detect_bound_s=TIMEOUT_BOUND_S + 3 * INTERVAL_S,
        recover_bound_s=GHOST_BOUND_S,
        disconnects=False,
    ),
    Fault(
        name="duplicate_pong",
        description="two extra copies of every pong",
        inject=set_faults(FaultSpec(duplicate=2)),
        clear=clear_faults,
        detect=first_event({AuditKind.DUPLICATE_PONG, AuditKind.UNSOLICITED_PONG}),
        detect_bound_s=INTERVAL_S + SLACK_S,
        recover_bound_s=INTERVAL_S + SLACK_S,
        disconnects=False,
        may_time_out=False,
        check=all_of(fifo_extras_unsolicited, control_duplicates),
    ),
    Fault(
        name="unsolicited_pong",
        description="two pongs for no ping with every ping",
        inject=set_faults(FaultSpec(unsolicited_per_ping=2)),
        clear=clear_faults,
        detect=first_event({AuditKind.UNSOLICITED_PONG}),
        detect_bound_s=INTERVAL_S + SLACK_S,
        recover_bound_s=INTERVAL_S + SLACK_S,
        disconnects=False,
        may_time_out=False,
        check=needs_events(AuditKind.UNSOLICITED_PONG),
    ),
    Fault(
        name="blackhole",
        description="TCP open, nothing answered (no pong, heartbeat or close reply)",
        inject=set_faults(FaultSpec(blackhole=True)),
        clear=clear_faults,
        detect=first_timeout,
        detect_bound_s=TIMEOUT_BOUND_S,
        # The dead link's close handshake is given CLOSE_WAIT_S before reconnecting.
        recover_bound_s=CLOSE_WAIT_S + RECONNECT_BOUND_S,
        hold_s=1.0,
        check=all_of(needs_events(AuditKind.HEARTBEAT_MISSED), needs_failure("heartbeat")),
    ),
    Fault(
        name="heartbeat_stop",
        description="server heartbeats stop; pongs continue",
        inject=set_faults(FaultSpec(heartbeat_stop=True)),
        clear=clear_faults,
        detect=first_event({AuditKind.HEARTBEAT_MISSED}),
        detect_bound_s=HEARTBEAT_BOUND_S,
        recover_bound_s=RECONNECT_BOUND_S,
        hold_s=1.0,
        may_time_out=False,
        check=needs_failure("heartbeat"),
    ),
    Fault(
        name="tcp_reset",
        description="TCP RST on every socket while the fault holds",
        inject=set_faults(FaultSpec(reset_after_s=0.0)),
        clear=clear_faults,
        detect=first_event({AuditKind.CONNECTION_LOST}),
        detect_bound_s=SLACK_S,
        recover_bound_s=RECONNECT_BOUND_S,
        hold_s=0.5,
        may_time_out=False,
        check=all_of(needs_failure("network", "close_1006"), storm_free),
    ),
    *(_close_code(code) for code in (1000, 1001, 1002, 1008, 1011, 4000)),
    *(_handshake(status) for status in (401, 403, 429, 503)),
    Fault(
        name="handshake_slow",
        description="WebSocket upgrade answered after 400 ms",
        inject=set_faults(FaultSpec(handshake_delay_s=0.4)),
        clear=clear_faults,
        detect=slow_handshake(0.4),
        detect_bound_s=0.4 + START_S + SLACK_S,
        recover_bound_s=INTERVAL_S + SLACK_S,
        hold_s=0.6,
        at_start=True,
        disconnects=False,
        may_time_out=False,
    ),
    *(_token_outage(kind) for kind in ("drop", "503", "500")),
    Fault(
        name="token_429_burst",
        description="next 3 token requests get 429 (Retry-After 0)",
        inject=set_faults(FaultSpec(token_429_burst=3, token_retry_after_s=0)),
        clear=clear_faults,
        detect=first_oauth_failure,
        detect_bound_s=START_S + SLACK_S,
        recover_bound_s=RECONNECT_BOUND_S,
        hold_s=0.3,
        at_start=True,
        disconnects=False,
        may_time_out=False,
    ),
    Fault(
        name="token_short_lifetime",
        description="tokens live 1 s: refreshed at 80 %, channel rolled over",
        inject=_nothing,
        emulator=EmulatorConfig(
            heartbeat_interval_s=HEARTBEAT_S, faults=_used(FaultSpec(token_lifetime_s=1.0))
        ),
        clear=clear_faults,
        detect=first_event({AuditKind.TOKEN_REFRESH, AuditKind.CHANNEL_ROLLOVER}),
        detect_bound_s=1.0 + SLACK_S,
        recover_bound_s=INTERVAL_S + SLACK_S,
        hold_s=1.6,
        disconnects=False,
        may_time_out=False,
        check=needs_rollover,
    ),
    Fault(
        name="socket_closing",
        description="v2.system.socket_closing, close 1001 500 ms later",
        inject=_socket_closing,
        detect=first_event({AuditKind.SOCKET_CLOSING}),
        detect_bound_s=SLACK_S,
        recover_bound_s=INTERVAL_S + SLACK_S,
        hold_s=0.8,
        disconnects=False,
        may_time_out=False,
        check=all_of(needs_rollover, needs_events(AuditKind.CHANNEL_ROLLOVER)),
    ),
    Fault(
        name="channel_expiry",
        description=f"channels live {CHANNEL_LIFETIME_S:g} s; replaced "
        f"{CHANNEL_MARGIN_S:g} s before expiry",
        inject=_nothing,
        emulator=EmulatorConfig(
            heartbeat_interval_s=HEARTBEAT_S, channel_lifetime_s=CHANNEL_LIFETIME_S
        ),
        detect=first_event({AuditKind.CHANNEL_ROLLOVER}, "channel_expiry"),
        detect_bound_s=CHANNEL_LIFETIME_S - CHANNEL_MARGIN_S + INTERVAL_S + SLACK_S,
        recover_bound_s=INTERVAL_S + SLACK_S,
        hold_s=CHANNEL_LIFETIME_S + 0.3,
        disconnects=False,
        may_time_out=False,
        check=all_of(needs_rollover, server_never_closed(1001)),
    ),
)


# ----------------------------------------------------------------------- running


async def _wait_until(predicate: Callable[[], bool], limit_s: float) -> bool:
    deadline = time.perf_counter() + limit_s
    while not predicate():
        if time.perf_counter() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def _all_modes_ok_after(cell: Cell, mark_ns: int) -> int | None:
    times = [cell.sink.first_ok_after(mode, mark_ns) for mode in cell.modes]
    if any(t is None for t in times):
        return None
    return max(t for t in times if t is not None)


def open_sockets_by_port() -> Counter[int]:
    """Our process's open TCP connections, by remote port.

    One call reads the whole system socket table (tens of ms with thousands of
    TIME_WAIT entries), so it runs once for the whole matrix, never per cell.
    """
    return Counter(
        conn.raddr.port
        for conn in psutil.Process().net_connections(kind="tcp")
        if conn.raddr and conn.status != psutil.CONN_TIME_WAIT
    )


async def run_cell(fault: Fault, mode_name: str) -> Cell:
    """Run one cell to the end; never raises (a harness error is kept in ``cell.error``).

    The emulator is left running: the caller counts the agent's sockets still open
    towards it (`open_sockets_by_port`) and then stops it.
    """
    config = fault.emulator or EmulatorConfig(heartbeat_interval_s=HEARTBEAT_S)
    emu = Emulator(config)
    cell = Cell(fault, mode_name, MODES[mode_name], emu, CollectingSink())
    await emu.start()
    try:
        await _drive(cell)
    except Exception as exc:  # report, do not hide the other cells
        cell.error = f"{type(exc).__name__}: {exc}"
    finally:
        agent = cell.agent
        if agent is not None:
            cell.t_stop = time.perf_counter_ns()
            await agent.stop()
            _collect(cell, agent)
    return cell


async def _drive(cell: Cell) -> None:
    fault = cell.fault
    name = f"chaos-{cell.name}"
    target = notification_target(name, cell.emu.base_url, cell.modes, monitor_config())

    def on_oauth(record: OAuthRequestRecord) -> None:
        cell.oauth.append((time.perf_counter_ns(), record))

    agent = Agent([target], sink=cell.sink, on_oauth_request=on_oauth)
    cell.agent = agent
    if fault.at_start:
        cell.t_start = cell.t_inject = time.perf_counter_ns()
        fault.inject(cell)
        await agent.start()
        # The hold counts from the agent's first meeting with the fault, not from its
        # start: the first connect of 81 cells starting on one loop comes about 0.2 s
        # in, but a loaded host once put it past the 0.5 s hold, the fault was
        # cleared before the agent met it, and every at-start cell read "never
        # detected". Detection is still timed from the injection, within its bound.
        await _wait_until(lambda: fault.detect(cell) is not None, fault.detect_bound_s)
    else:
        cell.t_start = time.perf_counter_ns()
        await agent.start()
        cell.warm = await _wait_until(
            lambda: _all_modes_ok_after(cell, cell.t_start) is not None, WARMUP_LIMIT_S
        )
        await asyncio.sleep(0.15)
        cell.t_inject = time.perf_counter_ns()
        fault.inject(cell)
    await asyncio.sleep(fault.hold_s)
    cell.t_clear = time.perf_counter_ns()
    fault.clear(cell)
    await _wait_until(
        lambda: _all_modes_ok_after(cell, cell.t_clear) is not None,
        fault.recover_bound_s + 1.0,
    )
    cell.recovered_at = _all_modes_ok_after(cell, cell.t_clear)
    await asyncio.sleep(0.2)


def _collect(cell: Cell, agent: Agent) -> None:
    monitor = agent.monitors[0]
    for mode, snap in monitor.snapshots().items():
        cell.counters[mode] = snap.counters
        cell.outstanding[mode] = snap.outstanding
    cell.status = agent.status()[0]
    cell.final_state = monitor.status.state
    cell.emulator = cell.emu.counters.snapshot()["global"]
    marker = f"chaos-{cell.name}"
    cell.leaked_tasks = [
        t.get_name() for t in asyncio.all_tasks() if marker in t.get_name() and not t.done()
    ]


# ----------------------------------------------------------------------- judging


def detect_ms(cell: Cell) -> float | None:
    """Milliseconds from injection to detection (None: never detected)."""
    at = cell.fault.detect(cell)
    return None if at is None else (at - cell.t_inject) / 1e6


def recover_ms(cell: Cell) -> float | None:
    """Milliseconds from clearing to an OK probe in every mode (None: never)."""
    return None if cell.recovered_at is None else (cell.recovered_at - cell.t_clear) / 1e6


def check_cell(cell: Cell) -> list[str]:
    """Every broken expectation of a finished cell."""
    fault = cell.fault
    problems: list[str] = []
    if cell.error:
        problems.append(f"harness error: {cell.error}")
    if not cell.warm:
        problems.append("no OK probe before the fault was injected")

    # Every ping ends in exactly one outcome; all settled once the agent stopped.
    seen: Counter[tuple[ProbeMode, int]] = Counter(
        (o.mode, o.sequence) for _, o in cell.sink.outcomes
    )
    twice = [k for k, n in seen.items() if n > 1]
    if twice:
        problems.append(f"pings with more than one outcome: {twice[:5]}")
    for mode in cell.modes:
        c = cell.counters.get(mode)
        if c is None:
            problems.append(f"{mode.value}: no counters")
            continue
        if c.sent != c.ok + c.timeout + c.aborted:
            problems.append(
                f"{mode.value}: sent {c.sent} != ok {c.ok} + timeout {c.timeout} "
                f"+ aborted {c.aborted}"
            )
        if cell.outstanding.get(mode):
            problems.append(f"{mode.value}: {cell.outstanding[mode]} outstanding after stop")
        delivered = {seq for (m, seq) in seen if m is mode}
        if delivered != set(range(1, c.sent + 1)):
            problems.append(f"{mode.value}: outcomes delivered for {len(delivered)} of {c.sent}")
        if not fault.may_time_out and c.timeout:
            problems.append(f"{mode.value}: {c.timeout} timeouts, none expected")
        early = sum(
            1
            for at, o in cell.sink.outcomes
            if o.mode is mode and o.outcome is Outcome.ABORTED and at < cell.t_stop
        )
        if not fault.disconnects and early:
            problems.append(f"{mode.value}: {early} aborted before stop, none expected")

    # Against the emulator's own counters. A ping lost in flight (reset, stop) was sent
    # but never received, so the agent may have sent more than the emulator saw.
    emu = cell.emulator
    sent = {m: cell.counters[m].sent for m in cell.modes if m in cell.counters}
    for mode, key in ((ProbeMode.NOTIFICATION, "pings_json"), (ProbeMode.CONTROL, "pings_control")):
        received = emu.get(key, 0)
        if mode not in cell.modes:
            if received:
                problems.append(f"emulator saw {received} {key} from a target not sending them")
            continue
        if received > sent.get(mode, 0):
            problems.append(f"emulator received {received} {key} > agent sent {sent.get(mode)}")
        if not fault.disconnects and sent.get(mode, 0) - received > IN_FLIGHT_AT_STOP:
            problems.append(f"{key}: agent sent {sent.get(mode)}, emulator received {received}")
    ok = sum(c.ok for c in cell.counters.values())
    answers = emu.get("pongs_sent", 0)
    if ProbeMode.NOTIFICATION in cell.modes:
        # FIFO pongs carry no id: an extra copy or stray may settle a ping.
        answers += emu.get("pongs_duplicated", 0) + emu.get("unsolicited_sent", 0)
    if ok > answers:
        problems.append(f"agent ok {ok} > pongs the emulator sent {answers}")
    unanswered = emu.get("pongs_dropped", 0) + emu.get("pongs_blackholed", 0)
    not_ok = sum(c.timeout + c.aborted for c in cell.counters.values())
    if not_ok < unanswered:
        problems.append(
            f"agent timeout+aborted {not_ok} < pings the emulator left unanswered {unanswered}"
        )

    # Timeouts are reported at their deadline, within the scheduling slack.
    for at, o in cell.sink.outcomes:
        if o.outcome is Outcome.TIMEOUT and at - (o.sent_ns + o.timeout_ns) > SLACK_S * 1e9:
            late = (at - o.sent_ns - o.timeout_ns) / 1e6
            problems.append(f"timeout of ping {o.sequence} reported {late:.0f} ms after deadline")
            break

    detected = detect_ms(cell)
    if detected is None:
        problems.append("fault never detected")
    elif detected > fault.detect_bound_s * 1e3:
        problems.append(f"detected after {detected:.0f} ms > {fault.detect_bound_s * 1e3:.0f} ms")
    recovered = recover_ms(cell)
    if recovered is None:
        problems.append("never recovered (no OK probe in every mode after clearing)")
    elif recovered > fault.recover_bound_s * 1e3:
        problems.append(
            f"recovered after {recovered:.0f} ms > {fault.recover_bound_s * 1e3:.0f} ms"
        )

    if cell.leaked_tasks:
        problems.append(f"tasks left after stop: {cell.leaked_tasks}")
    if cell.open_sockets:
        problems.append(f"{cell.open_sockets} TCP connection(s) to the emulator left open")
    if cell.final_state is not ConnectionState.STOPPED:
        problems.append(f"final state {cell.final_state}")
    problems.extend(fault.check(cell))
    return problems


@dataclass(frozen=True)
class Row:
    """One line of the summary table."""

    fault: str
    mode: str
    detected_ms: float | None
    detect_bound_ms: float
    recovered_ms: float | None
    recover_bound_ms: float
    sent: int
    ok: int
    timeout: int
    aborted: int
    unsettled: int
    emulator_received: int
    reconnects: int
    verdict: str


def row_of(cell: Cell) -> Row:
    """The summary-table line of a finished cell."""
    counters = cell.counters.values()
    sent = sum(c.sent for c in counters)
    ok = sum(c.ok for c in counters)
    timeout = sum(c.timeout for c in counters)
    aborted = sum(c.aborted for c in counters)
    return Row(
        fault=cell.fault.name,
        mode=cell.mode_name,
        detected_ms=detect_ms(cell),
        detect_bound_ms=cell.fault.detect_bound_s * 1e3,
        recovered_ms=recover_ms(cell),
        recover_bound_ms=cell.fault.recover_bound_s * 1e3,
        sent=sent,
        ok=ok,
        timeout=timeout,
        aborted=aborted,
        unsettled=sent - ok - timeout - aborted,
        emulator_received=cell.emulator.get("pings_json", 0)
        + cell.emulator.get("pings_control", 0),
        reconnects=int(cell.status.get("reconnects", 0)),
        verdict="ok" if not check_cell(cell) else "FAIL",
    )


def format_table(rows: list[Row]) -> list[str]:
    """The fault matrix as a Markdown table (printed at the end of the run)."""

    def ms(value: float | None) -> str:
        return "never" if value is None else f"{value:.0f}"

    lines = [
        "| fault | mode | detected ms (bound) | recovered ms (bound) | sent | ok | timeout "
        "| aborted | lost | emu rcvd | reconnects | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.fault} | {r.mode} | {ms(r.detected_ms)} ({r.detect_bound_ms:.0f}) "
            f"| {ms(r.recovered_ms)} ({r.recover_bound_ms:.0f}) | {r.sent} | {r.ok} "
            f"| {r.timeout} | {r.aborted} | {r.unsettled} | {r.emulator_received} "
            f"| {r.reconnects} | {r.verdict} |"
        )
    injected = len(rows)
    detected = sum(r.detected_ms is not None for r in rows)
    recovered = sum(r.recovered_ms is not None for r in rows)
    lost = sum(r.unsettled for r in rows)
    not_ok = sum(r.timeout + r.aborted for r in rows)
    lines.append("")
    lines.append(
        f"faults injected {injected}, detected {detected}, recovered {recovered}, "
        f"probes lost (no outcome) {lost}, probes timed out or aborted {not_ok}"
    )
    return lines


SUMMARY: list[Row] = []
"""Rows of every cell run in this session (the chaos conftest prints them)."""

SECTIONS: dict[str, list[str]] = {}
"""Further report sections by title (collector faults, memory plateau), printed after
the matrix by the chaos conftest when their tests ran."""


@dataclass
class MatrixRun:
    """Every cell of one matrix run plus process-wide observations."""

    cells: dict[str, Cell]
    loop_errors: list[dict[str, Any]]
    problem_logs: list[logging.LogRecord]
    fds_before: int
    fds_after: int
    tasks_left: list[str]
    seconds: float


def fd_count() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def run_matrix(faults: tuple[Fault, ...] = FAULTS) -> MatrixRun:
    """Run every fault x mode at once on one fresh event loop."""
    handler = ProblemLog()
    root = logging.getLogger()
    root.addHandler(handler)
    fds_before = fd_count()
    loop_errors: list[dict[str, Any]] = []
    tasks_left: list[str] = []
    started = time.perf_counter()

    async def main() -> dict[str, Cell]:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
        jobs = [run_cell(f, m) for f in faults for m in MODES]
        cells = await asyncio.gather(*jobs)
        await asyncio.sleep(0.05)  # let transports finish closing
        still_open = open_sockets_by_port()
        for cell in cells:
            cell.open_sockets = still_open.get(cell.emu.port, 0)
        await asyncio.gather(*(c.emu.stop() for c in cells))
        await asyncio.sleep(0.05)
        me = asyncio.current_task()
        tasks_left.extend(t.get_name() for t in asyncio.all_tasks() if t is not me)
        return {c.name: c for c in cells}

    from otel_genesys.agent import monitor

    margin = monitor.CHANNEL_EXPIRY_MARGIN_S
    monitor.CHANNEL_EXPIRY_MARGIN_S = CHANNEL_MARGIN_S
    try:
        cells = asyncio.run(main())
    finally:
        monitor.CHANNEL_EXPIRY_MARGIN_S = margin
        root.removeHandler(handler)
    with contextlib.suppress(Exception):
        import gc

        gc.collect()
    return MatrixRun(
        cells=cells,
        loop_errors=loop_errors,
        problem_logs=handler.records,
        fds_before=fds_before,
        fds_after=fd_count(),
        tasks_left=tasks_left,
        seconds=time.perf_counter() - started,
    )
