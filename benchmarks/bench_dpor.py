"""Benchmark: executions explored by ``dfs`` and ``dpor`` against the number of Mazurkiewicz traces.

The programs are the classic DPOR families (benchmarks/classic.py: disjoint writers, shared
counter, lastzero, indexer, filesystem; Flanagan & Godefroid 2005, Abdulla et al. 2014) as plain
trio with ``@sim.tracked`` cells, over growing N. For each size:

- ``dfs``: every interleaving, run by ``DfsStrategy`` (capped; a capped count reads ">= cap").
- ``traces``: the number of Mazurkiewicz traces, computed independently of ``dpor``'s code by
  brute force: every ``dfs`` execution is reduced to its *signature* — its steps (task, index) and,
  for every pair of steps of different tasks whose footprints conflict, which came first. Conflict
  is the kernel's relation: same key and not both observing, where observing is a read of tracked
  state or a child's exit from its nursery (``sim._happens_before.is_child_exit``: sibling exits
  commute). Two executions are equivalent iff their signatures are equal; ``traces`` counts the
  classes. Exact only when ``dfs`` exhausted the space; otherwise it reads ">= n".
- ``closed form``: the count the program admits analytically, where it does (1 for disjoint
  writers, N! for the shared counter, 2**(3(N-11)) for indexer — the literature's 8, 64 for
  N = 12, 13), for sizes past the brute-force budget.
- ``dpor``: executions run by ``dpor`` (``sim.strategies.resolve("dpor")``, the same loop
  ``sim.explore`` drives), how many *distinct* traces they cover, how many executions ``dpor``
  itself reports as sleep-set blocked (every enabled task asleep: 0 when it is optimal), and
  whether they cover every trace ``dfs`` found. ``dpor/traces`` must read 1.00 where optimality
  is claimed; ``dpor`` > ``dpor distinct`` shows redundant executions even where brute force is
  out of reach.

    python benchmarks/bench_dpor.py           # full (about 6 minutes)
    python benchmarks/bench_dpor.py --quick   # smoke size
    python benchmarks/bench_dpor.py --family "filesystem (4 blocks)" --brute-force-max 4 \
        --dfs-budget 500000 --seconds 3000    # settle one size by brute force
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common
import classic

from sim._happens_before import is_child_exit
from sim._run import run_once
from sim.strategies import NAMES, DfsStrategy, resolve

#: Family -> sizes (full run). Brute force stops at the dfs budget; dpor at its own budget.
SIZES = {
    "disjoint_writers": (1, 2, 3, 4, 5),
    "shared_counter": (2, 3, 4, 5),
    "lastzero": (1, 2, 3, 4, 5),
    "indexer": (1, 2, 11, 12, 13),
    "indexer (6 cells, 2 msgs)": (2, 3),
    "filesystem": (1, 2, 3, 13, 14, 15, 16, 17, 18, 19, 20),
    "filesystem (4 blocks)": (2, 3, 4),  # N <= blocks, else a task searches forever
    "indexer (locked)": (11, 12, 13),
    "indexer (locked, 6 cells, 2 msgs)": (2, 3),
}
#: Largest N whose dfs space the brute force enumerates (beyond it: closed form only).
BRUTE_FORCE_MAX = {
    "disjoint_writers": 3,
    "shared_counter": 4,
    "lastzero": 3,
    "indexer": 2,
    "indexer (6 cells, 2 msgs)": 3,
    "filesystem": 3,
    "filesystem (4 blocks)": 3,
    "indexer (locked)": 2,
    "indexer (locked, 6 cells, 2 msgs)": 3,
}
QUICK_SIZES = {
    "disjoint_writers": (2,),
    "shared_counter": (2,),
    "lastzero": (1,),
    "indexer (6 cells, 2 msgs)": (2,),
    "filesystem": (1,),
    "indexer (locked, 6 cells, 2 msgs)": (2,),
}


def closed_form(family: str, n: int) -> int | None:
    """Traces of the program where known analytically; None where not."""
    if family == "disjoint_writers":
        return 1
    if family == "shared_counter":
        return math.factorial(n)
    if family == "indexer":
        return classic.indexer_traces(n)
    if family == "filesystem" and n <= 13:
        return 1  # no two tasks share an inode or a first block
    return None


#: trio sync objects: their operations are events of their own (see :func:`sync_orders`).
SYNC = (
    "Lock#",
    "StrictFIFOLock#",
    "Semaphore#",
    "CapacityLimiter#",
    "Condition#",
    "Event#",
    "MemoryChannelState#",
)
#: How trio hands a primitive to a parked task; a blocked wait is not an event, so neither is this.
PARKING = "ParkingLot#"


def footprint(step) -> list[tuple[tuple[str, str], bool]]:
    """``(key, changes)`` per data access: reads and child exits observe, everything else changes.
    Operations on sync objects are left to :func:`sync_orders`."""
    return [
        (access.key, access.kind != "read" and not is_child_exit(step, access))
        for access in step.accesses
        if not access.obj.startswith((*SYNC, PARKING))
    ]


def sync_orders(trace) -> frozenset[object]:
    """The order of every pair of conflicting operations on a sync object, by different tasks.

    An operation is named by its task, object, direction (a release gives, anything else takes
    or looks) and how many such operations the task did before, not by the step it fell in: a
    blocked acquire has done nothing yet (trio's acquisition is recorded where the task resumes).
    A ``release`` followed by another task's take is one handoff whichever came first in time, so
    only operations that both take or both give, or a look and a give, are ordered pairs.
    """
    done: dict[tuple[str, str, str], int] = {}
    ops = []
    for step in trace.steps:
        for access in step.accesses:
            if access.attr or not access.obj.startswith(SYNC):
                continue
            way = {"release": "give", "read": "look"}.get(access.kind, "take")
            if way == "take" and access.obj.startswith("Event#"):
                way = "look"  # waiting on an Event takes nothing from other waiters
            mark = (step.task, access.obj, way)
            done[mark] = done.get(mark, 0) + 1
            ops.append((*mark, done[mark]))
    pairs = []
    for j, later in enumerate(ops):
        for earlier in ops[:j]:
            if earlier[0] == later[0] or earlier[1] != later[1]:
                continue
            ways = {earlier[2], later[2]}
            if ways in ({"take"}, {"give"}, {"look", "give"}, {"look", "take"}):
                pairs.append((earlier, later))
    return frozenset(pairs)


def signature(trace) -> tuple[object, ...]:
    """Steps plus the order of every conflicting pair of steps of different tasks, and the
    order of conflicting sync operations."""
    steps = trace.steps
    footprints = [footprint(step) for step in steps]
    pairs = []
    for j, later in enumerate(steps):
        if not footprints[j]:
            continue
        for i in range(j):
            earlier = steps[i]
            if earlier.task == later.task or not footprints[i]:
                continue
            if any(
                key == other and (changes or other_changes)
                for key, changes in footprints[i]
                for other, other_changes in footprints[j]
            ):
                pairs.append(((earlier.task, earlier.index), (later.task, later.index)))
    events = tuple(sorted((step.task, step.index) for step in steps))
    return (events, frozenset(pairs), sync_orders(trace))


def enumerate_with(strategy, scenario, budget: int, time_budget: float) -> dict[str, object]:
    """Run ``strategy`` to exhaustion or budget; signatures of every execution."""
    executions = 0
    classes: set[object] = set()
    failures = 0
    exhausted = False
    with _common.Stopwatch() as watch:
        while True:
            if executions >= budget or (executions and watch.elapsed() > time_budget):
                break
            if not strategy.new_execution():
                exhausted = True
                break
            outcome = run_once(scenario, strategy)
            strategy.execution_finished(outcome.trace, outcome.schedule)
            executions += 1
            failures += outcome.failed
            classes.add(signature(outcome.trace))
    return {
        "executions": executions,
        "exhausted": exhausted,
        "failed_runs": failures,
        "classes": classes,
        "sleep_blocked": getattr(strategy, "sleep_blocked", None),
        "cpu_s": watch.cpu,
        "wall_s": watch.wall,
    }


def rate(executions: object, cpu_s: object) -> str:
    """Executions per CPU second."""
    if not executions or not cpu_s:
        return "—"
    return f"{float(executions) / float(cpu_s):,.0f}"  # type: ignore[arg-type]


def count(value: int, exact: bool) -> str:
    return f"{value:,}" if exact else f">= {value:,}"


def measure(family: str, n: int, dfs_budget: int, dpor_budget: int, seconds: float):
    scenario = classic.FAMILIES[family](n)
    if n > BRUTE_FORCE_MAX[family]:
        dfs_budget = 0
    dfs = enumerate_with(DfsStrategy(), scenario, dfs_budget, seconds)
    closed = closed_form(family, n)
    row: dict[str, object] = {
        "family": family,
        "n": n,
        "dfs_executions": dfs["executions"],
        "dfs_exhausted": dfs["exhausted"],
        "dfs_cpu_s": dfs["cpu_s"],
        "traces": len(dfs["classes"]),
        "traces_exact": dfs["exhausted"],
        "traces_closed_form": closed,
    }
    if "dpor" in NAMES:
        dpor = enumerate_with(resolve("dpor"), scenario, dpor_budget, seconds)
        distinct = len(dpor["classes"])
        row.update(
            {
                "dpor_executions": dpor["executions"],
                "dpor_exhausted": dpor["exhausted"],
                "dpor_cpu_s": dpor["cpu_s"],
                "dpor_distinct_traces": distinct,
                "dpor_redundant": dpor["executions"] - distinct,
                "dpor_sleep_blocked": dpor["sleep_blocked"],
                # Every trace dfs saw (all of them when dfs exhausted the space) is one dpor ran.
                "dpor_covers_dfs": (dfs["classes"] <= dpor["classes"])
                if dfs["executions"]
                else None,
            }
        )
        reference = len(dfs["classes"]) if dfs["exhausted"] else closed
        if reference and dpor["exhausted"]:
            row["dpor_over_traces"] = dpor["executions"] / reference
    return row


def show(rows: list[dict[str, object]], has_dpor: bool) -> None:
    columns = ["family", "N", "dfs", "traces (brute force)", "closed form"]
    columns += ["dfs exec/s"]
    if has_dpor:
        columns += ["dpor", "dpor distinct", "sleep-blocked", "dpor covers dfs", "dpor/traces"]
        columns += ["dpor exec/s"]
    out = []
    for r in rows:
        closed = r["traces_closed_form"]
        line = [
            r["family"],
            r["n"],
            count(r["dfs_executions"], bool(r["dfs_exhausted"])) if r["dfs_executions"] else "—",
            count(r["traces"], bool(r["traces_exact"])) if r["dfs_executions"] else "—",
            "—" if closed is None else f"{closed:,}",
            rate(r["dfs_executions"], r["dfs_cpu_s"]),
        ]
        if has_dpor:
            covers = r["dpor_covers_dfs"]
            partial = covers and not r["dfs_exhausted"]
            ratio = r.get("dpor_over_traces")
            line += [
                count(r["dpor_executions"], bool(r["dpor_exhausted"])),
                f"{r['dpor_distinct_traces']:,}",
                "—" if r["dpor_sleep_blocked"] is None else f"{r['dpor_sleep_blocked']:,}",
                "—" if covers is None else ("NO" if not covers else "yes*" if partial else "yes"),
                "—" if ratio is None else f"{ratio:.2f}",
                rate(r["dpor_executions"], r["dpor_cpu_s"]),
            ]
        out.append(line)
    _common.table(
        "Executions explored vs Mazurkiewicz traces (yes*: dpor covers every trace of the capped "
        "dfs prefix)",
        columns,
        out,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke size")
    parser.add_argument("--family", action="append", help="only this family (repeatable)")
    parser.add_argument(
        "--brute-force-max", type=int, help="enumerate dfs up to this N (default: per family)"
    )
    parser.add_argument("--dfs-budget", type=int, default=150_000, help="dfs executions per size")
    parser.add_argument("--dpor-budget", type=int, default=30_000, help="dpor executions per size")
    parser.add_argument(
        "--seconds", type=float, default=600.0, help="time budget per size and strategy"
    )
    args = parser.parse_args(argv)
    info = _common.machine()
    _common.console.print(_common.machine_line(info))
    sizes = QUICK_SIZES if args.quick else SIZES
    if args.family:
        sizes = {family: SIZES[family] for family in args.family}
    if args.brute_force_max is not None:
        BRUTE_FORCE_MAX.update(dict.fromkeys(sizes, args.brute_force_max))
    budget_dfs = 200 if args.quick else args.dfs_budget
    budget_dpor = 200 if args.quick else args.dpor_budget
    has_dpor = "dpor" in NAMES
    if not has_dpor:
        _common.console.print(
            f"dpor: not available (sim.strategies.NAMES = {NAMES}); showing dfs and traces only"
        )
    rows = [
        measure(family, n, budget_dfs, budget_dpor, args.seconds)
        for family, ns in sizes.items()
        for n in ns
    ]
    show(rows, has_dpor)
    optimal = [r for r in rows if r.get("dpor_over_traces") is not None]
    verdict = {
        "dpor_available": has_dpor,
        "sizes_with_exact_ratio": len(optimal),
        "ratio_is_1_everywhere": bool(optimal)
        and all(abs(float(r["dpor_over_traces"]) - 1.0) < 1e-9 for r in optimal),
        "dpor_covers_every_dfs_trace": all(r.get("dpor_covers_dfs") in (True, None) for r in rows),
        "dpor_redundant_executions": {
            f"{r['family']} {r['n']}": r["dpor_redundant"] for r in rows if r.get("dpor_redundant")
        },
    }
    if has_dpor:
        _common.console.print(
            "dpor/traces = 1.00 on every exactly-counted size: "
            + ("yes" if verdict["ratio_is_1_everywhere"] else "NO")
            + "; dpor covers every trace dfs found: "
            + ("yes" if verdict["dpor_covers_every_dfs_trace"] else "NO")
            + "; executions equivalent to an earlier one: "
            + (
                ", ".join(f"{k}: {v}" for k, v in verdict["dpor_redundant_executions"].items())
                or "none"
            )
        )
    name = "dpor"
    if args.family:  # a focused run does not overwrite the full table
        name += "-" + "-".join("".join(c if c.isalnum() else "_" for c in f) for f in args.family)
    _common.write_json(
        name,
        {
            "machine": info,
            "quick": args.quick,
            "budgets": {"dfs": budget_dfs, "dpor": budget_dpor, "seconds": args.seconds},
            "strategies": list(NAMES),
            "rows": rows,
            "verdict": verdict,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
