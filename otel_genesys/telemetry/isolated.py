"""Telemetry in a separate export process, so OTel work never competes with probing.

Why: in one process, the SDK's per-probe work (metric points, spans, OTLP
encoding) runs on threads that hold the GIL the event loop needs. The
benchmark (bench/results/REPORT.md) measured it: at 5,000 connections those
threads took most of a core and RTT p50 grew from a few ms to about a second,
while the agent with no telemetry at all stayed beside a bare client. Here
the agent's process keeps only the cheap half of the recorder
(:class:`ForwardingRecorder`: append a record to a bounded queue, pickle a
full chunk of them on the spot, and let a thread write the chunks into a pipe;
:mod:`otel_genesys.telemetry.chunked` says why the pickling is not left to that
thread; ``python -m bench.telemetry_cost`` reports the hand-off's cost a
record), and a child process runs
:func:`~otel_genesys.telemetry.setup.setup_telemetry` and a normal
:class:`~otel_genesys.telemetry.recorder.Recorder`, which its main thread
drives chunk by chunk as they arrive from that pipe. On a machine with two
or more cores, exporting then runs on another core.

Protocol (pickled tuples over one socket pair, ``multiprocessing.connection``
framing): parent → child ``("targets", [(number, fields)])`` (see
:class:`TargetRefs`), ``("batch", [records])``, ``("dropped", count)`` (records
the parent dropped so far, when it changed), ``("flush", id, timeout)``,
``("close", timeout)``; child → parent ``("ready", routes)``, ``("health",
counters)`` when they changed (checked about once a second), ``("flushed", id, ok)``,
``("closed", ok)``.

Guarantees: the probe path never blocks (a full queue drops the oldest record,
counted); a slow or stuck child only fills that queue; the child ignores
SIGINT/SIGTERM (a terminal's Ctrl-C or a systemd stop reaches the whole group)
and exits when told to, or when the parent is gone (end of file on the pipe).
The child is started with ``python -m otel_genesys.telemetry.isolated``, not
``fork``, so nothing of the parent's threads or event loop is copied.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import io
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from multiprocessing.connection import Connection
from typing import Any

from otel_genesys.core.events import AuditEvent
from otel_genesys.core.outcome import TargetInfo, _target_values
from otel_genesys.cpus import format_cpu_list, pin_to_cpus
from otel_genesys.telemetry.chunked import CHUNK_RECORDS, EncodingQueue
from otel_genesys.telemetry.export_health import ExportHealth
from otel_genesys.telemetry.gctune import (
    fix_mmap_threshold,
    gc_tune,
    limit_malloc_arenas,
    malloc_trim,
)
from otel_genesys.telemetry.recorder import QueuedSink, log_audit
from otel_genesys.telemetry.settings import TelemetrySettings

_log = logging.getLogger(__name__)

_HEALTH_PERIOD_S = 0.5
"""The export process checks its counters at most this often (and sends them if moved)."""
SHIP_INTERVAL_S = 5.0
"""The longest the agent's process holds records before shipping them to the export
process, unless a quarter of the queue (at most 1,024 records) or an audit event is
waiting first (see :func:`ship_interval_s` for the interval in effect).

Each shipment wakes a thread in both processes, and at a few targets a wake-up is
most of what either thread does: after a second asleep, one shipment of one record
cost the shipping thread about 0.4 ms of CPU and the export process's main thread
as much again (caches gone cold, measured per thread with ``schedstat``), more than
the bare ping loop's whole cycle. Shipping every 5 s instead of every second
(docs/performance.md, *Wake-ups at a few targets*) divides that by five, and nothing
downstream wants the records sooner: spans leave in batches every 5 s and metrics
every 10 s by default. Above a few hundred records a second the quarter-queue mark
ships them first, so at scale this interval changes nothing."""


def ship_interval_s(settings: TelemetrySettings) -> float:
    """How often the agent ships records to its export process, at the latest.

    :data:`SHIP_INTERVAL_S`, but never longer than the span batching delay nor half
    the metric export period, so every metric export holds the probes of all but
    the last half period, and a span waits for at most two batching delays.

    >>> ship_interval_s(TelemetrySettings())
    5.0
    >>> ship_interval_s(TelemetrySettings(export_interval_ns=2_000_000_000))
    1.0
    >>> ship_interval_s(TelemetrySettings(span_export_delay_s=0.01))
    0.05
    """
    return max(0.05, min(SHIP_INTERVAL_S, settings.span_delay_s(),
                         settings.export_interval_ns / 2e9))  # fmt: skip


_PICKLE = pickle.HIGHEST_PROTOCOL
EXPORT_NICE = 10
"""The export process runs this many steps nicer than the agent (``telemetry.export_nice``).

When the two processes, the host's other work and the network stack all want the
cores, the kernel gives the probing loop its core first and the export process
waits: its work is batched every few seconds anyway, while a loop that waits for
a core sends its probes late and reads their pongs late. On a host that stays
saturated, the export process falls behind, its queues fill and records are
dropped (counted: ``genesys.agent.telemetry.dropped``), never probes. Measured in
docs/performance.md (*The export process's priority*)."""


def lower_priority(increment: int) -> bool:
    """Make this process ``increment`` steps nicer; True if done.

    Call it before any thread starts: Linux keeps a nice value per thread, and a new
    thread inherits its creator's, so every exporter thread started later runs at it.
    """
    if increment <= 0:
        return False
    try:
        os.nice(increment)
    except OSError as exc:  # a platform without it, or a sandbox that forbids it
        _log.warning("telemetry export process: could not lower its priority (%s)", exc)
        return False
    return True


def plan_cpus(export_cpus: Collection[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``telemetry.export_cpus`` as (the export process's CPUs, the agent's process's).

    The agent's process keeps to the CPUs it may use now but the export process's.
    ``((), ())`` (nobody pinned, with a warning) when the platform cannot pin, or when
    a requested CPU is not one this process may use (a smaller host or cpuset than
    the configuration was written for). When the export process would take every
    CPU, the agent's process keeps them all, with a warning.
    """
    if not export_cpus:
        return (), ()
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is None or not hasattr(os, "sched_setaffinity"):
        _log.warning("telemetry.export_cpus: this platform cannot pin a process to CPUs; "
                     "ignored")
        return (), ()
    allowed = set(getaffinity(0))
    wanted = set(export_cpus)
    if not wanted <= allowed:
        _log.warning(
            "telemetry.export_cpus: CPU %s not available to this process (it may use %s); "
            "the export process is not pinned",
            format_cpu_list(wanted - allowed), format_cpu_list(allowed),
        )
        return (), ()
    rest = tuple(sorted(allowed - wanted))
    if not rest:
        _log.warning("telemetry.export_cpus: %s is every CPU this process may use; the "
                     "agent's own process keeps them all", format_cpu_list(wanted))
    return tuple(sorted(wanted)), rest


_PUMP_AFTER_CHUNKS = 16
"""The export process's recorder pumps at least every this many chunks (4,096 records)."""
COLLECT_PERIOD_S = 60.0
"""The export process sweeps its memory this often (:class:`MemorySweep`) ..."""
COLLECT_PERIOD_FAILING_S = 10.0
"""... and this often while exports fail."""


@dataclass(slots=True)
class SharedHealth(ExportHealth):
    """The export process's :class:`ExportHealth` as last reported, plus its recorder's."""

    recorder_dropped: int = 0
    recorder_errors: int = 0
    reports: int = 0
    """Health messages received so far."""


_HEALTH_NAMES = frozenset(f.name for f in fields(SharedHealth)) - {"reports"}


@dataclass(frozen=True, slots=True)
class _Launch:
    """What the child needs to build its telemetry (pickled to it at start)."""

    settings: TelemetrySettings
    resource_attributes: Mapping[str, str] | None
    log_level: str
    log_format: str
    secrets: tuple[str, ...]
    nice: int = 0
    ship_interval_s: float = SHIP_INTERVAL_S
    """The agent's shipping interval: the export process's main thread sleeps as long."""
    cpus: tuple[int, ...] = ()
    """The CPUs the export process keeps to (``telemetry.export_cpus``); () for any."""


_TARGETS: dict[int, TargetInfo] = {}
"""In the export process: every target the agent's process has defined, by number."""


def _target(ref: int, values: tuple[Any, ...] | None = None) -> TargetInfo:
    """Unpickling a target reference (export process): define it, or look it up."""
    if values is not None:
        _TARGETS[ref] = TargetInfo(*values)
    return _TARGETS[ref]


def define_targets(definitions: Sequence[tuple[int, tuple[Any, ...]]]) -> None:
    """Export process: learn the targets of a ``("targets", ...)`` message."""
    for ref, values in definitions:
        _target(ref, values)


class TargetRefs:
    """Targets cross the pipe by number. Each is defined once, in a ``("targets",
    [(number, fields), ...])`` message sent ahead of any chunk that names it, so a
    chunk dropped on the way (a full queue) never takes a definition with it.

    A batch names up to thousands of targets, and each used to be rebuilt in the
    export process as a new object for every outcome (a frozen dataclass and its
    hash); the export process now keeps one object per target, which also turns
    its dictionary look-ups into identity hits (``python -m bench.telemetry_cost``
    reports the hand-off's cost per outcome). Bounded by the distinct targets
    (equal targets share a number). Not thread-safe: its owner serialises calls.

    >>> from otel_genesys.core.outcome import TargetKind
    >>> refs = TargetRefs()
    >>> t = TargetInfo("a", TargetKind.GENERIC, "h", 443, "wss")
    >>> data = refs.dumps((t, t))
    >>> define_targets(refs.take_definitions())
    >>> first, again = pickle.loads(data), pickle.loads(refs.dumps(t))
    >>> first[0] is first[1] is again and again == t and refs.take_definitions() == []
    True
    """

    def __init__(self) -> None:
        self._refs: dict[TargetInfo, int] = {}
        self._new: list[TargetInfo] = []
        """Defined by the :meth:`dumps` under way."""
        self._unsent: list[tuple[int, tuple[Any, ...]]] = []
        """Definitions not yet taken for sending."""
        self._table = {TargetInfo: self._reduce}

    def _reduce(self, target: TargetInfo) -> tuple[Any, tuple[Any, ...]]:
        ref = self._refs.get(target)
        if ref is None:
            ref = self._refs[target] = len(self._refs)
            self._new.append(target)
        return (_target, (ref,))

    def dumps(self, message: Any) -> bytes:
        """Pickle ``message`` with its targets as numbers; a target it names first is
        added to the definitions that :meth:`take_definitions` returns."""
        self._new.clear()
        out = io.BytesIO()
        pickler = pickle.Pickler(out, protocol=_PICKLE)
        pickler.dispatch_table = self._table  # type: ignore[assignment]
        try:
            pickler.dump(message)
        except BaseException:
            for target in self._new:  # never sent: the numbers are free again
                del self._refs[target]
            self._new.clear()
            raise
        refs = self._refs
        self._unsent.extend((refs[t], _target_values(t)) for t in self._new)
        self._new.clear()
        return out.getvalue()

    def take_definitions(self) -> list[tuple[int, tuple[Any, ...]]]:
        """The definitions made since the last call, to send before the chunks."""
        taken, self._unsent = self._unsent, []
        return taken

    def restore_definitions(self, definitions: list[tuple[int, tuple[Any, ...]]]) -> None:
        """Put back definitions that could not be sent (they go first next time)."""
        self._unsent[:0] = definitions


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Records pickled for the pipe, and how many."""

    records: int
    data: bytes


def _chunk_records(chunk: _Chunk) -> int:
    return chunk.records


def _picklable(record: Any) -> bool:
    try:
        pickle.dumps(record, protocol=_PICKLE)
    except Exception:
        return False
    return True


class ForwardingRecorder(QueuedSink):
    """The agent-side recorder: queue records, ship them to the export process.

    Same sink methods as :class:`~otel_genesys.telemetry.recorder.Recorder`.
    Records are pickled :data:`~otel_genesys.telemetry.chunked.CHUNK_RECORDS` at
    a time by the thread that records them (:class:`EncodingQueue`); a thread
    writes the chunks to the pipe.
    """

    _worker: EncodingQueue[Any, _Chunk]  # type: ignore[assignment]

    def __init__(
        self,
        conn: Connection,
        *,
        queue_size: int = 65_536,
        ship_interval_s: float = SHIP_INTERVAL_S,
        chunk_records: int = CHUNK_RECORDS,
    ) -> None:
        self._conn = conn
        self._send_lock = threading.Lock()
        self.ship_errors = 0
        """Chunks that could not be written to the pipe (the child is gone)."""
        self.unencodable = 0
        """Records that could not be pickled (each dropped alone, and counted)."""
        self.remote = SharedHealth()
        self._replies: dict[Any, Any] = {}
        self._reply = threading.Condition()
        self.routes: dict[str, str] = {}
        self._refs = TargetRefs()
        self._dropped_reported = 0
        """This process's dropped records as last told to the export process."""
        self._audit: collections.deque[AuditEvent] = collections.deque()
        """Audit events to log when the worker next runs (off the probe path)."""
        chunk = max(1, min(chunk_records, queue_size))
        self._worker = EncodingQueue(
            self._encode,
            _chunk_records,
            self._ship,
            maxlen=queue_size,
            chunk=chunk,
            # One interval, busy or idle: a record never wakes the worker by itself.
            interval_s=ship_interval_s,
            # A quarter of the queue, at most 1,024 records, wakes it sooner.
            wake_at=max(1, min(1_024, queue_size // 4) // chunk),
            name="otel-genesys-telemetry-forward",
        )
        self._reader = threading.Thread(
            target=self._read_replies, name="otel-genesys-telemetry-replies", daemon=True
        )
        self._reader.start()
        self._worker.start()

    def event(self, event: AuditEvent) -> None:
        """Queue one audit event and ship it now: its log line is written here, by
        the shipping thread, and an audit trail should not lag by a shipping interval."""
        self._audit.append(event)
        self._worker.put(event)
        self._worker.wake()

    # ------------------------------------------------------------------ parent → child

    def _send(self, message: tuple[Any, ...]) -> bool:
        data = pickle.dumps(message, protocol=_PICKLE)
        try:
            with self._send_lock:
                self._conn.send_bytes(data)
        except (OSError, ValueError):
            return False
        return True

    def _encode(self, records: list[Any]) -> _Chunk | None:
        """Pickle one chunk (under the queue's lock, on whichever thread filled it)."""
        try:
            return _Chunk(len(records), self._refs.dumps(("batch", records)))
        except (pickle.PicklingError, TypeError, AttributeError, ValueError):
            pass
        # One record that cannot be pickled (a bug upstream) must not cost its chunk.
        good = [r for r in records if _picklable(r)]
        self.unencodable += len(records) - len(good)
        self._worker.count_lost(len(records) - len(good))
        _log.warning("telemetry: %d record(s) could not be pickled for the export "
                     "process and were dropped", len(records) - len(good))  # fmt: skip
        if not good:
            return None
        return _Chunk(len(good), self._refs.dumps(("batch", good)))

    def _ship(self, chunks: list[_Chunk]) -> None:
        """Write the chunks to the pipe, after the targets they name (worker thread)."""
        audit = self._audit
        while audit:
            # The audit trail is written here, in the agent's process: its log
            # files, its terminal and the live view all see it.
            log_audit(audit.popleft())
        queue = self._worker
        with queue.lock:
            definitions = self._refs.take_definitions()
        conn = self._conn
        dropped = queue.dropped
        with self._send_lock:
            if dropped != self._dropped_reported:
                # The export process exports them (genesys.agent.telemetry.dropped).
                with contextlib.suppress(OSError, ValueError):
                    conn.send_bytes(pickle.dumps(("dropped", dropped), protocol=_PICKLE))
                    self._dropped_reported = dropped
            if definitions:
                try:
                    conn.send_bytes(pickle.dumps(("targets", definitions), protocol=_PICKLE))
                except (OSError, ValueError):
                    _log.debug("telemetry target definitions not shipped", exc_info=True)
                    with queue.lock:
                        self._refs.restore_definitions(definitions)
                    self.ship_errors += len(chunks)
                    queue.count_lost(sum(c.records for c in chunks))
                    return
            for chunk in chunks:
                try:
                    conn.send_bytes(chunk.data)
                except (OSError, ValueError):
                    _log.debug("telemetry chunk not shipped", exc_info=True)
                    self.ship_errors += 1
                    queue.count_lost(chunk.records)

    # ------------------------------------------------------------------ child → parent

    def _read_replies(self) -> None:
        while True:
            try:
                message = pickle.loads(self._conn.recv_bytes())
            except (EOFError, OSError):
                break
            except Exception:
                _log.debug("unreadable message from the export process", exc_info=True)
                continue
            kind = message[0]
            if kind == "health":
                remote = self.remote
                for name, value in message[1].items():
                    if name in _HEALTH_NAMES:
                        setattr(remote, name, int(value))
                remote.reports += 1
                continue
            if kind == "log":
                _relog(message)
                continue
            if kind == "ready":
                self.routes = dict(message[1])
            key = ("flushed", message[1]) if kind == "flushed" else kind
            with self._reply:
                self._replies[key] = message[-1]
                self._reply.notify_all()
        with self._reply:
            self._replies["eof"] = True
            self._reply.notify_all()

    def _await(self, key: Any, deadline: float) -> Any:
        with self._reply:
            while key not in self._replies and "eof" not in self._replies:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._reply.wait(min(remaining, 0.1))
            return self._replies.pop(key, None)

    def wait_ready(self, timeout_s: float) -> bool:
        """True once the export process has built its providers."""
        return self._await("ready", time.monotonic() + timeout_s) is not None

    # ------------------------------------------------------------------ control

    @property
    def dropped(self) -> int:
        """Records dropped here (full queue, dead pipe) plus in the export process."""
        return self._worker.dropped + self.remote.recorder_dropped

    @property
    def errors(self) -> int:
        return self._worker.errors + self.remote.recorder_errors

    @property
    def worker_alive(self) -> bool:
        return self._worker.alive and self._reader.is_alive()

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Ship everything queued, then have the export process flush its exporters."""
        deadline = time.monotonic() + timeout_s
        shipped = self._worker.flush(timeout_s)
        token = time.monotonic_ns()
        remaining = max(0.0, deadline - time.monotonic())
        if not self._send(("flush", token, remaining)):
            return False
        return bool(self._await(("flushed", token), deadline)) and shipped

    def close(self, timeout_s: float = 5.0) -> bool:
        """Ship what is queued, then ask the export process to flush and shut down."""
        deadline = time.monotonic() + timeout_s
        shipped = self._worker.stop(timeout_s * 0.4)
        remaining = max(0.0, deadline - time.monotonic())
        if not self._send(("close", remaining)):
            return False
        return bool(self._await("closed", deadline)) and shipped


class IsolatedTelemetry:
    """Telemetry whose SDK runs in a child process; shut it down once at exit."""

    def __init__(self, process: subprocess.Popen[bytes], recorder: ForwardingRecorder) -> None:
        self.process = process
        self.recorder = recorder
        self._closed = False

    @property
    def health(self) -> SharedHealth:
        """The export process's counters, as of its last report (within about a second
        of a change)."""
        return self.recorder.remote

    @property
    def routes(self) -> dict[str, str]:
        """Where each signal goes, once the export process has reported ready."""
        return self.recorder.routes

    def force_flush(self, timeout_s: float = 5.0) -> bool:
        return self.recorder.flush(timeout_s)

    def shutdown(self, timeout_s: float = 5.0) -> bool:
        """Flush and stop the export process within ``timeout_s``; kill it if it hangs."""
        if self._closed:
            return True
        self._closed = True
        deadline = time.monotonic() + timeout_s
        ok = self.recorder.close(timeout_s * 0.8)
        with contextlib.suppress(OSError):
            self.recorder._conn.close()
        try:
            self.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(2.0)
            ok = False
        return ok and self.process.returncode == 0


def start_isolated_telemetry(
    settings: TelemetrySettings,
    *,
    resource_attributes: Mapping[str, str] | None = None,
    log_level: str = "INFO",
    log_format: str = "auto",
    secrets: Sequence[str] = (),
    nice: int = EXPORT_NICE,
    cpus: Collection[int] = (),
) -> IsolatedTelemetry:
    """Start the export process and return the telemetry whose recorder feeds it.

    Does not wait for the child to finish importing the SDK (about a second);
    records queue meanwhile. ``secrets`` are registered for redaction in the
    child's logs too. The child runs ``nice`` steps nicer than this process
    (:data:`EXPORT_NICE`; 0 keeps the same priority). With ``cpus`` the child keeps
    to those CPUs and this process to the others it may use (:func:`plan_cpus`).
    """
    export_cpus, own_cpus = plan_cpus(cpus)
    parent_sock, child_sock = socket.socketpair()
    launch = _Launch(
        settings=replace(settings, audit_log=False),
        resource_attributes=dict(resource_attributes) if resource_attributes else None,
        log_level=log_level,
        log_format=log_format,
        secrets=tuple(secrets),
        nice=max(0, int(nice)),
        ship_interval_s=ship_interval_s(settings),
        cpus=export_cpus,
    )
    env = dict(os.environ)
    env["OTEL_GENESYS_EXPORT_FD"] = str(child_sock.fileno())
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_genesys.telemetry.isolated"],
        pass_fds=(child_sock.fileno(),),
        env=env,
        stdin=subprocess.DEVNULL,
        close_fds=True,
    )
    child_sock.close()
    if own_cpus and pin_to_cpus(own_cpus):
        _log.info("export process on CPU %s, the agent's process on CPU %s",
                  format_cpu_list(export_cpus), format_cpu_list(own_cpus))
    conn = Connection(parent_sock.detach())
    conn.send_bytes(pickle.dumps(launch, protocol=_PICKLE))
    recorder = ForwardingRecorder(conn, queue_size=settings.queue_size,
                                  ship_interval_s=launch.ship_interval_s)
    return IsolatedTelemetry(process, recorder)


# ====================================================================== the child


_LOG_EXTRAS = ("target", "event", "attributes")


class _ForwardingLogHandler(logging.Handler):
    """In the export process: send each log record to the agent's process."""

    def __init__(self, send: Any) -> None:
        super().__init__()
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            extras = {k: getattr(record, k) for k in _LOG_EXTRAS if hasattr(record, k)}
            self._send(("log", record.levelno, record.name, record.getMessage(), extras))
        except Exception:
            self.handleError(record)


def _relog(message: tuple[Any, ...]) -> None:
    """In the agent's process: write a log record that came from the export process."""
    _, level, name, text, extras = message
    logger = logging.getLogger(name)
    if logger.isEnabledFor(level):
        logger.log(level, "%s", text, extra={**extras, "export_process": True})


def _child(conn: Connection) -> int:
    from otel_genesys.telemetry.logs import RedactingFilter, register_secret
    from otel_genesys.telemetry.setup import setup_telemetry

    launch: _Launch = pickle.loads(conn.recv_bytes())
    send_lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with contextlib.suppress(OSError, ValueError), send_lock:
            conn.send_bytes(pickle.dumps(message, protocol=_PICKLE))

    # Every log line of this process (exporter warnings when the Collector is
    # down, ...) is written by the agent's process, which owns the terminal.
    handler = _ForwardingLogHandler(send)
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(launch.log_level.upper())
    for secret in launch.secrets:
        register_secret(secret)
    lower_priority(launch.nice)  # before the exporters start their threads
    pin_to_cpus(launch.cpus)
    # No recorder thread here: this thread reads each batch and hands it to the
    # recorder itself (``pump``), one queue hop and one thread wake-up fewer per
    # batch (docs/performance.md: the export process's CPU per probe at 10,000).
    # The exporters keep their own threads, so a slow Collector stalls only them.
    telemetry = setup_telemetry(
        launch.settings, resource_attributes=launch.resource_attributes, recorder_thread=False
    )
    gc_tune()

    health_names = tuple(f.name for f in fields(telemetry.health))

    def health() -> dict[str, int]:
        rec = telemetry.recorder
        h = telemetry.health
        out = {name: getattr(h, name) for name in health_names}
        out["recorder_dropped"] = rec.dropped
        out["recorder_errors"] = rec.errors + unreadable
        return out

    _log.debug("telemetry export process %d ready: %s", os.getpid(), telemetry.routes)
    send(("ready", telemetry.routes))
    recorder = telemetry.recorder
    unreadable = 0
    reported: dict[str, int] = {}
    next_health = time.monotonic()
    sweep = MemorySweep(next_health, telemetry.health)
    pending = 0  # chunks handed to the recorder since it last pumped
    # The longest this thread sleeps without a message: batches come at least this
    # often while the agent probes, so a quiet agent wakes it once per shipment, not
    # once a second as well. Held spans end and the counters are checked when it wakes.
    quiet_s = launch.ship_interval_s
    while True:
        # A recorder cycle is a few chunks, or a quiet shipping interval with none:
        # spans held for late audit events end at the next batch (an audit event is
        # shipped at once, so it arrives before that), or after a quiet interval.
        # Chunks come a few at a time: those already here are read before one pump.
        if pending and (pending >= _PUMP_AFTER_CHUNKS or not conn.poll(0)):
            recorder.pump()
            pending = 0
        try:
            ready = pending > 0 or conn.poll(quiet_s)  # pending: poll(0) said one waits
            message = pickle.loads(conn.recv_bytes()) if ready else None
        except (EOFError, OSError):
            telemetry.shutdown(5.0)  # the parent is gone: flush what we have and leave
            return 0
        except Exception:
            unreadable += 1  # counted with the recorder's errors; the next message is fine
            _log.warning("telemetry export process: unreadable message dropped", exc_info=True)
            message = None
        if message is None:
            if recorder.holding and not pending:
                recorder.pump()
        else:
            kind = message[0]
            if kind == "batch":
                recorder.submit_many(message[1])
                pending += 1
            elif kind == "targets":
                define_targets(message[1])
            elif kind == "dropped":
                recorder.upstream_dropped = int(message[1])
            elif pending:
                recorder.pump()  # what came before a flush or a close is in it
                pending = 0
            if kind == "flush":
                ok = telemetry.force_flush(float(message[2]))
                send(("health", health()))
                send(("flushed", message[1], ok))
            elif kind == "close":
                ok = telemetry.shutdown(float(message[1]))
                send(("health", health()))
                send(("closed", ok))
                return 0
        now = time.monotonic()
        if now >= next_health:
            # Checked at most twice a second, when awake anyway, and sent only when a
            # counter moved: neither process wakes for health alone.
            next_health = now + _HEALTH_PERIOD_S
            current = health()
            if current != reported:
                reported = current
                send(("health", current))
        sweep.tick(now)


class MemorySweep:
    """The export process's periodic full collection and heap trim.

    Its collector runs on the agent's raised thresholds (:func:`gc_tune`), so
    full collections are rare, and a reference cycle that reached the oldest
    generation waits for one, with whatever it holds. The cycles a failed
    export leaves are freed as it fails (``release_export_errors``,
    ``collect_after_failed_export``); the sweep frees any that got past them,
    from any library, within a minute, or ten seconds while the Collector is
    failing, when such cycles hold requests. After each collection
    ``malloc_trim`` hands the freed pages back, so RSS follows what is live
    rather than the last backlog's high-water mark.

    A sweep runs every :data:`COLLECT_PERIOD_S`, or :data:`COLLECT_PERIOD_FAILING_S`
    after the last one when exports failed since. It costs the export process's
    main thread a few milliseconds at 100 targets and about 50 at 10,000
    (docs/reliability.md), never the probe path.
    """

    __slots__ = ("_failures", "_health", "last", "sweeps")

    def __init__(self, now: float, health: ExportHealth) -> None:
        self.last = now
        self._health = health
        self._failures = 0
        self.sweeps = 0

    def tick(self, now: float) -> bool:
        """Sweep if one is due; True if it ran."""
        h = self._health
        failures = h.span_export_failures + h.metric_export_failures + h.log_export_failures
        failing = failures != self._failures
        if now - self.last < (COLLECT_PERIOD_FAILING_S if failing else COLLECT_PERIOD_S):
            return False
        self._failures = failures
        self.last = now
        started = time.perf_counter()
        found = gc.collect()
        malloc_trim()
        self.sweeps += 1
        _log.debug(
            "export process memory sweep: %d unreachable objects, %.1f ms",
            found,
            (time.perf_counter() - started) * 1e3,
        )
        return True


def main() -> int:
    """Entry point of the export process (``python -m otel_genesys.telemetry.isolated``)."""
    # Stops come from the parent (a close message, or the pipe's end), never from a
    # signal meant for the agent: Ctrl-C and systemd reach the whole process group.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    limit_malloc_arenas()
    fix_mmap_threshold()  # large export requests get pages of their own
    fd = int(os.environ.pop("OTEL_GENESYS_EXPORT_FD"))
    return _child(Connection(fd))


if __name__ == "__main__":
    # Run as the imported module, not as ``__main__``: unpickling resolves this
    # module's names (its target table) by their import path, so there is one copy.
    from otel_genesys.telemetry import isolated

    sys.exit(isolated.main())
