"""Ad-hoc limits for ``otel-genesys check --threshold``, in the spirit of k6 thresholds.

An expression states what must hold for every target and probe mode; when it
does not, the check fails (exit code 1).

Grammar (whitespace is allowed between tokens)::

    threshold := metric [ "." aggregate ] op number [ unit ]
    aggregate := "min" | "max" | "avg" | "med" | "count" | "rate"
               | "p" NUMBER | "p(" NUMBER ")"        percentile, 0 < NUMBER <= 100
    op        := "<" | "<=" | ">" | ">=" | "==" | "!="
    unit      := "ns" | "us" | "µs" | "ms" | "s" | "m"  (durations; bare number = ms)
               | "%"                                    (rates; 99% = 0.99)

Metrics and the aggregates they accept (the first one is the default when
the aggregate is left out; ``rtt`` and ``jitter`` need one):

================  ==========================  ============================================
metric            aggregates                  meaning
================  ==========================  ============================================
``rtt``           min max avg med pNN         round trip of the OK probes
``jitter``        min max avg med pNN         |RTT(n) - RTT(n-1)| of consecutive OK probes
``stability``     rate                        OK probes ÷ probes sent
``timeouts``      count, rate                 probes that got no pong in time (rate: ÷ sent)
``aborted``       count, rate                 probes cut off by a disconnect
``degraded``      rate, count                 probes taken while the agent itself stalled
``breaches``      count, rate                 probes that broke a configured threshold
================  ==========================  ============================================

Percentiles are nearest-rank (an actual sample, never an interpolation), as
everywhere else in otel-genesys. A statistic with no data (``rtt.p99`` when no
probe was answered) fails its threshold.

>>> t = parse_threshold("rtt.p99<300ms")
>>> t.metric, t.aggregate, t.op.value, t.value
('rtt', 'p99', '<', 300000000.0)
>>> evaluate(t, ThresholdData(sent=2, ok=2, rtts_ns=(1_000_000, 2_000_000))).passed
True
>>> parse_threshold("stability>99%").value
0.99
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from otel_genesys.core.window import nearest_rank

__all__ = [
    "METRICS",
    "MetricKind",
    "MetricSpec",
    "Op",
    "ThresholdData",
    "ThresholdExpr",
    "ThresholdVerdict",
    "evaluate",
    "evaluate_all",
    "format_value",
    "measure",
    "parse_threshold",
]


class Op(enum.Enum):
    """A comparison operator; the threshold holds when ``observed OP value``."""

    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "=="
    NE = "!="

    def holds(self, observed: float, limit: float) -> bool:
        """Whether ``observed OP limit`` is true."""
        if self is Op.LT:
            return observed < limit
        if self is Op.LE:
            return observed <= limit
        if self is Op.GT:
            return observed > limit
        if self is Op.GE:
            return observed >= limit
        if self is Op.EQ:
            return observed == limit
        return observed != limit


class MetricKind(enum.Enum):
    """What a statistic's number is, which decides the units it accepts."""

    DURATION = "duration"
    """Nanoseconds internally; written with a time unit (bare numbers are ms)."""
    RATIO = "ratio"
    """0 to 1; written as a fraction or with ``%``."""
    COUNT = "count"
    """A number of probes; no unit."""


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """A metric name, the aggregates it accepts, and its default aggregate."""

    name: str
    aggregates: tuple[str, ...]
    """Fixed aggregates; ``percentiles`` adds ``pNN``."""
    default: str | None
    """Used when the expression names no aggregate; None: one is required."""
    percentiles: bool
    description: str


_DISTRIBUTION = ("min", "max", "avg", "med")
_COUNTER = ("count", "rate")

METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("rtt", _DISTRIBUTION, None, True, "round trip of the OK probes"),
        MetricSpec(
            "jitter", _DISTRIBUTION, None, True, "|RTT(n) - RTT(n-1)| of consecutive OK probes"
        ),
        MetricSpec("stability", ("rate",), "rate", False, "OK probes / probes sent"),
        MetricSpec("timeouts", _COUNTER, "count", False, "probes with no pong in time"),
        MetricSpec("aborted", _COUNTER, "count", False, "probes cut off by a disconnect"),
        MetricSpec(
            "degraded", ("rate", "count"), "rate", False, "probes taken while the agent stalled"
        ),
        MetricSpec(
            "breaches", _COUNTER, "count", False, "probes that broke a configured threshold"
        ),
    )
}
"""Every metric a threshold can name."""

_TIME_UNITS_NS: dict[str, float] = {
    "ns": 1.0,
    "us": 1e3,
    "µs": 1e3,
    "ms": 1e6,
    "s": 1e9,
    "m": 60e9,
}
# Longest first so "ms" is not read as "m" followed by junk.
_UNIT_TOKENS = ("ns", "us", "µs", "ms", "s", "m", "%")
_OP_TOKENS = ("<=", ">=", "==", "!=", "<", ">")


@dataclass(frozen=True, slots=True)
class ThresholdExpr:
    """A parsed threshold: ``metric.aggregate op value``.

    ``value`` is in the metric's internal unit: nanoseconds for durations,
    a fraction for rates, a number of probes for counts.
    """

    metric: str
    aggregate: str
    """Canonical: ``min``, ``max``, ``avg``, ``med``, ``count``, ``rate`` or ``pNN``."""
    op: Op
    value: float
    source: str
    """The expression as written (for messages)."""

    @property
    def kind(self) -> MetricKind:
        """How the observed number and ``value`` are expressed."""
        return _kind(self.metric, self.aggregate)

    @property
    def quantile(self) -> float | None:
        """0 < q <= 1 for percentile and ``med`` aggregates, else None."""
        if self.aggregate == "med":
            return 0.5
        if self.aggregate.startswith("p"):
            return float(self.aggregate[1:]) / 100.0
        return None

    def __str__(self) -> str:
        return f"{self.metric}.{self.aggregate}{self.op.value}{format_value(self.value, self.kind)}"


def _kind(metric: str, aggregate: str) -> MetricKind:
    if metric in ("rtt", "jitter"):
        return MetricKind.DURATION
    if aggregate == "rate":
        return MetricKind.RATIO
    return MetricKind.COUNT


def format_value(value: float, kind: MetricKind) -> str:
    """A threshold or observed value written back in expression syntax.

    >>> format_value(300e6, MetricKind.DURATION), format_value(0.5, MetricKind.RATIO)
    ('300ms', '0.5')
    """
    if kind is MetricKind.DURATION:
        # Nanosecond precision is all a duration threshold can mean.
        return f"{_trim(round(value / 1e6, 6))}ms"
    return _trim(round(value, 9))


def _trim(x: float) -> str:
    """Shortest plain decimal for ``x``: no exponent, no trailing zeros."""
    text = format(Decimal(repr(float(x))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


class _Scanner:
    """A cursor over the expression that raises positioned ValueErrors."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, problem: str, pos: int | None = None) -> ValueError:
        at = self.pos if pos is None else pos
        found = self.text[at : at + 12]
        where = f"at column {at + 1} ({found!r})" if found else "at the end"
        return ValueError(f"invalid threshold {self.text!r}: {problem} {where}")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def word(self) -> str:
        start = self.pos
        text = self.text
        while (
            self.pos < len(text)
            and text[self.pos].isascii()
            and (text[self.pos].isalnum() or text[self.pos] == "_")
        ):
            self.pos += 1
        return self.text[start : self.pos]

    def take(self, options: Sequence[str]) -> str | None:
        for token in options:
            if self.text.startswith(token, self.pos):
                self.pos += len(token)
                return token
        return None

    def number(self, what: str) -> float:
        start = self.pos
        digits = 0
        while self.pos < len(self.text) and self.text[self.pos] in "0123456789.":
            digits += self.text[self.pos] != "."
            self.pos += 1
        raw = self.text[start : self.pos]
        if digits == 0 or raw.count(".") > 1:
            self.pos = start
            raise self.fail(f"expected {what}")
        value = float(raw)
        if not math.isfinite(value):
            raise self.fail("number too large", start)
        return value


def parse_threshold(text: str) -> ThresholdExpr:
    """Parse one expression; `ValueError` names the problem and its column.

    >>> str(parse_threshold(" jitter . p(95) <= 0.02s "))
    'jitter.p95<=20ms'
    >>> parse_threshold("rtt.p99<<3")
    Traceback (most recent call last):
    ...
    ValueError: invalid threshold 'rtt.p99<<3': expected a number at column 9 ('<3')
    """
    if not isinstance(text, str):
        raise ValueError(f"invalid threshold {text!r}: not a string")
    sc = _Scanner(text)
    sc.skip_space()
    if sc.pos >= len(text):
        raise ValueError("invalid threshold: empty expression (e.g. rtt.p99<300ms)")

    metric_pos = sc.pos
    metric = sc.word().lower()
    if not metric:
        raise sc.fail("expected a metric name")
    spec = METRICS.get(metric)
    if spec is None:
        raise sc.fail(f"unknown metric {metric!r} (one of: {', '.join(METRICS)})", metric_pos)

    sc.skip_space()
    aggregate = spec.default
    if sc.take((".",)):
        sc.skip_space()
        aggregate = _aggregate(sc, spec)
        sc.skip_space()
    elif aggregate is None:
        raise sc.fail(
            f"{metric} needs an aggregate ({', '.join(_aggregate_names(spec))}), e.g. {metric}.p99"
        )

    op_pos = sc.pos
    op_token = sc.take(_OP_TOKENS)
    if op_token is None:
        if text.startswith("=", op_pos):
            raise sc.fail("use '==' to compare for equality")
        raise sc.fail("expected an operator (<, <=, >, >=, ==, !=)")
    op = Op(op_token)

    sc.skip_space()
    value_pos = sc.pos
    value = sc.number("a number")
    sc.skip_space()
    unit_pos = sc.pos
    unit = sc.take(_UNIT_TOKENS)
    if unit is not None and unit != "%" and sc.pos < len(text) and text[sc.pos].isalpha():
        sc.pos = unit_pos  # e.g. "sec": report the whole word, not a half-read unit
        unit = None
    if unit is None and sc.pos < len(text) and text[sc.pos].isalpha():
        word = sc.word()
        raise sc.fail(f"unknown unit {word!r} (ns, us, ms, s, m or %)", unit_pos)
    sc.skip_space()
    if sc.pos < len(text):
        raise sc.fail("unexpected text after the value")

    kind = _kind(metric, aggregate)
    value = _scale(sc, kind, value, unit, metric, aggregate, value_pos, unit_pos)
    return ThresholdExpr(metric, aggregate, op, value, text.strip())


def _aggregate_names(spec: MetricSpec) -> list[str]:
    return [*spec.aggregates, *(["pNN"] if spec.percentiles else [])]


def _aggregate(sc: _Scanner, spec: MetricSpec) -> str:
    start = sc.pos
    word = sc.word().lower()
    allowed = ", ".join(_aggregate_names(spec))
    if spec.percentiles and word.startswith("p") and word not in spec.aggregates:
        if word == "p":
            sc.skip_space()
            if not sc.take(("(",)):
                raise sc.fail("expected a percentile such as p99 or p(99)")
            sc.skip_space()
            q = sc.number("a percentile")
            sc.skip_space()
            if not sc.take((")",)):
                raise sc.fail("expected ')'")
        else:
            # "p99" is a word; "p99.9" continues with ".9".
            sc.pos = start + 1
            q = sc.number("a percentile")
        if not 0 < q <= 100:
            raise sc.fail("a percentile must be above 0 and at most 100", start)
        if round(q, 4) != q:
            raise sc.fail("a percentile has at most 4 decimals", start)
        return f"p{_trim(q)}"
    if word not in spec.aggregates:
        shown = repr(word) if word else "nothing"
        raise sc.fail(f"{spec.name} has no aggregate {shown} (one of: {allowed})", start)
    return word


def _scale(
    sc: _Scanner,
    kind: MetricKind,
    value: float,
    unit: str | None,
    metric: str,
    aggregate: str,
    value_pos: int,
    unit_pos: int,
) -> float:
    name = f"{metric}.{aggregate}"
    if kind is MetricKind.DURATION:
        if unit == "%":
            raise sc.fail(f"{name} is a duration: use ns, us, ms, s or m", unit_pos)
        return value * _TIME_UNITS_NS[unit or "ms"]
    if kind is MetricKind.RATIO:
        if unit is not None and unit != "%":
            raise sc.fail(f"{name} is a ratio: write 0.99 or 99%, not a duration", unit_pos)
        if unit == "%":
            if value > 100:
                raise sc.fail(f"{name} is a ratio: at most 100%", value_pos)
            return value / 100.0
        if value > 1:
            raise sc.fail(
                f"{name} is a ratio between 0 and 1: write {_trim(value / 100)} or {_trim(value)}%",
                value_pos,
            )
        return value
    if unit is not None:
        raise sc.fail(f"{name} is a number of probes: no unit (or use {metric}.rate)", unit_pos)
    return value


@dataclass(frozen=True, slots=True)
class ThresholdData:
    """What one target and probe mode produced during a check."""

    sent: int = 0
    ok: int = 0
    timeouts: int = 0
    aborted: int = 0
    degraded: int = 0
    breaches: int = 0
    """Probes that broke at least one configured threshold."""
    rtts_ns: tuple[int, ...] = ()
    jitters_ns: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ThresholdVerdict:
    """One expression judged against one target and mode."""

    expr: ThresholdExpr
    observed: float | None
    """In the expression's internal unit; None when there was no data."""
    passed: bool

    def observed_text(self) -> str:
        """The observed value in expression syntax, or ``no data``."""
        if self.observed is None:
            return "no data"
        return format_value(self.observed, self.expr.kind)


def measure(expr: ThresholdExpr, data: ThresholdData) -> float | None:
    """The statistic ``expr`` names, computed from ``data``; None when undefined."""
    if expr.metric in ("rtt", "jitter"):
        values = sorted(data.rtts_ns if expr.metric == "rtt" else data.jitters_ns)
        if not values:
            return None
        if expr.aggregate == "min":
            return float(values[0])
        if expr.aggregate == "max":
            return float(values[-1])
        if expr.aggregate == "avg":
            return sum(values) / len(values)
        q = expr.quantile
        assert q is not None
        return float(nearest_rank(values, q))
    count = {
        "stability": data.ok,
        "timeouts": data.timeouts,
        "aborted": data.aborted,
        "degraded": data.degraded,
        "breaches": data.breaches,
    }[expr.metric]
    if expr.aggregate == "count":
        return float(count)
    return None if data.sent == 0 else count / data.sent


def evaluate(expr: ThresholdExpr, data: ThresholdData) -> ThresholdVerdict:
    """Judge one expression; a statistic with no data fails."""
    observed = measure(expr, data)
    passed = observed is not None and expr.op.holds(observed, expr.value)
    return ThresholdVerdict(expr, observed, passed)


def evaluate_all(
    exprs: Sequence[ThresholdExpr], data: ThresholdData
) -> tuple[ThresholdVerdict, ...]:
    """Every expression judged against the same data, in order."""
    return tuple(evaluate(e, data) for e in exprs)
