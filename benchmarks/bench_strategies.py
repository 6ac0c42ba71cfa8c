"""Benchmark: schedules each strategy needs to find a failure, and to exhaust a scenario.

For every scenario and strategy (``dfs``, ``dpor``, ``pct``, ``pos``, ``random``):

- **to failure**: schedules run up to and including the first failure of the kind the scenario is
  about (for the system's race scenarios: the kind and text their ``[expect_failure]`` names). The
  randomised strategies run once per seed; the table shows the median over seeds and how many
  seeds found it within the budget.
- **to exhaustion**: schedules run until an exhaustive strategy (``dfs``, ``dpor``) has covered
  its whole space, continuing past failures; blank for the sampling strategies, and ``>B`` when the
  budget ``B`` ran out first.

Scenarios: the classic models of ``tests/strategy_models.py`` (a shared counter with a lost
update, disjoint writers, lastzero, indexer, a depth-2 "probe" bug among 50 steps) and every file
under ``scenarios/`` (race and clean). Prints a table, writes ``reports/bench/strategies.json``.

    python benchmarks/bench_strategies.py            # full: 5 seeds, budget 2000 (minutes)
    python benchmarks/bench_strategies.py --quick    # smoke: 2 seeds, budget 150, fewer models

Schedule counts are deterministic (fixed seeds); seconds depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import Stopwatch, machine, machine_line, table, write_json  # noqa: E402
from strategy_models import counter, disjoint, indexer, lastzero, probe  # noqa: E402

from sim._explore import judge  # noqa: E402
from sim._run import run_once  # noqa: E402
from sim._scenario import discover  # noqa: E402
from sim.strategies import resolve  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable

STRATEGIES = ("dfs", "dpor", "pct", "pos", "random")
SYSTEMATIC = ("dfs", "dpor")

#: A case: name, scenario function, required order, races?, and "is this failure the one?".
Case = tuple[str, Any, Any, bool, "Callable[[str, str], bool] | None"]


def classic_cases(quick: bool) -> list[Case]:
    def any_assertion(kind: str, text: str) -> bool:
        return kind == "assertion"

    cases: list[Case] = [
        ("counter-3 (lost update)", counter(3), None, False, any_assertion),
        ("probe-50 (depth 2)", probe(50, 25), None, False, any_assertion),
        ("counter-3-atomic", counter(3, atomic=True), None, False, None),
        ("disjoint-4", disjoint(4), None, False, None),
        ("lastzero-3", lastzero(3), None, False, None),
        ("indexer-2x3-6", indexer(2, 3, 6), None, False, None),
    ]
    if not quick:
        cases += [
            ("counter-4 (lost update)", counter(4), None, False, any_assertion),
            ("lastzero-4", lastzero(4), None, False, None),
        ]
    return cases


def scenario_cases(quick: bool = False) -> list[Case]:
    """Every bundled scenario file (the smoke run: those over the model transport only)."""
    cases: list[Case] = []
    for scenario in discover([ROOT / "scenarios"]):
        if quick and scenario.transport != "model":
            continue
        fn, order = scenario.build()
        expected = scenario.expect_failure
        wanted = None
        if scenario.expect == "race" and expected is not None:

            def wanted(kind: str, text: str, expected: Any = expected) -> bool:
                return kind in expected.kinds and all(m in text for m in expected.mentions)

        requires = order if order.rules else None
        cases.append((scenario.name, fn, requires, scenario.explore_settings.races, wanted))
    return cases


def measure(case: Case, name: str, seed: int, budget: int) -> dict[str, Any]:
    """Run one strategy on one case: schedules to the wanted failure and to exhaustion."""
    _, fn, requires, races, wanted = case
    strategy = resolve(name, seed=seed)
    runs, to_failure = 0, None
    with Stopwatch() as watch:
        while runs < budget and strategy.new_execution():
            execution_seed = getattr(strategy, "execution_seed", None)
            outcome = run_once(fn, strategy, seed=execution_seed or 0)
            strategy.execution_finished(outcome.trace, outcome.schedule)
            runs += 1
            if to_failure is None and wanted is not None:
                verdict = judge(outcome, requires, races)
                if verdict is not None and wanted(verdict[0], f"{verdict[1]}\n{verdict[2]}"):
                    to_failure = runs
            if to_failure is not None and name not in SYSTEMATIC:
                break
    exhausted = bool(getattr(strategy, "exhausted", False))
    return {
        "strategy": name,
        "seed": seed,
        "to_failure": to_failure,
        "schedules_run": runs,
        "exhausted": exhausted if name in SYSTEMATIC else None,
        "to_exhaustion": runs if exhausted else None,
        "describe": strategy.describe(),
        "cpu_s": round(watch.cpu, 3),
    }


def summarise(case: Case, runs: list[dict[str, Any]], budget: int) -> dict[str, Any]:
    found = [r["to_failure"] for r in runs if r["to_failure"] is not None]
    systematic = runs[0]["strategy"] in SYSTEMATIC
    return {
        "median_to_failure": statistics.median(found) if found else None,
        "found": f"{len(found)}/{len(runs)}",
        "to_exhaustion": (runs[0]["to_exhaustion"] or f">{budget}") if systematic else None,
        "wants_failure": case[4] is not None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke size: 2 seeds, budget 150")
    parser.add_argument("--budget", type=int, default=None, help="schedules per run")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per sampling strategy")
    args = parser.parse_args(argv)
    budget = args.budget or (150 if args.quick else 2000)
    seeds = args.seeds or (2 if args.quick else 5)
    info = machine()
    cases = classic_cases(args.quick) + scenario_cases(args.quick)
    results: list[dict[str, Any]] = []
    rows = []
    for case in cases:
        cells: list[object] = [case[0]]
        for name in STRATEGIES:
            runs = [
                measure(case, name, seed, budget)
                for seed in (range(1) if name in SYSTEMATIC else range(seeds))
            ]
            summary = summarise(case, runs, budget)
            results.append({"case": case[0], "strategy": name, **summary, "runs": runs})
            failure = summary["median_to_failure"]
            shown = "none" if failure is None else f"{failure:g}"
            text = f"{shown} ({summary['found']})" if summary["wants_failure"] else "-"
            if name in SYSTEMATIC:
                text += f" / {summary['to_exhaustion']}"
            cells.append(text)
        rows.append(cells)
    columns = ["case", *(f"{s} (fail / exh)" if s in SYSTEMATIC else s for s in STRATEGIES)]
    table(
        f"schedules to the first failure (median, seeds that found it) and to exhaustion; "
        f"budget {budget}\n{machine_line(info)}",
        columns,
        rows,
    )
    write_json(
        "strategies",
        {
            "machine": info,
            "quick": args.quick,
            "budget": budget,
            "seeds": seeds,
            "results": results,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
