"""Benchmark: schedules and seconds to the first failure, racesim strategies against naive stress.

Targets: every ``expect = "race"`` scenario file under scenarios/ (``sim._scenario.discover``,
``Scenario.build()``), and the classic bugs of benchmarks/classic.py — lost update, check-then-act
initialisation, order violation, ABBA deadlock, lost wake-up, atomicity violation across two awaits
— each at gap 0 (the racing steps fall in the same trio batch) and gap 1 (one batch apart), plus the
aligned lost update as a control.

For each target and strategy (``random``, ``pct``, ``pos``, ``dpor`` and ``dfs``, whichever
``sim.strategies.NAMES`` has; the missing ones are listed) we run ``sim.explore(..., seed=s,
max_failures=1, shrink=False)`` for 20 seeds and take the median of the schedule index at which
the first failure appeared (1-based) and of the seconds until then. ``dfs`` and ``dpor`` do not
depend on the seed, so they run once. Failures are counted the way the baseline can see them —
an assertion, an exception, a deadlock or a runaway, with ``requires=None, races=False`` ("manifest")
— and, for racesim only, also with the checks the scenario file configures (its required order and
data-race detection: "with HB checks"), where one run's happens-before graph predicts what another
interleaving would do.

The baseline is what a user writes today: the same scenario function run by plain ``trio.run`` in
a loop (no racesim control; ``MockClock(autojump_threshold=0)`` so sleeps cost nothing, and the body
inside ``trio.move_on_after(3600)`` so a deadlock shows as the timeout firing on the virtual clock),
reseeding trio's scheduler randomness ``trio._core._run._r`` before every run. trio's randomness
only permutes a batch of runnable tasks (it reverses the batch half of the time, or shuffles it
when Hypothesis has switched on deterministic scheduling) and never holds a runnable task back. The
baseline counts runs until the first failure, up to a cap (10,000 runs); a seed that reaches it is
"not found within cap". With 20 seeds, once 11 seeds reach a cap the median is past it and the
remaining seeds are skipped (said so in the JSON).

The ratio printed is baseline seconds / strategy seconds (both medians; ">" when the baseline's
median is censored at the cap).

    python benchmarks/bench_time_to_bug.py           # full (minutes)
    python benchmarks/bench_time_to_bug.py --quick   # smoke size
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

import trio
import trio.testing
from trio._core import _run as trio_run

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common
import classic

import sim
from sim.strategies import NAMES

WANTED = ("random", "pct", "pos", "dpor", "dfs")
DETERMINISTIC = frozenset({"dfs", "dpor"})
DEADLOCK_TIMEOUT = 3600.0
SCENARIO_DIR = _common.ROOT / "scenarios"


def targets(quick: bool) -> list[dict[str, object]]:
    """(name, source, scenario fn, required order or None, races flag)."""
    found: list[dict[str, object]] = []
    missing_files = ""
    try:
        from sim._scenario import discover

        files = [s for s in discover([SCENARIO_DIR]) if s.expect == "race"]
    except (ImportError, OSError) as exc:
        files, missing_files = [], f"scenario files unavailable: {exc}"
    for scenario in files[: 1 if quick else None]:
        fn, order = scenario.build()
        found.append(
            {
                "name": scenario.name,
                "source": "scenario file",
                "fn": fn,
                "requires": order if order.rules else None,
                "races": scenario.explore_settings.races,
            }
        )
    bugs = list(classic.BUGS.items())[: 1 if quick else None]
    found.append(
        {
            "name": "lost update (aligned, control)",
            "source": "classic",
            "fn": classic.lost_update_aligned(),
            "requires": None,
            "races": True,
        }
    )
    for gap in (0, 1):
        for name, factory in bugs:
            found.append(
                {
                    "name": f"{name}, gap {gap}",
                    "source": "classic",
                    "fn": factory(gap),
                    "requires": None,
                    "races": True,
                }
            )
    if missing_files:
        _common.console.print(missing_files)
    return found


def censored_median(values: list[float]) -> float:
    """Median where ``inf`` stands for "not found within cap"."""
    if not values:
        return math.nan
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    low, high = ordered[mid - 1], ordered[mid]
    return math.inf if math.isinf(high) else (low + high) / 2


def racesim_trials(target, strategy: str, seeds: int, cap: int, seconds: float, checks: bool):
    schedules: list[float] = []
    elapsed: list[float] = []
    kinds: list[str] = []
    censored = 0
    for seed in range(1 if strategy in DETERMINISTIC else seeds):
        result = sim.explore(
            target["fn"],
            strategy=strategy,
            seed=seed,
            max_schedules=cap,
            max_failures=1,
            shrink=False,
            requires=target["requires"] if checks else None,
            races=bool(target["races"]) and checks,
            time_budget=seconds,
        )
        if result.first_failure_at is None:
            censored += 1
            schedules.append(math.inf)
            elapsed.append(math.inf)
        else:
            schedules.append(result.first_failure_at + 1)
            elapsed.append(result.elapsed)
            kinds.append(result.failures[0].kind)
        if censored * 2 > seeds:
            break
    return {
        "seeds_run": len(schedules),
        "found": len(schedules) - censored,
        "median_schedules": censored_median(schedules),
        "median_seconds": censored_median(elapsed),
        "failure_kinds": sorted(set(kinds)),
        "schedules": schedules,
    }


def native_once(fn) -> str | None:
    """One plain ``trio.run``: the failure kind it showed, or None."""
    deadlocked = False

    async def body() -> None:
        nonlocal deadlocked
        with trio.move_on_after(DEADLOCK_TIMEOUT) as scope:
            await fn()
        deadlocked = scope.cancelled_caught

    try:
        trio.run(body, clock=trio.testing.MockClock(autojump_threshold=0))
    except AssertionError:
        return "assertion"
    except BaseExceptionGroup as group:
        return "assertion" if group.subgroup(AssertionError) else "exception"
    except Exception:
        return "exception"
    return "deadlock" if deadlocked else None


def baseline_trials(target, seeds: int, cap: int, seconds: float):
    runs: list[float] = []
    elapsed: list[float] = []
    spent: list[float] = []  # wall seconds each seed ran, found or not
    kinds: list[str] = []
    censored = 0
    total = 0
    for seed in range(seeds):
        rng = random.Random(seed)
        found = None
        count = 0
        with _common.Stopwatch() as watch:
            while count < cap and watch.elapsed() < seconds:
                trio_run._r.seed(rng.getrandbits(64))
                count += 1
                found = native_once(target["fn"])
                if found:
                    break
        total += count
        spent.append(watch.wall)
        if found:
            runs.append(count)
            elapsed.append(watch.wall)
            kinds.append(found)
        else:
            censored += 1
            runs.append(math.inf)
            elapsed.append(math.inf)
        if censored * 2 > seeds:
            break
    return {
        "seeds_run": len(runs),
        "found": len(runs) - censored,
        "median_runs": censored_median(runs),
        "median_seconds": censored_median(elapsed),
        "median_seconds_spent": _common.median(spent),
        "total_runs": total,
        "failure_kinds": sorted(set(kinds)),
        "runs": runs,
    }


def show_count(value: float, cap: int) -> str:
    return f"> {cap:,}" if math.isinf(value) else f"{value:,.1f}".removesuffix(".0")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke size")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--cap", type=int, default=10_000, help="runs / schedules per seed")
    parser.add_argument("--seconds", type=float, default=120.0, help="time cap per seed")
    args = parser.parse_args(argv)
    seeds, cap, seconds = (2, 50, 5.0) if args.quick else (args.seeds, args.cap, args.seconds)
    info = _common.machine()
    _common.console.print(_common.machine_line(info))
    strategies = [name for name in WANTED if name in NAMES]
    missing = [name for name in WANTED if name not in NAMES]
    _common.console.print(
        f"strategies: {', '.join(strategies)}; missing: {', '.join(missing) or 'none'}; "
        f"trio deterministic-scheduling flag: {trio_run._ALLOW_DETERMINISTIC_SCHEDULING}"
    )

    # Warm up once (racesim's per-process trio self-test, imports) so no target pays for it.
    sim.explore(classic.lost_update_aligned(), strategy="random", max_schedules=2, shrink=False)
    native_once(classic.lost_update_aligned())

    rows = []
    for target in targets(args.quick):
        row: dict[str, object] = {"target": target["name"], "source": target["source"]}
        row["baseline"] = baseline_trials(target, seeds, cap, seconds)
        row["manifest"] = {
            name: racesim_trials(target, name, seeds, cap, seconds, checks=False)
            for name in strategies
        }
        row["with_checks"] = {
            name: racesim_trials(target, name, seeds, cap, seconds, checks=True)
            for name in strategies
        }
        rows.append(row)
        _common.console.print(f"  measured {target['name']}")

    _common.table(
        f"Schedules to first manifest failure (median of {seeds} seeds; dfs/dpor: one run; "
        f"baseline: plain trio.run runs, cap {cap:,})",
        ["target", *strategies, "baseline runs", "baseline found"],
        [
            (
                r["target"],
                *(show_count(r["manifest"][s]["median_schedules"], cap) for s in strategies),
                show_count(r["baseline"]["median_runs"], cap),
                f"{r['baseline']['found']}/{r['baseline']['seeds_run']}",
            )
            for r in rows
        ],
    )
    ratio_rows = []
    for r in rows:
        base = r["baseline"]["median_seconds"]
        censored = math.isinf(base)
        floor = r["baseline"]["median_seconds_spent"] if censored else base
        cells = []
        for s in strategies:
            mine = r["manifest"][s]["median_seconds"]
            if math.isinf(mine):
                cells.append("not found")
            elif mine <= 0:
                cells.append(f"{mine * 1000:.1f} ms")
            else:
                bound = ">" if censored else ""
                cells.append(f"{mine * 1000:.1f} ms ({bound}{floor / mine:,.1f}x)")
        baseline = f"> {floor:.2f} s (cap)" if censored else f"{base * 1000:.1f} ms"
        ratio_rows.append((r["target"], *cells, baseline))
    _common.table(
        "Time to first manifest failure (median) and the ratio baseline time / strategy time "
        "(a censored baseline counts its time to the cap: the ratio is a lower bound)",
        ["target", *strategies, "baseline"],
        ratio_rows,
    )
    _common.console.print(
        "baseline runs executed: "
        + ", ".join(f"{r['target']}: {r['baseline']['total_runs']:,}" for r in rows)
    )
    _common.table(
        "Schedules to first failure with racesim's HB checks (required order, data races)",
        ["target", *strategies, "first kind"],
        [
            (
                r["target"],
                *(show_count(r["with_checks"][s]["median_schedules"], cap) for s in strategies),
                ", ".join(
                    sorted({k for s in strategies for k in r["with_checks"][s]["failure_kinds"]})
                ),
            )
            for r in rows
        ],
    )
    _common.write_json(
        "time_to_bug",
        {
            "machine": info,
            "quick": args.quick,
            "seeds": seeds,
            "cap": cap,
            "seconds_cap_per_seed": seconds,
            "strategies": strategies,
            "missing_strategies": missing,
            "trio_deterministic_scheduling": trio_run._ALLOW_DETERMINISTIC_SCHEDULING,
            "rows": rows,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
