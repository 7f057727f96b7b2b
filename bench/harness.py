"""The orchestrator: servers, client processes, repetitions, raw results.

Every measured client runs in its own process (see :mod:`bench._client`);
servers run in theirs (the emulator for truth runs, :mod:`bench.pong_server`
for scale runs). This process only starts things, reads counters and keeps
the OTLP discard endpoint. Within one repetition every client of a suite
meets the same server, one after the other, so each ratio in the report
compares runs taken minutes apart at most, never across sessions.
"""

from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bench._client import ClientSpec
from bench._otlp_sink import DiscardSink, HttpDiscardSink

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

BEFORE = ("nospread", "switch=0.005")
"""Bench switches that undo the two scheduling optimisations (staggered first
probes, 0.5 ms GIL switch interval): the ``agent, before`` variant measures
what they bought, in the same repetition."""


@dataclass(frozen=True, slots=True)
class Variant:
    """One client configuration of the scale suite."""

    name: str
    kind: str
    telemetry: str = "otlp"
    span_ratio: float = 1.0
    levers: tuple[str, ...] = ()
    counts: tuple[int, ...] = ()
    """Connection counts this variant runs at (empty: all of the plan's)."""
    exporter: str = "otlp_grpc"
    """OTLP over gRPC (the discarding endpoint ``DiscardSink``) or ``otlp_http``
    (``HttpDiscardSink``)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """How much to measure. ``full()``, ``quick()`` and ``smoke()`` are the presets."""

    name: str
    reps: int
    truth_delays_ms: tuple[float, ...]
    truth_modes: tuple[str, ...]
    truth_kinds: tuple[str, ...]
    truth_interval_s: float
    truth_phase_s: float
    scale_counts: tuple[int, ...]
    variants: tuple[Variant, ...]
    warmup_s: float
    window_s: float
    window_one_s: float
    """Window at one connection (few cycles per second: longer)."""
    profile_count: int = 0
    """Connections for the py-spy profile (0: no profile)."""
    instrumentation: bool = False
    suites: tuple[str, ...] = ("truth", "scale", "profile", "instrumentation")
    order_seed: int = 0
    """Seeds the scale suite's shuffled order (``variant_order``). ``python -m bench``
    draws a new one per run unless ``--seed`` is given, and the report prints it."""

    @classmethod
    def full(cls) -> Plan:
        """The reference run: about 40 minutes on 2 cores."""
        return cls(
            name="full",
            reps=3,
            truth_delays_ms=(0.0, 1.0, 5.0, 50.0, 200.0),
            truth_modes=("notification", "control"),
            truth_kinds=("bare", "agent", "agent, export process",
                         "agent, export process, stamped at wake-up",
                         "agent, export process, stamped at read", "websockets"),
            # Pings 250 ms apart: a 200 ms pong never overlaps the next ping. (Notification
            # pings carry no id; with overlapping pings and a timeout, FIFO matching may pair
            # a late pong with the next ping: see docs/performance.md.)
            truth_interval_s=0.25,
            # 5 s per D: 20 pongs per D per repetition, 60 pooled over three for the
            # overshoot-corrected p99 (3 s gave 36, where p99 is just the max).
            truth_phase_s=5.0,
            scale_counts=(1, 1000, 5000, 10000),
            variants=(
                Variant("bare", "bare"),
                Variant("agent", "agent"),
                # The shipped placement (`otel-genesys run`): every count, so each
                # target has a verdict for it as well as for the telemetry thread.
                Variant("agent, export process", "agent", telemetry="isolated"),
                # The same over OTLP/HTTP: no gRPC threads that wake on their own.
                Variant("agent, export process, OTLP/HTTP", "agent", telemetry="isolated",
                        exporter="otlp_http", counts=(1, 10000)),
                Variant("agent, spans 10%", "agent", span_ratio=0.1, counts=(1000, 10000)),
                # The event-loop lever: the shipped placement on uvloop instead of asyncio.
                Variant("agent, export process, uvloop", "agent", telemetry="isolated",
                        levers=("uvloop",), counts=(5000, 10000)),
                Variant("agent, no telemetry", "agent", telemetry="off", counts=(1, 1000, 10000)),
                # The shared alarm clock undone: one asyncio timer per connection's alarm.
                Variant("agent, export process, timer per alarm", "agent", telemetry="isolated",
                        levers=("timers",), counts=(1000, 10000)),
                # The chunked hand-off undone: the shipping thread pickles each batch.
                Variant("agent, export process, pickled by the shipping thread", "agent",
                        telemetry="isolated", levers=("threadpickle",), counts=(1000, 10000)),
                # Records pickled but not sent: the export process idles (diagnostic).
                Variant("agent, export process, nothing sent", "agent", telemetry="isolated",
                        levers=("nosend",), counts=(10000,)),
                # The pong tap undone: every pong read by the reader task, as before.
                Variant("agent, export process, pongs via reader", "agent",
                        telemetry="isolated", levers=("reader",), counts=(1000, 10000)),
                # The stagger grid (a setting, off by default): targets on one 1 ms step
                # share a slot and one wake-up; coarser grids put more targets in a slot.
                Variant("agent, export process, grid 1 ms", "agent", telemetry="isolated",
                        levers=("grid=0.001",), counts=(1000, 5000, 10000)),
                Variant("agent, export process, grid 2 ms", "agent", telemetry="isolated",
                        levers=("grid=0.002",), counts=(10000,)),
                Variant("agent, export process, grid 4 ms", "agent", telemetry="isolated",
                        levers=("grid=0.004",), counts=(10000,)),
                # Kernel receive stamps undone: a pong's arrival is the loop's wake-up.
                Variant("agent, export process, stamped at wake-up", "agent",
                        telemetry="isolated", levers=("wakestamp",), counts=(1000, 10000)),
                # The stamping loop undone: a pong's arrival read in the parsing callback.
                Variant("agent, export process, stamped at read", "agent", telemetry="isolated",
                        levers=("readstamp",), counts=(1000, 10000)),
                # Wake-ups at a few targets undone: records shipped every second (the
                # export process woken as often) and the stall tick on its own period.
                Variant("agent, export process, wake-ups as before", "agent",
                        telemetry="isolated", levers=("wakeups",), counts=(1,)),
                # The telemetry.export_cpus setting (off by default): the export process
                # on CPU 1, the agent's process on the other CPUs.
                Variant("agent, export process, pinned", "agent", telemetry="isolated",
                        levers=("cpus=1",), counts=(10000,)),
                # The export process's lower priority undone: the agent's own.
                Variant("agent, export process, not reniced", "agent", telemetry="isolated",
                        levers=("nice=0",), counts=(5000, 10000)),
                Variant("agent, before", "agent", levers=BEFORE, counts=(1000,)),
                Variant("agent, 5 ms switch", "agent", levers=("switch=0.005",), counts=(1000,)),
                Variant("websockets", "websockets", counts=(1000,)),
            ),
            warmup_s=2.0,
            window_s=8.0,
            window_one_s=8.0,
            profile_count=5000,
            instrumentation=True,
        )

    @classmethod
    def quick(cls) -> Plan:
        """Under a minute: one repetition, small counts, no profile."""
        return cls(
            name="quick",
            reps=1,
            truth_delays_ms=(0.0, 5.0, 50.0),
            truth_modes=("notification", "control"),
            truth_kinds=("bare", "agent", "websockets"),
            truth_interval_s=0.1,
            truth_phase_s=1.0,
            scale_counts=(1, 200),
            variants=(
                Variant("bare", "bare"),
                Variant("agent", "agent"),
                Variant("agent, before", "agent", levers=BEFORE, counts=(200,)),
                Variant("agent, export process", "agent", telemetry="isolated", counts=(200,)),
                Variant("websockets", "websockets", counts=(200,)),
            ),
            warmup_s=0.5,
            window_s=3.0,
            window_one_s=3.0,
        )

    @classmethod
    def smoke(cls) -> Plan:
        """A few seconds: proves the harness end to end (used by the test suite)."""
        return cls(
            name="smoke",
            reps=1,
            truth_delays_ms=(0.0, 5.0),
            truth_modes=("control",),
            truth_kinds=("bare", "agent", "agent, export process"),
            truth_interval_s=0.1,
            truth_phase_s=0.6,
            scale_counts=(3,),
            variants=(Variant("bare", "bare"), Variant("agent", "agent"),
                      Variant("agent, export process", "agent", telemetry="isolated")),
            warmup_s=0.3,
            window_s=1.2,
            window_one_s=1.2,
        )

    def only(self, suites: tuple[str, ...]) -> Plan:
        """The same plan restricted to some suites."""
        unknown = set(suites) - {"truth", "scale", "profile", "instrumentation"}
        if unknown:
            raise ValueError(f"unknown suite(s): {', '.join(sorted(unknown))}")
        return replace(self, suites=suites)


@dataclass
class Results:
    """Everything measured, as plain data (also written to ``raw.json``)."""

    plan: dict[str, Any]
    machine: dict[str, Any]
    started: str
    command: str
    truth: list[dict[str, Any]] = field(default_factory=list)
    scale: list[dict[str, Any]] = field(default_factory=list)
    profile: dict[str, Any] | None = None
    instrumentation: dict[str, Any] | None = None
    duration_s: float = 0.0


def machine_facts() -> dict[str, Any]:
    """Where the numbers came from."""
    import psutil

    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# ------------------------------------------------------------------ processes


def _env() -> dict[str, str]:
    # The agent must export where the spec says, not where the caller's OTEL_* point.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


class Server:
    """A server subprocess whose first stdout line ends with its URL."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
            env=_env(),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line:
            self.stop()
            raise RuntimeError(f"server {argv} did not start")
        self.url = line.split()[-1]
        self.pid = self.proc.pid

    @classmethod
    def pong(cls) -> Server:
        """The bare aiohttp pong server."""
        return cls([sys.executable, "-m", "bench.pong_server", "--port", "0"])

    @classmethod
    def emulator(cls) -> Server:
        """The Genesys emulator (``otel-genesys emulator``)."""
        return cls([sys.executable, "-m", "otel_genesys", "emulator", "--port", "0"])

    def _http(self, path: str) -> str:
        """The URL of ``path`` on the pong server's HTTP side."""
        return self.url.replace("ws://", "http://").rsplit("/", 1)[0] + path

    def counters(self) -> dict[str, Any]:
        """The pong server's counters (empty for the emulator)."""
        try:
            with urllib.request.urlopen(self._http("/counters"), timeout=5) as resp:
                data: dict[str, Any] = json.loads(resp.read())
                return data
        except OSError:
            return {}

    def collect(self) -> float | None:
        """Ask the pong server for a full garbage collection (it makes none by itself);
        its duration in seconds, or None (the emulator, or no answer)."""
        request = urllib.request.Request(self._http("/collect"), data=b"", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                return float(json.loads(resp.read())["seconds"])
        except (OSError, ValueError, KeyError):
            return None

    def stop(self) -> None:
        """Terminate and reap (by pid: only what this object started)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def run_client(spec: ClientSpec, *, timeout_s: float, wrap: list[str] | None = None
               ) -> dict[str, Any]:
    """Run one client process; its JSON result, or ``{"error": …}``."""
    argv = [sys.executable, "-m", "bench._client", spec.to_json()]
    if wrap:
        argv = [*wrap, *argv]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, cwd=ROOT,
                              env=_env())
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f}s"}
    lines = [x for x in proc.stdout.strip().splitlines() if x.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr or proc.stdout)[-2000:]}
    result: dict[str, Any] = json.loads(lines[-1])
    if wrap:
        result["wrapper_output"] = proc.stderr[-2000:]
    return result


def _log(message: str, started: float) -> None:
    sys.stderr.write(f"[bench {time.monotonic() - started:6.0f}s] {message}\n")
    sys.stderr.flush()


# ------------------------------------------------------------------ suites


TRUTH_KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "agent, export process": ("agent", "isolated", ()),
    # The pong's arrival is the loop's wake-up, as before kernel receive stamps.
    "agent, export process, stamped at wake-up": ("agent", "isolated", ("wakestamp",)),
    # The pong's arrival read in the parsing callback, as before the stamping loop.
    "agent, export process, stamped at read": ("agent", "isolated", ("readstamp",)),
}
"""Truth clients that are the agent in another placement or with a lever: (client kind,
telemetry, levers). Every other truth kind is its own client kind, telemetry on a thread."""


def run_truth(plan: Plan, sink: DiscardSink, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """One socket to the emulator; every client walks the same pong delays."""
    out: list[dict[str, Any]] = []
    for rep in range(plan.reps):
        server = Server.emulator()
        try:
            for mode in plan.truth_modes:
                for kind in plan.truth_kinds:
                    if kind == "websockets" and mode != "control":
                        continue  # its keepalive is control frames only
                    client_kind, telemetry, levers = TRUTH_KINDS.get(kind, (kind, "otlp", ()))
                    spec = ClientSpec(
                        kind=client_kind, telemetry=telemetry, connections=1, url=server.url,
                        interval_s=plan.truth_interval_s,
                        warmup_s=min(plan.warmup_s, 1.0), mode=mode,
                        delays_ms=plan.truth_delays_ms, phase_s=plan.truth_phase_s,
                        otlp_endpoint=sink.endpoint, levers=levers,
                    )
                    log(f"truth rep {rep + 1}/{plan.reps}: {kind} {mode}")
                    # Each phase edge also waits for a quiet gap (about one interval).
                    budget = 60 + (len(plan.truth_delays_ms) + 1) * (
                        plan.truth_phase_s + 2 * plan.truth_interval_s + 2)
                    result = run_client(spec, timeout_s=budget)
                    out.append({**result, "rep": rep, "mode": mode, "kind": kind})
        finally:
            server.stop()
    return out


def _variant_spec(plan: Plan, v: Variant, n: int, server: Server, sink: DiscardSink,
                  http_sink: HttpDiscardSink | None = None) -> ClientSpec:
    endpoint = sink.endpoint
    if v.exporter == "otlp_http":
        if http_sink is None:
            raise ValueError(f"{v.name}: an OTLP/HTTP variant needs the HTTP sink")
        endpoint = http_sink.endpoint
    return ClientSpec(
        kind=v.kind, connections=n, url=server.url, interval_s=1.0, warmup_s=plan.warmup_s,
        window_s=plan.window_one_s if n == 1 else plan.window_s, telemetry=v.telemetry,
        otlp_endpoint=endpoint, exporter=v.exporter, span_ratio=v.span_ratio, levers=v.levers,
        server_pid=server.pid,
    )


def variant_order(variants: list[Variant], rep: int, reps: int, seed: int = 0) -> list[Variant]:
    """The variants in the order repetition ``rep`` runs them.

    The place in the order matters on this machine: in one run the same variant's
    lateness p99 at 10,000 connections was 49 ms as the second client after *bare*
    and 37 ms as the third, and the variant beside it moved the other way. With no
    more variants than repetitions the list is rotated, so each variant takes each
    place once. A longer list (the full run) is shuffled, seeded by ``seed`` and the
    repetition: a rotation keeps every variant's neighbours, and in the full run of
    2026-12-05 10:07 UTC the shipped placement ran straight after the overloaded
    thread placement in all three repetitions. ``python -m bench`` draws ``seed`` per
    run (and reports it), so two full runs do not repeat one order and whatever a place
    in it does; ``--seed`` repeats a run's order. Each repetition's ratios are still
    taken against the same server.

    >>> [v.name for v in variant_order([Variant(x, "bare") for x in "abc"], 1, 3)]
    ['b', 'c', 'a']
    >>> many = [Variant(x, "bare") for x in "abcdefgh"]
    >>> variant_order(many, 1, 3, 7) == variant_order(many, 1, 3, 7)
    True
    """
    if not variants:
        return []
    if len(variants) > max(1, reps):
        order = list(variants)
        random.Random(f"{seed}:{rep}").shuffle(order)
        return order
    shift = rep % len(variants)
    return variants[shift:] + variants[:shift]


def settle(pid: int | None, quiet_pct: float = 10.0, limit_s: float = 10.0) -> float:
    """Wait until the server process is quiet (under ``quiet_pct`` % of a core over a
    quarter second), at most ``limit_s``: the last client's sockets are closed and
    their clean-up is done before the next client starts. Returns the seconds waited."""
    import psutil

    started = time.monotonic()
    if pid is None:
        return 0.0
    try:
        proc = psutil.Process(pid)
        proc.cpu_percent(None)
        while time.monotonic() - started < limit_s:
            time.sleep(0.25)
            if proc.cpu_percent(None) < quiet_pct:
                break
    except psutil.Error:
        pass
    return time.monotonic() - started


def server_gc(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The pong server's garbage collections during one client's run, from its counters
    read before and after (the longest pause is reset by each read).

    >>> server_gc({"gc_pauses": 3, "gc_pause_s": 0.01},
    ...           {"gc_pauses": 5, "gc_pause_s": 0.31, "gc_pause_max_s": 0.25})
    {'server_gc_pauses': 2, 'server_gc_pause_s': 0.3, 'server_gc_pause_max_s': 0.25}
    >>> server_gc({}, {})
    {}
    """
    if "gc_pauses" not in after:
        return {}
    return {
        "server_gc_pauses": after["gc_pauses"] - before.get("gc_pauses", 0),
        "server_gc_pause_s": round(after["gc_pause_s"] - before.get("gc_pause_s", 0.0), 6),
        "server_gc_pause_max_s": after["gc_pause_max_s"],
    }


def run_scale(plan: Plan, sink: DiscardSink, log: Callable[[str], None],
              http_sink: HttpDiscardSink | None = None) -> list[dict[str, Any]]:
    """N sockets at 1 Hz to the pong server, each variant in turn, per repetition."""
    out: list[dict[str, Any]] = []
    for rep in range(plan.reps):
        server = Server.pong()
        try:
            for n in plan.scale_counts:
                for v in variant_order([v for v in plan.variants if not v.counts or n in v.counts],
                                       rep, plan.reps, plan.order_seed):  # fmt: skip
                    spec = _variant_spec(plan, v, n, server, sink, http_sink)
                    settle(server.pid)
                    # The last client's garbage goes now, not in the middle of this one.
                    collect_s = server.collect()
                    log(f"scale rep {rep + 1}/{plan.reps}: {n} connections, {v.name}")
                    before = server.counters()
                    result = run_client(spec, timeout_s=240 + n / 50)
                    time.sleep(0.2)  # let the server read the last pings before counting
                    after = server.counters()
                    server_pings = after.get("pings", 0) - before.get("pings", 0)
                    out.append({"rep": rep, "variant": v.name, "n": n,
                                "server_pings": server_pings, **server_gc(before, after),
                                "server_collect_before_s": collect_s, **result})
        finally:
            server.stop()
    return out


PYSPY = Path(sys.executable).with_name("py-spy")
"""Where the profile suite finds py-spy: beside this interpreter (the bench extra)."""


def run_profile(plan: Plan, sink: DiscardSink, log: Callable[[str], None]
                ) -> dict[str, Any] | None:
    """py-spy over one agent run (shipped defaults) at ``profile_count`` connections."""
    if plan.profile_count <= 0:
        return None
    if not PYSPY.exists():
        return {"error": "py-spy is not installed (.venv/bin/pip install py-spy)"}
    import tempfile

    from bench.profile import summarise

    raw = Path(tempfile.mkdtemp(prefix="bench-profile-")) / "profile.raw"
    server = Server.pong()
    try:
        spec = _variant_spec(plan, Variant("agent", "agent"), plan.profile_count, server, sink)
        spec = replace(spec, window_s=10.0)
        log(f"profile: py-spy on the agent at {plan.profile_count} connections")
        wrap = [str(PYSPY), "record", "--rate", "250", "--threads", "--nonblocking",
                "--format", "raw", "--output", str(raw), "--"]
        result = run_client(spec, timeout_s=300, wrap=wrap)
    finally:
        server.stop()
    try:
        if "error" in result or not raw.exists():
            return {"error": result.get("error", "no profile written")}
        summary = summarise(raw.read_text())
    finally:
        raw.unlink(missing_ok=True)
        raw.parent.rmdir()
    return {"connections": plan.profile_count, **summary}


def run_instrumentation(plan: Plan, log: Callable[[str], None]) -> dict[str, Any]:
    """Runs bench/instrumentation_overhead.py (another part of the bench) when present."""
    script = ROOT / "bench" / "instrumentation_overhead.py"
    if not script.exists():
        return {"status": "absent"}
    log("instrumentation: bench/instrumentation_overhead.py")
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.instrumentation_overhead"],
                              capture_output=True, text=True, timeout=600, cwd=ROOT, env=_env())
    except subprocess.TimeoutExpired:
        return {"status": "timeout"}
    return {"status": "ok" if proc.returncode == 0 else f"exit {proc.returncode}",
            "output": proc.stdout[-4000:], "stderr": proc.stderr[-1500:]}


def run(plan: Plan, out_dir: Path = RESULTS, command: str = "python -m bench") -> Results:
    """Run the plan's suites; write ``raw.json``, ``REPORT.md`` and the plots to ``out_dir``."""
    from bench.report import write_report

    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)

    def log(message: str) -> None:
        _log(message, started)

    results = Results(plan=asdict(plan), machine=machine_facts(),
                      started=time.strftime("%Y-%m-%d %H:%M:%S %Z"), command=command)
    def checkpoint() -> None:
        # After every suite: a failure later on never loses what was measured
        # (``python -m bench --report-only`` renders whatever raw.json holds).
        results.duration_s = time.monotonic() - started
        (out_dir / "raw.json").write_text(json.dumps(asdict(results), indent=1))

    with DiscardSink() as sink, HttpDiscardSink() as http_sink:
        if "truth" in plan.suites:
            results.truth = run_truth(plan, sink, log)
            checkpoint()
        if "scale" in plan.suites:
            results.scale = run_scale(plan, sink, log, http_sink)
            checkpoint()
        if "profile" in plan.suites:
            try:
                results.profile = run_profile(plan, sink, log)
            except Exception as exc:  # a broken profile must not cost the whole run
                results.profile = {"error": f"{type(exc).__name__}: {exc}"}
        results.machine["otlp_received"] = sink.snapshot()
        results.machine["otlp_http_received"] = http_sink.snapshot()
    checkpoint()
    if "instrumentation" in plan.suites and plan.instrumentation:
        results.instrumentation = run_instrumentation(plan, log)
    checkpoint()
    write_report(results, out_dir)
    log(f"done: {out_dir / 'REPORT.md'}")
    return results
