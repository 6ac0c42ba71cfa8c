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

A second table compares the transports (the scenario key ``transport``): one workload of the
remediated system (one user, a thinking step, a tool, a reconnect) explored with the same sampled
strategy (``random``, seed 0, the same number of schedules) over each of ``model``, ``memory``,
``lockstep`` and ``loopback``, reporting schedules per CPU second and per wall second and the
CPU cost relative to ``model`` (measured in one process, so the ratio is what
to read on a loaded machine; ``loopback`` also waits on real sockets, which wall time shows).
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

import sim  # noqa: E402
from sim._scenario import ScenarioError, discover  # noqa: E402
from system_under_test import build  # noqa: E402
from system_under_test.transport import TRANSPORTS  # noqa: E402

QUICK_MAX_SCHEDULES = 200
#: Strategies that sample: a clean scenario explored with one runs its budget, never exhausts.
SAMPLED = ("random", "pct", "pos")
#: The workload the transports are compared on, and its schedule budgets (full, --quick).
TRANSPORT_WORKLOAD = {"tools_per_agent": 1, "thinking_steps": 1, "reconnects": 1}
TRANSPORT_SCHEDULES = (300, 20)


def bench(paths: list[str], quick: bool) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for scenario in discover(paths):
        cap = min(QUICK_MAX_SCHEDULES, scenario.explore_settings.max_schedules)
        overrides = {"max_schedules": cap} if quick else {}
        started = time.perf_counter()
        result = scenario.explore(**overrides)
        seconds = time.perf_counter() - started
        expected = scenario.expect_failure
        matching = [f for f in result.failures if expected is None or expected.matches(f)]
        if scenario.expect == "race":
            verdict_ok = bool(matching)
            found = matching[0] if matching else None
        else:
            sampled = scenario.explore_settings.strategy in SAMPLED  # the loopback smoke run
            verdict_ok = not result.failures and (result.exhausted or quick or sampled)
            found = result.failures[0] if result.failures else None
        rows.append(
            {
                "scenario": scenario.name,
                "variant": scenario.variant,
                "transport": scenario.transport,
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
        f"{'scenario':42} {'transport':9} {'expect':6} {'ok':3} {'to failure':>10} {'run':>6} "
        f"{'exh':>4} {'s':>7}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        to_failure = row["schedules_to_failure"]
        lines.append(
            f"{row['scenario']!s:42} {row['transport']!s:9} {row['expect']!s:6} "
            f"{'yes' if row['verdict_ok'] else 'NO':3} "
            f"{'-' if to_failure is None else to_failure!s:>10} {row['schedules_run']!s:>6} "
            f"{'yes' if row['exhausted'] else 'no':>4} {row['seconds']!s:>7}"
        )
    return "\n".join(lines)


def bench_transports(quick: bool) -> list[dict[str, object]]:
    """Schedules per second of one remediated workload over every transport (same strategy)."""
    budget = TRANSPORT_SCHEDULES[1] if quick else TRANSPORT_SCHEDULES[0]
    rows: list[dict[str, object]] = []
    for transport in TRANSPORTS:
        scenario, _ = build("remediated", TRANSPORT_WORKLOAD, transport=transport)
        cpu, wall = time.process_time(), time.perf_counter()
        result = sim.explore(scenario, strategy="random", seed=0, max_schedules=budget)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        rows.append(
            {
                "transport": transport,
                "schedules": result.schedules_run,
                "failures": len(result.failures),
                "cpu_seconds": round(cpu, 3),
                "wall_seconds": round(wall, 3),
                "schedules_per_cpu_second": round(result.schedules_run / cpu, 1) if cpu else None,
                "schedules_per_second": round(result.schedules_run / wall, 1) if wall else None,
            }
        )
    model_cpu = rows[0]["cpu_seconds"]
    for row in rows:
        cost = row["cpu_seconds"]
        ratio = cost / model_cpu if isinstance(cost, float) and isinstance(model_cpu, float) else 0
        row["cpu_cost_vs_model"] = round(ratio, 2) if model_cpu else None
    return rows


def transport_table(rows: list[dict[str, object]]) -> str:
    header = (
        f"{'transport':9} {'schedules':>9} {'fail':>4} {'sched/cpu-s':>11} {'sched/s':>8} "
        f"{'x model':>7}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['transport']!s:9} {row['schedules']!s:>9} {row['failures']!s:>4} "
            f"{row['schedules_per_cpu_second']!s:>11} {row['schedules_per_second']!s:>8} "
            f"{row['cpu_cost_vs_model']!s:>7}"
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
    transports = bench_transports(args.quick)
    print()
    print(transport_table(transports))
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
                "transport_workload": TRANSPORT_WORKLOAD,
                "transports": transports,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")
    clean = all(row["verdict_ok"] for row in rows) and not any(t["failures"] for t in transports)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
