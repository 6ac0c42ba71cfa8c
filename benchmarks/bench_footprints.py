"""Benchmark: what automatic footprints cost per schedule, next to ``@sim.tracked`` and to nothing.

The overhead models of ``bench_overhead.py`` with shared state: T tasks, each C times reading a
shared counter, checkpointing, and writing it back (``v = box.value; await trio.sleep(0);
box.value = v + 1`` — the lost-update shape, so every step touches shared state). One source, three
ways, in one process, interleaved rounds (CPU time per schedule, median over rounds):

- ``none``:      the module is built from source with no file behind it, so racesim can neither
  rewrite nor see it: no footprints are recorded and every step is unseen (racesim's floor here);
- ``tracked``:   the same, with ``@sim.tracked`` on the class: attribute reads and writes recorded
  by the decorator (wave 1's only path);
- ``automatic``: the plain class in a real module file, instrumented by racesim (issue 11's target:
  within 2x of ``tracked``).

Each figure is ``run_once`` with a ``RandomStrategy`` (a fresh ``trio.run`` per schedule), so it
is the engine's cost of one controlled schedule with that kind of recording.

    python benchmarks/bench_footprints.py           # full
    python benchmarks/bench_footprints.py --quick   # smoke size
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common

from sim._run import run_once
from sim.strategies import RandomStrategy

TARGET_RATIO = 2.0

SOURCE = """
import trio
import sim

{decorator}
class Box:
    def __init__(self):
        self.value = 0


def make(tasks, steps):
    async def scenario():
        box = Box()

        async def worker():
            for _ in range(steps):
                seen = box.value
                await trio.sleep(0)
                box.value = seen + 1

        async with trio.open_nursery() as nursery:
            for _ in range(tasks):
                nursery.start_soon(worker)

    return scenario
"""


def _without_file(name: str, decorator: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(SOURCE.format(decorator=decorator), f"<{name}>", "exec"), vars(module))
    return module


def _with_file(directory: Path, name: str) -> types.ModuleType:
    path = directory / f"{name}.py"
    path.write_text(SOURCE.format(decorator=""))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def per_schedule(scenario, batch: int):
    strategy = RandomStrategy(0)
    counter = [0]

    def measure() -> float:
        with _common.Stopwatch() as watch:
            for _ in range(batch):
                strategy.new_execution()
                run_once(scenario, strategy, seed=counter[0])
                counter[0] += 1
        return watch.cpu / batch

    return measure


def footprint_counts(scenario) -> tuple[int, int, int]:
    """(steps, recorded accesses, unseen steps) of one schedule."""
    strategy = RandomStrategy(0)
    strategy.new_execution()
    trace = run_once(scenario, strategy).trace
    accesses = sum(len(step.accesses) for step in trace.steps)
    return len(trace.steps), accesses, sum(step.unseen for step in trace.steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke size (seconds)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds per size")
    args = parser.parse_args(argv)
    sizes = [(3, 4)] if args.quick else [(3, 4), (4, 25), (8, 100)]
    rounds = args.rounds or (2 if args.quick else 9)
    info = _common.machine()
    _common.console.print(_common.machine_line(info))
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        modules = {
            "none": _without_file("bench_fp_none", ""),
            "tracked": _without_file("bench_fp_tracked", "@sim.tracked"),
            "automatic": _with_file(Path(directory), "bench_fp_automatic"),
        }
        for tasks, steps in sizes:
            batch = max(2, (40 if not args.quick else 4) // max(1, tasks * steps // 12))
            scenarios = {name: module.make(tasks, steps) for name, module in modules.items()}
            counts = {name: footprint_counts(fn) for name, fn in scenarios.items()}
            samples = _common.interleaved(
                {name: per_schedule(fn, batch) for name, fn in scenarios.items()}, rounds
            )
            cost = {name: _common.median(values) for name, values in samples.items()}
            rows.append(
                {
                    "size": f"{tasks}x{steps}",
                    "steps": counts["automatic"][0],
                    "accesses": {name: c[1] for name, c in counts.items()},
                    "unseen_steps": {name: c[2] for name, c in counts.items()},
                    "cpu_seconds_per_schedule": cost,
                    "spread": {name: _common.spread(v) for name, v in samples.items()},
                    "automatic_over_tracked": cost["automatic"] / cost["tracked"],
                    "tracked_over_none": cost["tracked"] / cost["none"],
                }
            )
    _common.table(
        "CPU time per schedule (run_once, random strategy)",
        ["size", "steps", "none", "tracked", "automatic", "auto/tracked", "tracked/none", "unseen"],
        [
            [
                r["size"],
                r["steps"],
                _common.fmt_us(r["cpu_seconds_per_schedule"]["none"]),
                _common.fmt_us(r["cpu_seconds_per_schedule"]["tracked"]),
                _common.fmt_us(r["cpu_seconds_per_schedule"]["automatic"]),
                f"{r['automatic_over_tracked']:.2f}x",
                f"{r['tracked_over_none']:.2f}x",
                "/".join(str(v) for v in r["unseen_steps"].values()),
            ]
            for r in rows
        ],
    )
    worst = max(r["automatic_over_tracked"] for r in rows)
    _common.console.print(
        f"automatic footprints cost at most {worst:.2f}x @sim.tracked per schedule "
        f"(target <= {TARGET_RATIO}x: {'met' if worst <= TARGET_RATIO else 'NOT met'})"
    )
    _common.write_json(
        "footprints",
        {
            "machine": info,
            "quick": args.quick,
            "rounds": rounds,
            "target_ratio": TARGET_RATIO,
            "sizes": rows,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
