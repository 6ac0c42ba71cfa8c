"""Benchmark: do the data-race check and the shrinker scale with a long run?

Three cases of issue 16, each measured in a fresh subprocess per variant (CPU time of the
``sim.explore`` call by ``time.process_time``; peak resident memory of the process by
``getrusage(RUSAGE_SELF).ru_maxrss``, also shown above the process's RSS just before the call):

- ``counter 2 x N``: two tasks each run ``N`` steps of ``c.v += 1; await trio.sleep(0)`` on one
  ``@sim.tracked`` counter — every step of one task races with every step of the other, ``N^2``
  racing pairs. One ``random`` schedule (``max_steps`` raised above the run's length).
- ``counter T x 5``: ``T`` tasks of 5 such steps: ``T^2`` pairs of tasks, one code site.
- ``livelock 2 x N``: two tasks each passing ``N`` checkpoints; with the default ``max_steps``
  (20,000; ``N`` when smaller, as with ``--quick``) every schedule is a runaway loop (``livelock``), found by ``random`` on its first
  schedule carrying thousands of preemptions; the shrinker then minimises it (default budget,
  300 runs).

Variants: ``races=False`` (the run alone), ``races=True`` without shrinking (the run plus the
data-race check: the check's cost), ``races=True`` with shrinking (what a user waits for: the race
is found on every schedule, so the shrinker runs too); for the livelock, one run without and with
shrinking. The ratios are what issue 16 asks for: the check within 2x of ``races=False`` in time
and memory, the livelock shrink within 10x of one run (``(with - without) / without``). The number
of runs the shrinker made is counted in the child process.

    python benchmarks/bench_long_trace.py           # full: 2 x 50,000, 100 x 5 (a few minutes)
    python benchmarks/bench_long_trace.py --quick   # smoke size
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common

import sim

ROOT = Path(__file__).resolve().parent.parent


@sim.tracked
class Counter:
    def __init__(self) -> None:
        self.v = 0


def counter(tasks: int, steps: int):
    async def scenario() -> None:
        shared = Counter()

        async def worker() -> None:
            for _ in range(steps):
                shared.v += 1
                await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            for _ in range(tasks):
                nursery.start_soon(worker)

    scenario.__racesim_fingerprint__ = f"counter-{tasks}x{steps}"  # type: ignore[attr-defined]
    return scenario


def checkpoints(tasks: int, steps: int):
    async def scenario() -> None:
        async def worker() -> None:
            for _ in range(steps):
                await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            for _ in range(tasks):
                nursery.start_soon(worker)

    scenario.__racesim_fingerprint__ = f"checkpoints-{tasks}x{steps}"  # type: ignore[attr-defined]
    return scenario


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child(case: str, tasks: int, steps: int, races: bool, shrink: bool) -> dict[str, object]:
    """One measurement, in this (fresh) process."""
    import sim._shrink as shrinking

    runs = 0
    original = shrinking.run_once

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal runs
        runs += 1
        return original(*args, **kwargs)

    shrinking.run_once = counted  # type: ignore[assignment]
    livelock = case == "livelock"
    scenario = checkpoints(tasks, steps) if livelock else counter(tasks, steps)
    # the livelock: the default step budget, or the run's own length when that is shorter (--quick)
    max_steps = min(sim.Settings().max_steps, steps) if livelock else tasks * (steps + 2) + 10
    sim.explore(checkpoints(2, 2), strategy="dfs", max_schedules=1)  # warm up: imports, self-test
    before = rss_kib()
    started = time.process_time()
    result = sim.explore(
        scenario,
        strategy="random",
        max_schedules=1,
        races=races,
        shrink=shrink,
        max_steps=max_steps,
    )
    cpu = time.process_time() - started
    failure = result.failures[0] if result.failures else None
    return {
        "cpu_s": cpu,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rss_before_kib": before,
        "kind": failure.kind if failure else None,
        "races_reported": len(failure.races) if failure else 0,
        "race_pairs": sum(race.count for race in failure.races) if failure else 0,
        "details_chars": len(failure.details) if failure else 0,
        "steps": len(failure.trace.steps) if failure else None,
        "preemptions": failure.schedule.preemptions if failure else None,
        "shrunk_from": failure.shrunk_from if failure else None,
        "shrink_runs": runs,
    }


def measure(case: str, tasks: int, steps: int, races: bool, shrink: bool) -> dict[str, object]:
    args = [case, str(tasks), str(steps), str(int(races)), str(int(shrink))]
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def mib(kib: float) -> str:
    return f"{kib / 1024:,.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke size")
    parser.add_argument("--steps", type=int, default=50_000, help="N of the 2 x N cases")
    parser.add_argument("--tasks", type=int, default=100, help="T of the T x 5 case")
    parser.add_argument("--rounds", type=int, default=3, help="subprocesses per variant")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        case, tasks, steps, races, shrink = args.child
        print(json.dumps(child(case, int(tasks), int(steps), races == "1", shrink == "1")))
        return 0
    info = _common.machine()
    _common.console.print(_common.machine_line(info))
    steps = 300 if args.quick else args.steps
    tasks = 10 if args.quick else args.tasks
    rounds = 1 if args.quick else args.rounds
    cases = [
        ("counter", 2, steps, [("races=False", False, False), ("races=True", True, False),
                               ("races=True, shrink", True, True)]),
        ("counter", tasks, 5, [("races=False", False, False), ("races=True", True, False),
                               ("races=True, shrink", True, True)]),
        ("livelock", 2, steps, [("one run", False, False), ("shrink", False, True)]),
    ]  # fmt: skip
    results: list[dict[str, object]] = []
    rows = []
    for case, n_tasks, n_steps, variants in cases:
        name = f"{case} {n_tasks} x {n_steps:,}"
        samples: dict[str, list[dict[str, object]]] = {label: [] for label, _, _ in variants}
        for round_ in range(rounds):
            order = variants if round_ % 2 == 0 else variants[::-1]
            for label, races, shrink in order:
                samples[label].append(measure(case, n_tasks, n_steps, races, shrink))
        base_label = variants[0][0]
        base_cpu = _common.median([float(s["cpu_s"]) for s in samples[base_label]])  # type: ignore[arg-type]
        base_mem = _common.median(
            [float(s["peak_rss_kib"]) - float(s["rss_before_kib"]) for s in samples[base_label]]  # type: ignore[arg-type]
        )
        for label, races, shrink in variants:
            runs = samples[label]
            cpu = _common.median([float(s["cpu_s"]) for s in runs])  # type: ignore[arg-type]
            peak = _common.median([float(s["peak_rss_kib"]) for s in runs])  # type: ignore[arg-type]
            grown = _common.median(
                [float(s["peak_rss_kib"]) - float(s["rss_before_kib"]) for s in runs]  # type: ignore[arg-type]
            )
            last = runs[-1]
            entry = {
                "case": name,
                "variant": label,
                "races": races,
                "shrink": shrink,
                "cpu_s": cpu,
                "cpu_samples": [s["cpu_s"] for s in runs],
                "peak_rss_kib": peak,
                "peak_over_start_kib": grown,
                "cpu_ratio": cpu / base_cpu if base_cpu else None,
                "shrink_over_run": (cpu - base_cpu) / base_cpu if shrink and base_cpu else None,
                "memory_ratio": grown / base_mem if base_mem else None,
                **{k: last[k] for k in ("kind", "races_reported", "race_pairs", "details_chars")},
                **{k: last[k] for k in ("steps", "preemptions", "shrunk_from", "shrink_runs")},
            }
            results.append(entry)
            rows.append(
                (
                    name,
                    label,
                    f"{cpu:.2f} s",
                    f"{entry['cpu_ratio']:.2f}x",
                    mib(peak),
                    mib(grown),
                    f"{entry['memory_ratio']:.2f}x" if entry["memory_ratio"] else "—",
                    f"{last['kind'] or 'passed'}"
                    + (
                        f", {last['races_reported']} race group(s), {last['race_pairs']:,} pairs"
                        if last["races_reported"]
                        else ""
                    ),
                    f"{last['shrink_runs']} runs" if shrink else "—",
                )
            )
    _common.table(
        "Long traces: one random schedule (CPU time of explore; peak RSS of the process)",
        [
            "case",
            "variant",
            "CPU",
            "CPU / first",
            "peak RSS",
            "peak - start",
            "mem / first",
            "outcome",
            "shrinker",
        ],
        rows,
    )
    _common.write_json(
        "long_trace",
        {
            "machine": info,
            "quick": args.quick,
            "rounds": rounds,
            "results": results,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
