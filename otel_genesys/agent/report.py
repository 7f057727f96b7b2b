"""Plain-data views of outcomes and summaries: the ``--json`` schema.

Schema (one object per line, documented in docs/cli.md):
``{"type": "probe", "target", "mode", "sequence", "outcome", "rtt_ms", "jitter_ms",
"jitter_rfc3550_ms", "stability", "breaches", "confidence", "sent_at", "lateness_ms",
"error_type"}`` and a final ``{"type": "summary", "targets": [...], "exit_code"}``.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from otel_genesys.core.outcome import ProbeOutcome
from otel_genesys.core.sink import NullSink


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


def summary_table(summaries: Any, unreachable: Any = ()) -> str:
    """A readable fixed-width summary of a ``check`` run."""
    header = (
        f"{'target':<20} {'mode':<12} {'sent':>5} {'ok':>5} {'timeout':>7} {'aborted':>7} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'breaches':<20}"
    )
    lines = [header, "-" * len(header)]
    for s in summaries:
        d = s.as_dict()

        def num(v: float | None) -> str:
            return "-" if v is None else f"{v:.3f}"

        breaches = ",".join(f"{k}={v}" for k, v in sorted(d["breaches"].items())) or "-"
        lines.append(
            f"{d['target']:<20} {d['mode']:<12} {d['sent']:>5} {d['ok']:>5} {d['timeout']:>7} "
            f"{d['aborted']:>7} {num(d['rtt_p50_ms']):>8} {num(d['rtt_p99_ms']):>8} {breaches:<20}"
        )
    for name in unreachable:
        lines.append(f"{name:<20} unreachable")
    return "\n".join(lines) + "\n"
