"""``python -m bench``: run the benchmarks and write bench/results/REPORT.md."""

from __future__ import annotations

import argparse
import importlib.util
import json
import secrets
import shlex
import sys
from pathlib import Path

from bench.harness import PYSPY, RESULTS, Plan, run

SUITES = ("truth", "scale", "profile", "instrumentation")


def main(argv: list[str] | None = None) -> int:
    """Parse flags, run the chosen plan, print where the report went."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="one repetition, small counts: under a minute")
    parser.add_argument("--smoke", action="store_true", help="a few seconds (used by tests)")
    parser.add_argument("--only", action="append", choices=SUITES, metavar="SUITE",
                        help=f"run only this suite (repeatable): {', '.join(SUITES)}")
    parser.add_argument("--reps", type=int, help="override the number of repetitions")
    parser.add_argument("--counts", help="scale suite: connection counts, e.g. 1000,5000")
    parser.add_argument("--variants", help="scale suite: client variants by name, "
                        "separated by ';' (e.g. 'bare;agent;agent, export process')")
    parser.add_argument("--seed", type=int, help="scale suite: the seed of the variants' "
                        "shuffled order (default: a new one each run; the report prints it)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="output directory")
    parser.add_argument("--report-only", action="store_true",
                        help="re-render REPORT.md and the plots from OUT/raw.json")
    args = parser.parse_args(argv)
    if args.report_only:
        from bench.harness import Results
        from bench.report import write_report

        data = json.loads((args.out / "raw.json").read_text())
        print(write_report(Results(**data), args.out))
        return 0
    plan = Plan.smoke() if args.smoke else Plan.quick() if args.quick else Plan.full()
    if args.only:
        plan = plan.only(tuple(args.only))
    from dataclasses import replace

    if args.reps:
        plan = replace(plan, reps=args.reps)
    if args.counts:
        plan = replace(plan, scale_counts=tuple(int(x) for x in args.counts.split(",")))
    if args.variants:
        wanted = [x.strip() for x in args.variants.split(";")]
        known = {v.name: v for v in plan.variants}
        missing = [w for w in wanted if w not in known]
        if missing:
            parser.error(f"unknown variant(s) {missing}; known: {list(known)}")
        plan = replace(plan, variants=tuple(replace(known[w], counts=()) for w in wanted))
    absent = _absent_extras(plan)
    if absent:
        parser.error(f"{', '.join(absent)} not installed: `make bench` installs the bench "
                     "extra (or .venv/bin/pip install -e '.[bench]')")  # fmt: skip
    seed = args.seed if args.seed is not None else secrets.randbelow(1_000_000)
    plan = replace(plan, order_seed=seed)
    command = "python -m bench " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    run(plan, args.out, command=command.strip())
    print(args.out / "REPORT.md")
    return 0


def _absent_extras(plan: Plan) -> list[str]:
    """What the plan's suites need from the bench extra and this environment lacks (a
    run without them would leave their rows empty, or its profile out)."""
    needs = []
    if "scale" in plan.suites and any("uvloop" in v.levers for v in plan.variants):
        needs.append(("uvloop", importlib.util.find_spec("uvloop") is not None))
    if ("truth" in plan.suites and "websockets" in plan.truth_kinds) or (
        "scale" in plan.suites and any(v.kind == "websockets" for v in plan.variants)
    ):
        needs.append(("websockets", importlib.util.find_spec("websockets") is not None))
    if "profile" in plan.suites and plan.profile_count > 0:
        needs.append(("py-spy", PYSPY.exists()))
    return [name for name, present in needs if not present]


if __name__ == "__main__":
    sys.exit(main())
