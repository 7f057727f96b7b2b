"""The scale suite's run order: places and neighbours change between repetitions."""

from __future__ import annotations

from bench.harness import Plan, Variant, variant_order


def test_a_short_list_takes_every_place_once_over_the_repetitions() -> None:
    variants = [Variant(x, "bare") for x in ("bare", "a", "b", "c")]
    places = {v.name: set() for v in variants}  # type: dict[str, set[int]]
    for rep in range(4):
        order = variant_order(variants, rep, 4)
        assert sorted(v.name for v in order) == sorted(places)
        for i, v in enumerate(order):
            places[v.name].add(i)
    assert all(p == {0, 1, 2, 3} for p in places.values())


def test_the_full_run_does_not_keep_a_variant_behind_the_same_neighbour() -> None:
    plan = Plan.full()
    at_10k = [v for v in plan.variants if not v.counts or 10000 in v.counts]
    assert len(at_10k) > plan.reps
    before = set()
    for rep in range(plan.reps):
        names = [v.name for v in variant_order(at_10k, rep, plan.reps)]
        assert sorted(names) == sorted(v.name for v in at_10k)  # each once
        i = names.index("agent, export process")
        before.add(names[i - 1] if i else None)
    assert len(before) > 1  # a rotation would give the same neighbour every time
    again = [v.name for v in variant_order(at_10k, 2, plan.reps, 11)]
    assert again == [v.name for v in variant_order(at_10k, 2, plan.reps, 11)]  # reproducible


def test_two_runs_with_different_seeds_do_not_repeat_one_order() -> None:
    plan = Plan.full()
    at_10k = [v for v in plan.variants if not v.counts or 10000 in v.counts]
    orders = {tuple(v.name for v in variant_order(at_10k, 0, plan.reps, seed)) for seed in range(5)}
    assert len(orders) == 5


def test_the_seed_is_drawn_per_run_and_reported(tmp_path, monkeypatch) -> None:
    import bench.__main__ as cli

    seen = []
    monkeypatch.setattr(cli, "run", lambda plan, out, command: seen.append(plan.order_seed))
    for _ in range(3):
        cli.main(["--smoke", "--out", str(tmp_path)])
    assert len(set(seen)) > 1  # a new order each run
    cli.main(["--smoke", "--seed", "42", "--out", str(tmp_path)])
    assert seen[-1] == 42
