"""Benchmark: how fast racesim finds each scenario's race, or exhausts a clean scenario.

For every scenario file (``scenarios/*.toml``), explore with the file's default settings and record
the schedules to the first failure (race scenarios: the first failure that matches
``[expect_failure]``) or to exhaustion (clean scenarios), the wall-clock seconds, and whether the
verdict matched the file's expectation. Prints a table and writes ``reports/bench/scenarios.json``.

    python benchmarks/bench_scenarios.py            # every scenario, default settings
    python benchmarks/bench_scenarios.py --quick    # smoke run: small schedule budgets
    python benchmarks/bench_scenarios.py scenarios/legacy_shared_dispatcher_leak.toml

Numbers are deterministic for systematic strategies (the schedule counts); seconds depend on the
machine. ``--quick`` caps every exploration at 200 schedules: clean scenarios then only have to
show no failure within the cap (they may not exhaust).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim._scenario import ScenarioError, discover  # noqa: E402

QUICK_MAX_SCHEDULES = 200


def bench(paths: list[str], quick: bool) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for scenario in discover(paths):
        overrides = {"max_schedules": QUICK_MAX_SCHEDULES} if quick else {}
        started = time.perf_counter()
        result = scenario.explore(**overrides)
        seconds = time.perf_counter() - started
        expected = scenario.expect_failure
        matching = [f for f in result.failures if expected is None or expected.matches(f)]
        if scenario.expect == "race":
            verdict_ok = bool(matching)
            found = matching[0] if matching else None
        else:
            verdict_ok = not result.failures and (result.exhausted or quick)
            found = result.failures[0] if result.failures else None
        rows.append(
            {
                "scenario": scenario.name,
                "variant": scenario.variant,
                "expect": scenario.expect,
                "strategy": result.strategy,
                "verdict_ok": verdict_ok,
                "schedules_run": result.schedules_run,
                "schedules_to_failure": (found.found_at + 1) if found else None,
                "failure_kind": found.kind if found else None,
                "exhausted": result.exhausted,
                "exit_reason": result.exit_reason.value,
                "distinct_orders": result.distinct_orders,
                "seconds": round(seconds, 3),
                "schedules_per_second": round(result.schedules_run / seconds, 1)
                if seconds
                else None,
                "token": found.token if found else None,
            }
        )
    return rows


def table(rows: list[dict[str, object]]) -> str:
    header = (
        f"{'scenario':42} {'expect':6} {'ok':3} {'to failure':>10} {'run':>6} {'exh':>4} {'s':>7}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        to_failure = row["schedules_to_failure"]
        lines.append(
            f"{row['scenario']!s:42} {row['expect']!s:6} {'yes' if row['verdict_ok'] else 'NO':3} "
            f"{'-' if to_failure is None else to_failure!s:>10} {row['schedules_run']!s:>6} "
            f"{'yes' if row['exhausted'] else 'no':>4} {row['seconds']!s:>7}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=[str(ROOT / "scenarios")])
    parser.add_argument("--quick", action="store_true", help="cap explorations for a smoke run")
    parser.add_argument(
        "--out", default=str(ROOT / "reports" / "bench" / "scenarios.json"), help="JSON output"
    )
    args = parser.parse_args(argv)
    try:
        rows = bench(args.paths, args.quick)
    except ScenarioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table(rows))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "schema": 1,
                "quick": args.quick,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "scenarios": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")
    return 0 if all(row["verdict_ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
