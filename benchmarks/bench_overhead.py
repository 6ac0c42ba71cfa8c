"""Benchmark: what one racesim schedule costs next to the same code run natively by ``trio.run``.

The workload is plain trio: T tasks, each passing C checkpoints (``await trio.sleep(0)``), spawned
from one nursery. It runs three ways in one process, in interleaved rounds (A B C, C B A, ...) so
that drift of the shared machine hits all alike; each figure is the median over rounds of the mean
cost of a batch of runs:

- ``native``:   ``trio.run(scenario)`` — what the code costs without racesim;
- ``run_once``: ``sim._run.run_once(scenario, RandomStrategy)`` — one controlled schedule (fresh
  ``trio.run``, MockClock, gate, recorder), the engine's unit of work;
- ``explore``:  ``sim.explore(scenario, strategy="random", ...)`` per schedule, with its default
  per-run judging (vector clocks and the data-race check), shrinking off — what a user pays;
- ``floor``:    ``trio.run`` with a bare stand-in for trio's run queue that, like racesim's gate,
  hands the run loop one scenario task per iteration (the first runnable one), and does nothing
  else: no strategy, recorder, clock or instrument bookkeeping. It prices the design itself — one
  run-loop iteration per step where trio runs a whole batch per iteration — so the gap between
  ``floor`` and ``run_once`` is racesim's own bookkeeping.

The issue's target is ``run_once`` within 1.5x of ``native``. Then the exhaustive rate: ``dfs`` on
3 tasks x 4 checkpoints (756,756 schedules in all; we time a prefix), as schedules/s and steps/s.
racesim has one execution mode, a fresh ``trio.run`` per schedule (see the essay in sim/_run.py):
"reused run" is reported as not implemented, not estimated. Finally a cProfile of ``run_once`` on
the middle size, grouped by where the time goes, and one what-if: the same runs with the per-step
source-location walk (``sim._control.where``) replaced by a constant, to size that one cost.

    python benchmarks/bench_overhead.py           # full (~1-2 min)
    python benchmarks/bench_overhead.py --quick   # smoke size
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from collections import deque
from pathlib import Path

import trio
from trio._core import _run as trio_run

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common

import sim
from sim import _control
from sim._run import run_once
from sim.strategies import DfsStrategy, RandomStrategy

TARGET_RATIO = 1.5


def checkpoints(tasks: int, steps: int):
    """``tasks`` tasks of ``steps`` checkpoints each, in one nursery."""

    async def scenario() -> None:
        async def worker() -> None:
            for _ in range(steps):
                await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            for _ in range(tasks):
                nursery.start_soon(worker)

    scenario.__racesim_fingerprint__ = f"overhead-{tasks}x{steps}"  # type: ignore[attr-defined]
    return scenario


class OneAtATime(deque):
    """Stand-in for ``runner.runq``: every non-scenario task plus the first scenario task."""

    def __init__(self, pending: deque, model: set) -> None:
        super().__init__(pending)
        self.model = model
        self.handed: list = []

    def __iter__(self):
        model = self.model
        first = None
        handed = []
        for task in deque.__iter__(self):
            if task not in model:
                handed.append(task)
            elif first is None:
                first = task
        if first is not None:
            handed.append(first)
        self.handed = handed
        return iter(handed)

    def clear(self) -> None:
        for task in self.handed:
            self.remove(task)
        self.handed = []


class _Spawned(trio.abc.Instrument):
    def __init__(self) -> None:
        self.model: set = set()
        self.on = False

    def task_spawned(self, task) -> None:
        if self.on:
            self.model.add(task)


def floor_run(scenario) -> None:
    """``trio.run(scenario)`` stepping one scenario task per run-loop iteration."""
    spawned = _Spawned()

    async def harness() -> None:
        runner = trio_run.GLOBAL_RUN_CONTEXT.runner
        gate = OneAtATime(runner.runq, spawned.model)
        runner.runq = gate
        spawned.on = True
        try:
            await scenario()
        finally:
            runner.runq = deque(deque.__iter__(gate))

    trio.run(harness, instruments=[spawned])


def per_run_floor(scenario, batch: int):
    def measure() -> tuple[float, float]:
        with _common.Stopwatch() as watch:
            for _ in range(batch):
                floor_run(scenario)
        return (watch.cpu / batch, watch.wall / batch)

    return measure


def per_run_native(scenario, batch: int):
    def measure() -> tuple[float, float]:
        with _common.Stopwatch() as watch:
            for _ in range(batch):
                trio.run(scenario)
        return (watch.cpu / batch, watch.wall / batch)

    return measure


def per_run_racesim(scenario, batch: int):
    strategy = RandomStrategy(0)
    counter = [0]

    def measure() -> tuple[float, float]:
        with _common.Stopwatch() as watch:
            for _ in range(batch):
                strategy.new_execution()
                run_once(scenario, strategy, seed=counter[0])
                counter[0] += 1
        return (watch.cpu / batch, watch.wall / batch)

    return measure


def per_run_explore(scenario, batch: int):
    counter = [0]

    def measure() -> tuple[float, float]:
        counter[0] += 1
        with _common.Stopwatch() as watch:
            result = sim.explore(
                scenario, strategy="random", max_schedules=batch, seed=counter[0], shrink=False
            )
        assert result.schedules_run == batch and not result.failures
        return (watch.cpu / batch, watch.wall / batch)

    return measure


def steps_of(scenario) -> int:
    strategy = RandomStrategy(0)
    strategy.new_execution()
    return len(run_once(scenario, strategy).trace.steps)


def medians(samples: dict[str, list[tuple[float, float]]], which: int) -> dict[str, float]:
    return {name: _common.median([v[which] for v in values]) for name, values in samples.items()}


def overhead(sizes, batch: int, rounds: int) -> list[dict[str, object]]:
    rows = []
    for tasks, steps in sizes:
        scenario = checkpoints(tasks, steps)
        n_steps = steps_of(scenario)
        scale = max(1, batch * 12 // (tasks * (steps + 1)))
        samples = _common.interleaved(
            {
                "native": per_run_native(scenario, scale),
                "floor": per_run_floor(scenario, scale),
                "run_once": per_run_racesim(scenario, scale),
                "explore": per_run_explore(scenario, scale),
            },
            rounds,
        )
        cpu, wall = medians(samples, 0), medians(samples, 1)
        ratio = cpu["run_once"] / cpu["native"]
        rows.append(
            {
                "tasks": tasks,
                "checkpoints": steps,
                "steps_per_schedule": n_steps,
                "runs_per_sample": scale,
                "rounds": rounds,
                "cpu_s_per_schedule": cpu,
                "wall_s_per_schedule": wall,
                "cpu_spread": {
                    name: _common.spread([v[0] for v in values]) for name, values in samples.items()
                },
                "cpu_us_per_step": {name: value * 1e6 / n_steps for name, value in cpu.items()},
                "ratio_run_once_cpu": ratio,
                "ratio_floor_cpu": cpu["floor"] / cpu["native"],
                "ratio_explore_cpu": cpu["explore"] / cpu["native"],
                "ratio_run_once_wall": wall["run_once"] / wall["native"],
                "target_met": ratio <= TARGET_RATIO,
            }
        )
    return rows


def dfs_rate(schedules: int, rounds: int) -> dict[str, object]:
    """dfs on 3 tasks x 4 checkpoints: raw engine loop (run_once + backtracking) and explore()."""
    scenario = checkpoints(3, 4)
    totals = {"steps": 0}

    def raw() -> float:
        dfs = DfsStrategy()
        count = steps = 0
        with _common.Stopwatch() as watch:
            while count < schedules and dfs.new_execution():
                outcome = run_once(scenario, dfs)
                dfs.execution_finished(outcome.trace, outcome.schedule)
                steps += len(outcome.trace.steps)
                count += 1
        totals["steps"] = steps
        return count / watch.cpu

    def explored() -> float:
        with _common.Stopwatch() as watch:
            result = sim.explore(scenario, strategy="dfs", max_schedules=schedules, shrink=False)
        return result.schedules_run / watch.cpu

    samples = _common.interleaved({"dfs run_once loop": raw, "dfs explore()": explored}, rounds)
    steps_per_schedule = totals["steps"] / schedules
    return {
        "model": "3 tasks x 4 checkpoints",
        "schedules_timed": schedules,
        "space": 756_756,
        "steps_per_schedule": steps_per_schedule,
        "schedules_per_s": {name: _common.median(v) for name, v in samples.items()},
        "steps_per_s": {
            name: _common.median(v) * steps_per_schedule for name, v in samples.items()
        },
        "reused_run": "not implemented — fresh run per schedule by design (see sim/_run.py essay)",
    }


AREAS = (
    ("trio run loop", "/trio/_core/_run.py"),
    ("trio other", "/trio/"),
    ("racesim gate/controller", "/sim/_control.py"),
    ("racesim recorder", "/sim/_trace.py"),
    ("racesim run_once", "/sim/_run.py"),
    ("strategy", "/sim/strategies/"),
    ("scenario", "bench_overhead.py"),
)


def profile(tasks: int, steps: int, runs: int) -> dict[str, object]:
    scenario = checkpoints(tasks, steps)
    strategy = RandomStrategy(0)

    def go() -> None:
        for seed in range(runs):
            strategy.new_execution()
            run_once(scenario, strategy, seed=seed)

    go()  # warm caches (file classification, primitives installed)
    profiler = cProfile.Profile()
    profiler.runcall(go)
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = stats.total_tt  # type: ignore[attr-defined]
    areas: dict[str, float] = {}
    top = []
    for (filename, line, function), (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        area = next((name for name, part in AREAS if part in filename), "other (stdlib, attrs)")
        areas[area] = areas.get(area, 0.0) + tottime
        top.append((tottime, cumtime, ncalls, f"{Path(filename).name}:{line}({function})"))
    top.sort(reverse=True)
    return {
        "model": f"{tasks} tasks x {steps} checkpoints, {runs} run_once calls under cProfile",
        "total_s": total,
        "areas": {name: areas[name] / total for name in sorted(areas, key=areas.get, reverse=True)},
        "top_tottime": [
            {"function": name, "tottime_s": tt, "cumtime_s": ct, "calls": calls}
            for tt, ct, calls, name in top[:15]
        ],
    }


def where_ablation(tasks: int, steps: int, batch: int, rounds: int) -> dict[str, float]:
    """CPU per schedule of the same run_once batch with and without the per-step frame walk
    (``_control.where``)."""
    scenario = checkpoints(tasks, steps)
    original = _control.where

    def constant(task: object) -> tuple[str, str]:
        return ("?", "?")

    plain = per_run_racesim(scenario, batch)

    def without() -> float:
        _control.where = constant
        try:
            return plain()
        finally:
            _control.where = original

    samples = _common.interleaved({"as is": plain, "no where()": without}, rounds)
    return medians(samples, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke size")
    args = parser.parse_args(argv)
    info = _common.machine()
    _common.console.print(_common.machine_line(info))

    if args.quick:
        sizes, batch, rounds, dfs_n, prof = [(3, 4)], 20, 2, 60, (3, 4, 10)
    else:
        sizes, batch, rounds, dfs_n, prof = [(3, 4), (4, 25), (8, 100)], 200, 9, 3000, (4, 25, 200)

    rows = overhead(sizes, batch, rounds)
    _common.table(
        f"Per-schedule CPU time, median of {rounds} interleaved rounds "
        f"(target: run_once <= {TARGET_RATIO}x native)",
        [
            "model",
            "steps",
            "native",
            "floor",
            "run_once",
            "explore",
            "floor/native",
            "run_once/native",
            "explore/native",
            "(wall ratio)",
            "target met",
        ],
        [
            (
                f"{r['tasks']} tasks x {r['checkpoints']} ckpts",
                r["steps_per_schedule"],
                _common.fmt_us(r["cpu_s_per_schedule"]["native"]),
                _common.fmt_us(r["cpu_s_per_schedule"]["floor"]),
                _common.fmt_us(r["cpu_s_per_schedule"]["run_once"]),
                _common.fmt_us(r["cpu_s_per_schedule"]["explore"]),
                f"{r['ratio_floor_cpu']:.2f}x",
                f"{r['ratio_run_once_cpu']:.2f}x",
                f"{r['ratio_explore_cpu']:.2f}x",
                f"{r['ratio_run_once_wall']:.2f}x",
                "yes" if r["target_met"] else "NO",
            )
            for r in rows
        ],
    )
    _common.table(
        "Per-step CPU time (schedule cost / steps in it)",
        ["model", "native us/step", "floor us/step", "run_once us/step", "explore us/step"],
        [
            (
                f"{r['tasks']} tasks x {r['checkpoints']} ckpts",
                f"{r['cpu_us_per_step']['native']:.1f}",
                f"{r['cpu_us_per_step']['floor']:.1f}",
                f"{r['cpu_us_per_step']['run_once']:.1f}",
                f"{r['cpu_us_per_step']['explore']:.1f}",
            )
            for r in rows
        ],
    )

    rate = dfs_rate(dfs_n, max(2, rounds // 3))
    _common.table(
        f"dfs throughput on {rate['model']} (first {dfs_n:,} of {rate['space']:,} schedules, "
        f"{rate['steps_per_schedule']:.0f} steps each), per CPU second",
        ["mode", "schedules/s", "steps/s"],
        [
            *(
                (name, f"{value:,.0f}", f"{rate['steps_per_s'][name]:,.0f}")
                for name, value in rate["schedules_per_s"].items()
            ),
            ("reused run", "—", str(rate["reused_run"])),
        ],
    )

    profiled = profile(*prof)
    _common.table(
        f"Where run_once spends its time: {profiled['model']}",
        ["area", "share of self time"],
        [(name, f"{share:.0%}") for name, share in profiled["areas"].items()],
    )
    _common.table(
        "Top functions by self time",
        ["function", "calls", "self s", "cumulative s"],
        [
            (t["function"], t["calls"], f"{t['tottime_s']:.3f}", f"{t['cumtime_s']:.3f}")
            for t in profiled["top_tottime"][:12]
        ],
    )

    ablation_size = sizes[-1] if args.quick else (8, 100)
    ablation = where_ablation(*ablation_size, 3 if args.quick else 20, rounds)
    _common.table(
        f"What-if: per-step location walk removed ({ablation_size[0]} tasks x "
        f"{ablation_size[1]} ckpts, run_once)",
        ["variant", "CPU per schedule"],
        [(name, _common.fmt_us(value)) for name, value in ablation.items()],
    )

    met = all(r["target_met"] for r in rows)
    _common.console.print(
        f"target run_once <= {TARGET_RATIO}x native: "
        + ("met on every size" if met else "NOT met (see the profile above)")
    )
    _common.write_json(
        "overhead",
        {
            "machine": info,
            "quick": args.quick,
            "target_ratio": TARGET_RATIO,
            "target_met": met,
            "overhead": rows,
            "dfs": rate,
            "profile": profiled,
            "where_ablation_s_per_schedule": ablation,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
