"""Plain-data views of outcomes and summaries: the ``--json`` schema.

Schema (one object per line, documented in docs/cli.md):
``{"type": "probe", "target", "mode", "sequence", "outcome", "rtt_ms", "jitter_ms",
"jitter_rfc3550_ms", "stability", "breaches", "confidence", "sent_at", "lateness_ms",
"error_type"}`` and a final ``{"type": "summary", "targets": [...], "exit_code"}``.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table

from otel_genesys.core.outcome import ProbeOutcome
from otel_genesys.core.sink import NullSink
from otel_genesys.core.window import nearest_rank

if TYPE_CHECKING:
    from otel_genesys.agent.runner import CheckResult, ModeSummary, TargetVerdict


def _ms(ns: int | None) -> float | None:
    return None if ns is None else round(ns / 1e6, 4)


def outcome_dict(o: ProbeOutcome) -> dict[str, Any]:
    """One probe outcome as JSON-able data (no secrets, no channel ids)."""
    return {
        "type": "probe",
        "target": o.target.name,
        "mode": o.mode.value,
        "sequence": o.sequence,
        "outcome": o.outcome.value,
        "rtt_ms": _ms(o.rtt_ns),
        "jitter_ms": _ms(o.jitter_ns),
        "jitter_rfc3550_ms": _ms(o.jitter_rfc3550_ns),
        "stability": round(o.stability, 6),
        "breaches": [b.threshold for b in o.breaches],
        "confidence": o.confidence.value,
        "loop_lag_ms": _ms(o.loop_lag_ns),
        "sent_at": datetime.fromtimestamp(o.sent_wall_ns / 1e9, UTC).isoformat(),
        "timeout_ms": _ms(o.timeout_ns),
        "lateness_ms": _ms(o.lateness_ns),
        "error_type": o.error_type,
    }


def outcome_line(o: ProbeOutcome) -> str:
    """One probe outcome as a short human-readable line."""
    if o.rtt_ns is not None:
        body = f"rtt={o.rtt_ns / 1e6:8.3f}ms"
        if o.jitter_ns is not None:
            body += f" jitter={o.jitter_ns / 1e6:7.3f}ms"
    else:
        body = f"{o.outcome.value.upper():>7} after {o.timeout_ns / 1e6:.0f}ms"
    flags = ",".join(b.threshold for b in o.breaches)
    tail = f" stability={o.stability * 100:5.1f}%"
    if flags:
        tail += f" BREACH[{flags}]"
    if o.confidence.value != "trusted":
        tail += f" {o.confidence.value}(lag={o.loop_lag_ns / 1e6:.1f}ms)"
    return f"{o.target.name} {o.mode.value:<12} #{o.sequence:<5} {body}{tail}"


class StreamSink(NullSink):
    """Writes each outcome to a stream as a JSON line or a text line."""

    def __init__(self, stream: TextIO | None = None, *, as_json: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.as_json = as_json

    def outcome(self, outcome: ProbeOutcome) -> None:
        if self.as_json:
            line = json.dumps(outcome_dict(outcome), separators=(",", ":"))
        else:
            line = outcome_line(outcome)
        self.stream.write(line + "\n")
        self.stream.flush()


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def check_tables(
    summaries: Sequence[ModeSummary],
    unreachable: Sequence[str] = (),
    verdicts: Sequence[TargetVerdict] = (),
) -> list[Table]:
    """The ``check`` summary as rich tables: per target and mode, then the thresholds."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for name in (
        "target",
        "mode",
        "sent",
        "ok",
        "timeouts",
        "aborted",
        "p50 ms",
        "p99 ms",
        "max ms",
        "jitter p99",
        "stability",
        "degraded",
        "breaches",
    ):
        table.add_column(
            name, justify="left" if name in ("target", "mode", "breaches") else "right"
        )
    for s in summaries:
        d = s.as_dict()
        jitters = sorted(s.jitters_ns)
        jitter_p99 = nearest_rank(jitters, 0.99) / 1e6 if jitters else None
        stability = f"{s.ok / s.sent * 100:.1f}%" if s.sent else "-"
        degraded = f"{s.degraded / s.sent * 100:.1f}%" if s.sent else "-"
        breaches = ",".join(f"{k}={v}" for k, v in sorted(d["breaches"].items())) or "-"
        table.add_row(
            s.target,
            s.mode,
            str(s.sent),
            str(s.ok),
            str(s.timeout),
            str(s.aborted),
            _num(d["rtt_p50_ms"]),
            _num(d["rtt_p99_ms"]),
            _num(d["rtt_max_ms"]),
            _num(jitter_p99),
            stability,
            degraded,
            breaches,
        )
    for name in unreachable:
        table.add_row(name, "-", "0", "0", *["-"] * 8, "UNREACHABLE")
    tables = [table]
    if verdicts:
        vt = Table(title="thresholds", box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
        for name in ("threshold", "target", "mode", "observed", "result"):
            vt.add_column(name)
        for tv in verdicts:
            v = tv.verdict
            vt.add_row(
                v.expr.source, tv.target, tv.mode, v.observed_text(), "ok" if v.passed else "FAILED"
            )
        tables.append(vt)
    return tables


def summary_table(
    summaries: Sequence[ModeSummary],
    unreachable: Sequence[str] = (),
    verdicts: Sequence[TargetVerdict] = (),
    errors: Mapping[str, str | None] | None = None,
    *,
    width: int = 140,
) -> str:
    """A readable summary of a ``check`` run as plain text (no colours)."""
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, force_terminal=False)
    for table in check_tables(summaries, unreachable, verdicts):
        console.print(table)
    for name in unreachable:
        why = (errors or {}).get(name)
        if why:
            from otel_genesys.telemetry.logs import scrub

            console.print(f"{name}: unreachable, last error: {scrub(why)}", soft_wrap=True)
    # rich pads lines to the console width; trailing blanks only get in the way of diffs.
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()).strip("\n") + "\n"


def verdict_line(result: CheckResult) -> str:
    """One line saying how ``check`` ended and why (its exit code)."""
    code = result.exit_code
    if code == 0:
        return "check passed (exit 0): every probe answered and every threshold held"
    if code == 3:
        return f"check failed (exit 3): unreachable: {', '.join(result.unreachable)}"
    why: list[str] = []
    timeouts = sum(s.timeout for s in result.summaries)
    if timeouts:
        why.append(f"{timeouts} probe(s) timed out")
    breached = sum(sum(s.breaches.values()) for s in result.summaries)
    if breached:
        why.append(f"{breached} configured threshold breach(es)")
    failed = [tv for tv in result.verdicts if not tv.verdict.passed]
    if failed:
        exprs = sorted({tv.verdict.expr.source for tv in failed})
        why.append(f"--threshold failed: {', '.join(exprs)}")
    if not why:
        why.append("fewer probes settled than asked for")
    return f"check failed (exit {code}): {'; '.join(why)}"
