"""``--threshold`` expressions: grammar, units, errors, evaluation."""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_genesys.core.threshold_expr import (
    METRICS,
    MetricKind,
    Op,
    ThresholdData,
    ThresholdExpr,
    evaluate,
    evaluate_all,
    measure,
    parse_threshold,
)

MS = 1_000_000


@pytest.mark.parametrize(
    ("text", "metric", "aggregate", "op", "value"),
    [
        ("rtt.p99<300ms", "rtt", "p99", Op.LT, 300 * MS),
        ("rtt.p50<=50ms", "rtt", "p50", Op.LE, 50 * MS),
        ("rtt.max<1s", "rtt", "max", Op.LT, 1_000 * MS),
        ("rtt.min>=250us", "rtt", "min", Op.GE, 250_000),
        ("rtt.avg<1m", "rtt", "avg", Op.LT, 60_000 * MS),
        ("rtt.med<100ns", "rtt", "med", Op.LT, 100),
        ("rtt.p95<20", "rtt", "p95", Op.LT, 20 * MS),  # a bare number is milliseconds
        ("rtt.p(99.9)<2µs", "rtt", "p99.9", Op.LT, 2_000),
        ("jitter.p99<20ms", "jitter", "p99", Op.LT, 20 * MS),
        ("stability>0.99", "stability", "rate", Op.GT, 0.99),
        ("stability.rate>=99.5%", "stability", "rate", Op.GE, 0.995),
        ("timeouts==0", "timeouts", "count", Op.EQ, 0),
        ("timeouts.rate<1%", "timeouts", "rate", Op.LT, 0.01),
        ("aborted!=3", "aborted", "count", Op.NE, 3),
        ("degraded<=0.1", "degraded", "rate", Op.LE, 0.1),
        ("degraded.count<2", "degraded", "count", Op.LT, 2),
        ("breaches==0", "breaches", "count", Op.EQ, 0),
        ("  RTT . P99 <  300 ms  ", "rtt", "p99", Op.LT, 300 * MS),
    ],
)
def test_parses_the_documented_forms(
    text: str, metric: str, aggregate: str, op: Op, value: float
) -> None:
    expr = parse_threshold(text)
    assert (expr.metric, expr.aggregate, expr.op) == (metric, aggregate, op)
    assert expr.value == pytest.approx(value)
    assert expr.source == text.strip()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty expression"),
        ("   ", "empty expression"),
        ("latency.p99<3ms", "unknown metric 'latency'"),
        ("rtt<300ms", "rtt needs an aggregate"),
        ("rtt.q99<3ms", "rtt has no aggregate 'q99'"),
        ("stability.p99>0.9", "stability has no aggregate 'p99'"),
        ("rtt.p0<3ms", "above 0 and at most 100"),
        ("rtt.p101<3ms", "above 0 and at most 100"),
        ("rtt.p(99<3ms", "expected ')'"),
        ("rtt.p99 300ms", "expected an operator"),
        ("rtt.p99=300ms", "use '=='"),
        ("rtt.p99<<300ms", "expected a number at column 9"),
        ("rtt.p99<-3ms", "expected a number"),
        ("rtt.p99<3.0.1ms", "expected a number"),
        ("rtt.p99<3 sec", "unknown unit 'sec'"),
        ("rtt.p99<3%", "is a duration"),
        ("stability>99", "ratio between 0 and 1: write 0.99 or 99%"),
        ("stability>101%", "at most 100%"),
        ("stability>0.9ms", "is a ratio"),
        ("timeouts<2ms", "number of probes"),
        ("timeouts==0 ;", "unexpected text after the value at column 13"),
        ("timeouts==0 and", "unknown unit 'and'"),
        ("rtt.p99<" + "9" * 400, "too large"),
    ],
)
def test_bad_expressions_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_threshold(text)
    message = str(info.value)
    assert fragment in message
    assert message.startswith("invalid threshold")


def test_error_points_at_the_column_of_the_problem() -> None:
    with pytest.raises(ValueError, match=r"column 5 \('q<3ms'\)"):
        parse_threshold("rtt.q<3ms")
    with pytest.raises(ValueError, match="at the end"):
        parse_threshold("rtt.p99<")


def test_every_metric_is_documented_in_the_module_and_the_operations_guide() -> None:
    import pathlib

    import otel_genesys.core.threshold_expr as mod

    guide = (pathlib.Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    for name, spec in METRICS.items():
        assert f"``{name}``" in (mod.__doc__ or "")
        assert f"`{name}`" in guide
        for agg in spec.aggregates:
            assert f"{name}.{agg}" in guide or agg in guide


DATA = ThresholdData(
    sent=10,
    ok=8,
    timeouts=1,
    aborted=1,
    degraded=2,
    breaches=3,
    rtts_ns=tuple(i * MS for i in (5, 1, 2, 3, 4, 6, 7, 100)),
    jitters_ns=(1 * MS, 2 * MS, 3 * MS),
)


@pytest.mark.parametrize(
    ("text", "observed"),
    [
        ("rtt.min<1s", 1 * MS),
        ("rtt.max<1s", 100 * MS),
        ("rtt.avg<1s", 16 * MS),
        ("rtt.med<1s", 4 * MS),  # nearest rank: 4th of 8
        ("rtt.p50<1s", 4 * MS),
        ("rtt.p99<1s", 100 * MS),
        ("rtt.p75<1s", 6 * MS),
        ("jitter.max<1s", 3 * MS),
        ("stability>0", 0.8),
        ("timeouts<9", 1),
        ("timeouts.rate<1", 0.1),
        ("aborted<9", 1),
        ("degraded<1", 0.2),
        ("degraded.count<9", 2),
        ("breaches<9", 3),
        ("breaches.rate<1", 0.3),
    ],
)
def test_measures_each_statistic(text: str, observed: float) -> None:
    assert measure(parse_threshold(text), DATA) == pytest.approx(observed)


def test_verdicts_follow_the_operator() -> None:
    assert evaluate(parse_threshold("rtt.p99<101ms"), DATA).passed
    assert not evaluate(parse_threshold("rtt.p99<100ms"), DATA).passed
    assert evaluate(parse_threshold("rtt.p99<=100ms"), DATA).passed
    assert evaluate(parse_threshold("stability>=80%"), DATA).passed
    assert not evaluate(parse_threshold("stability>0.8"), DATA).passed
    assert not evaluate(parse_threshold("timeouts==0"), DATA).passed
    assert evaluate(parse_threshold("timeouts!=0"), DATA).passed
    verdicts = evaluate_all([parse_threshold("rtt.max<1s"), parse_threshold("aborted==0")], DATA)
    assert [v.passed for v in verdicts] == [True, False]
    assert verdicts[0].observed_text() == "100ms"


def test_no_data_fails_the_threshold() -> None:
    empty = ThresholdData(sent=3, timeouts=3)
    verdict = evaluate(parse_threshold("rtt.p99<1s"), empty)
    assert verdict.observed is None and not verdict.passed
    assert verdict.observed_text() == "no data"
    assert not evaluate(parse_threshold("stability>=0"), ThresholdData()).passed
    assert evaluate(parse_threshold("timeouts==0"), ThresholdData()).passed


def test_canonical_text() -> None:
    assert str(parse_threshold("stability > 99%")) == "stability.rate>0.99"
    assert str(parse_threshold("rtt.p(99.9) < 1s")) == "rtt.p99.9<1000ms"
    assert str(parse_threshold("jitter.avg<250us")) == "jitter.avg<0.25ms"
    assert parse_threshold("timeouts==0").kind is MetricKind.COUNT


# ------------------------------------------------------------------ properties

_metric_forms = st.sampled_from(
    [
        "rtt.p99",
        "rtt.p(95)",
        "rtt.max",
        "jitter.avg",
        "stability",
        "timeouts",
        "timeouts.rate",
        "degraded",
    ]
)
_ops = st.sampled_from([o.value for o in Op])


@st.composite
def valid_expressions(draw: st.DrawFn) -> str:
    metric = draw(_metric_forms)
    op = draw(_ops)
    if metric.startswith(("rtt", "jitter")):
        number = str(draw(st.decimals(min_value=0, max_value=100_000, places=3)))
        unit = draw(st.sampled_from(["", "ns", "us", "ms", "s", "m"]))
    elif metric in ("stability", "degraded", "timeouts.rate"):
        number = str(draw(st.decimals(min_value=0, max_value=1, places=4)))
        unit = ""
    else:
        number = str(draw(st.integers(min_value=0, max_value=10_000)))
        unit = ""
    space = draw(st.sampled_from(["", " "]))
    return f"{metric}{space}{op}{space}{number}{unit}"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_an_expression_or_a_value_error(text: str) -> None:
    try:
        expr = parse_threshold(text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert isinstance(expr, ThresholdExpr)
        assert expr.metric in METRICS
        assert math.isfinite(expr.value) and expr.value >= 0


_alphabet = st.sampled_from(list("rtjisbyaoumedgp.()<>=!0123456789 %µsnc"))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_alphabet, max_size=30))
def test_near_miss_text_is_an_expression_or_a_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_threshold(text)


@settings(max_examples=200, deadline=None)
@given(valid_expressions())
def test_valid_expressions_parse_and_round_trip(text: str) -> None:
    expr = parse_threshold(text)
    again = parse_threshold(str(expr))
    assert (again.metric, again.aggregate, again.op) == (expr.metric, expr.aggregate, expr.op)
    assert again.value == pytest.approx(expr.value, rel=1e-9, abs=1.0)
