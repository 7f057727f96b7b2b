"""FaultSpec, DelaySpec and FaultController as values (no sockets)."""

from __future__ import annotations

import json
import random
import statistics

import pytest

from otel_genesys.emulator import DelaySpec, FaultController, FaultSpec, parse_duration
from otel_genesys.errors import ConfigError


def test_parse_duration_units() -> None:
    assert parse_duration("5ms") == pytest.approx(0.005)
    assert parse_duration("250us") == pytest.approx(0.00025)
    assert parse_duration("1.5s") == 1.5
    assert parse_duration("2m") == 120.0
    assert parse_duration(3) == 3.0
    for bad in ("-1s", "soon", "5 parsecs", True):
        with pytest.raises(ValueError):
            parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fixed:5ms", DelaySpec("fixed", 0.005)),
        ("7ms", DelaySpec("fixed", 0.007)),
        ("uniform:1ms,3ms", DelaySpec("uniform", 0.001, 0.003)),
        ("normal:20ms,5ms", DelaySpec("normal", 0.02, 0.005)),
        ("pareto:5ms,1.5,max=2s", DelaySpec("pareto", 0.005, 1.5, 2.0)),
    ],
)
def test_delay_parse(text: str, expected: DelaySpec) -> None:
    got = DelaySpec.parse(text)
    assert got.distribution == expected.distribution
    assert got.a == pytest.approx(expected.a)
    assert got.b == pytest.approx(expected.b)
    assert got.max_s == pytest.approx(expected.max_s)


@pytest.mark.parametrize("text", ["gamma:1ms", "uniform:3ms,1ms", "uniform:1ms", "pareto:1ms,0",
                                  "fixed:-1ms"])
def test_delay_parse_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        DelaySpec.parse(text)


def test_distributions_have_their_shape() -> None:
    rng = random.Random(7)
    fixed = [DelaySpec.fixed(0.01).sample(rng) for _ in range(100)]
    assert set(fixed) == {0.01}
    uniform = [DelaySpec.uniform(0.001, 0.002).sample(rng) for _ in range(2000)]
    assert min(uniform) >= 0.001 and max(uniform) <= 0.002
    assert statistics.mean(uniform) == pytest.approx(0.0015, rel=0.05)
    normal = [DelaySpec.normal(0.02, 0.005).sample(rng) for _ in range(4000)]
    assert statistics.mean(normal) == pytest.approx(0.02, rel=0.05)
    assert statistics.stdev(normal) == pytest.approx(0.005, rel=0.1)
    assert min(DelaySpec.normal(0.0, 1.0).sample(rng) for _ in range(200)) == 0.0
    pareto = [DelaySpec.pareto(0.005, 1.5, max_s=1.0).sample(rng) for _ in range(4000)]
    assert min(pareto) >= 0.005 and max(pareto) <= 1.0
    # Heavy tail: the p99 sits far above the median.
    pareto.sort()
    assert pareto[3960] > 8 * pareto[2000]


def test_delay_json_round_trip() -> None:
    for spec in (DelaySpec.fixed(0.001), DelaySpec.uniform(0.001, 0.004),
                 DelaySpec.normal(0.02, 0.001), DelaySpec.pareto(0.002, 2.5, 3.0)):
        assert DelaySpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    assert DelaySpec.from_json({"distribution": "uniform", "low_s": "1ms", "high_s": "2ms"}) == (
        DelaySpec.uniform(0.001, 0.002))
    with pytest.raises(ConfigError):
        DelaySpec.from_json({"distribution": "fixed", "low_s": 1})
    with pytest.raises(ConfigError):
        DelaySpec.from_json({"distribution": "uniform", "low_s": 1})


def test_fault_spec_json_round_trip_and_partial_update() -> None:
    spec = FaultSpec(pong_delay=DelaySpec.normal(0.01, 0.002), seed=3, drop_probability=0.25,
                     blackhole=False, duplicate=1, unsolicited_per_ping=2, heartbeat_stop=True,
                     close_after_s=1.5, close_code=4001, reset_after_s=9.0, handshake_status=503,
                     handshake_delay_s=0.2, token_outage="drop", token_429_burst=3,
                     token_retry_after_s=2, token_lifetime_s=30.0)
    assert FaultSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    patched = FaultSpec.from_json({"drop_probability": 0.5, "close_after_s": "250ms"}, base=spec)
    assert patched.drop_probability == 0.5 and patched.close_after_s == 0.25
    assert patched.duplicate == 1
    assert FaultSpec().is_healthy and not spec.is_healthy


def test_fault_spec_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        FaultSpec.from_json({"drop_probability": 2, "close_code": 1006, "handshake_status": 418,
                             "bogus": 1, "blackhole": "yes"})
    text = str(info.value)
    for needle in ("bogus", "blackhole", "drop_probability", "close_code", "handshake_status"):
        assert needle in text


def test_controller_overrides_replace_global_and_notify() -> None:
    seen: list[str | None] = []
    ctl = FaultController()
    ctl.add_listener(seen.append)
    ctl.set_global(FaultSpec(drop_probability=0.5))
    ctl.set_channel("ch-1", FaultSpec(duplicate=1))
    assert ctl.effective("ch-1")[0] == FaultSpec(duplicate=1)
    assert ctl.effective("ch-2")[0].drop_probability == 0.5
    assert ctl.effective(None)[0].drop_probability == 0.5
    ctl.clear_channel("ch-1")
    assert ctl.effective("ch-1")[0].drop_probability == 0.5
    ctl.clear()
    assert ctl.effective("ch-1")[0].is_healthy
    assert seen == [None, "ch-1", "ch-1", None]


def test_seeded_generator_is_reproducible() -> None:
    spec = FaultSpec(pong_delay=DelaySpec.uniform(0.0, 1.0), seed=42)

    def draws() -> list[float]:
        ctl = FaultController(spec)
        spec_now, rng = ctl.effective("x")
        assert spec_now.pong_delay is not None
        return [spec_now.pong_delay.sample(rng) for _ in range(5)]

    assert draws() == draws()


def test_token_429_burst_counts_down() -> None:
    ctl = FaultController(FaultSpec(token_429_burst=2))
    assert [ctl.take_token_429() for _ in range(3)] == [True, True, False]
    ctl.set_global(FaultSpec(token_429_burst=1))
    assert ctl.token_429_left == 1
