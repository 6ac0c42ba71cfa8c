"""Benchmark: ``racesim explore --workers 1`` against ``--workers 2`` on the bundled scenarios.

Each run is a subprocess running the real command line, ``racesim explore scenarios/ --workers N
--json --report-dir <temp>``, timed by wall clock from spawn to exit (process start-up, imports and
the spawn-based worker pool included — what a user or a CI job waits for). The worker counts
alternate (1 2, 2 1, ...) and each figure is the median of its repeats. The JSON on stdout gives
each scenario's verdict, schedules and failure token: they must be identical for both worker
counts (the CLI promises results independent of ``--workers``), and we check it.

Two workloads: the scenario files' own settings (cheap: seconds of exploration in all), and a fixed
budget that makes every scenario do real work (``--strategy random --max-schedules 4000``; some
verdicts then differ from the files' expectations, exit code 1, the same for both worker counts).

On this 2-core box other processes compete for the cores, so the speed-up is bounded by what is
left idle. Before each workload a calibration measures it: the same CPU-bound pure-Python loop in
one process, then in two at once; ``2 * t(one) / t(two)`` is the parallelism the machine offered
right then (2.0 on an idle 2-core box, about 1.0 when another process holds a core). The ideal is
also bounded by the longest scenario: two workers cannot finish before the slowest scenario does.

    python benchmarks/bench_parallel.py           # full: every scenario, 2 repeats each
    python benchmarks/bench_parallel.py --quick   # smoke: two fast scenarios, 20 schedules
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common

SCENARIOS = _common.ROOT / "scenarios"
QUICK_FILES = ("shipped_tool_events_dropped.toml", "legacy_shared_dispatcher_leak.toml")


def command() -> list[str]:
    found = shutil.which("racesim")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main())"]


def supports_workers() -> bool:
    try:
        help_text = subprocess.run(
            [*command(), "explore", "--help"],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "--workers" in help_text


SPIN = "n = 0\nfor i in range(12_000_000):\n    n += i\n"


def available_parallelism() -> float:
    """``2 * t(one spinning process) / t(two at once)``: how many cores were free just now."""

    def spin(copies: int) -> float:
        start = time.perf_counter()
        running = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(copies)]
        for process in running:
            process.wait()
        return time.perf_counter() - start

    one, two = spin(1), spin(2)
    return 2 * one / two


def explore(paths: list[str], workers: int, extra: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="racesim-bench-") as reports:
        start = time.perf_counter()
        done = subprocess.run(
            [
                *command(),
                "explore",
                *paths,
                "--workers",
                str(workers),
                "--json",
                "--report-dir",
                reports,
                *extra,
            ],
            check=False,
            capture_output=True,
            text=True,
            cwd=_common.ROOT,
            timeout=3600,
        )
        wall = time.perf_counter() - start
    try:
        document = json.loads(done.stdout)
    except json.JSONDecodeError:
        document = {"results": []}
    outcomes = {
        r["scenario"]["name"]: (
            r["verdict"],
            r["stats"]["schedules_run"],
            (r.get("failure") or {}).get("token"),
        )
        for r in document.get("results", [])
    }
    seconds = {
        r["scenario"]["name"]: r["stats"]["elapsed_seconds"] for r in document.get("results", [])
    }
    return {
        "exit_code": done.returncode,
        "wall_s": wall,
        "outcomes": outcomes,
        "scenario_seconds": seconds,
        "stderr_tail": done.stderr[-500:] if done.returncode not in (0, 1) else "",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke size")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    info = _common.machine()
    _common.console.print(_common.machine_line(info))
    if not supports_workers():
        _common.console.print("racesim explore has no --workers option yet: nothing to measure")
        _common.write_json("parallel", {"machine": info, "skipped": "no --workers in the CLI"})
        return 0
    if args.quick:
        paths = [str(SCENARIOS / name) for name in QUICK_FILES]
        workloads = {"quick: 2 files, 20 schedules": ["--max-schedules", "20"]}
        repeats = 1
    else:
        paths, repeats = [str(SCENARIOS)], args.repeats
        workloads = {
            "files' own settings": [],
            "random, 4,000 schedules each": ["--strategy", "random", "--max-schedules", "4000"],
        }
    results = {}
    for name, extra in workloads.items():
        before = available_parallelism()
        results[name] = measure(paths, extra, repeats)
        results[name]["available_parallelism"] = (before, available_parallelism())
    _common.table(
        f"racesim explore, wall seconds (median of {repeats}); speed-up = workers 1 / workers 2",
        [
            "workload",
            "scenarios",
            "workers 1",
            "workers 2",
            "speed-up",
            "identical results",
            "exit codes",
            "sum / slowest scenario",
            "free cores (before, after)",
        ],
        [
            (
                name,
                r["scenarios"],
                f"{r['wall_s_median']['1']:.1f} s",
                f"{r['wall_s_median']['2']:.1f} s",
                f"{r['speedup']:.2f}x",
                "yes" if r["identical_results"] else "NO",
                ", ".join(map(str, r["exit_codes"])),
                f"{r['scenario_seconds_sum']:.1f} s / {r['slowest_scenario_s']:.1f} s",
                "{:.2f}, {:.2f}".format(*r["available_parallelism"]),
            )
            for name, r in results.items()
        ],
    )
    for r in results.values():
        for line in r["errors"]:
            _common.console.print(line)
    _common.write_json(
        "parallel",
        {"machine": info, "quick": args.quick, "paths": paths, "repeats": repeats, **results},
    )
    ok = all(r["identical_results"] and set(r["exit_codes"]) <= {0, 1} for r in results.values())
    return 0 if ok else 1


def measure(paths: list[str], extra: list[str], repeats: int) -> dict[str, object]:
    runs = _common.interleaved(
        {"1": lambda: explore(paths, 1, extra), "2": lambda: explore(paths, 2, extra)}, repeats
    )
    walls = {n: _common.median([r["wall_s"] for r in rs]) for n, rs in runs.items()}
    reference = runs["1"][0]["outcomes"]
    seconds = runs["1"][0]["scenario_seconds"]
    return {
        "extra_flags": extra,
        "scenarios": len(reference),
        "wall_s_median": walls,
        "wall_s_all": {n: [r["wall_s"] for r in rs] for n, rs in runs.items()},
        "speedup": walls["1"] / walls["2"],
        "identical_results": all(r["outcomes"] == reference for rs in runs.values() for r in rs),
        "exit_codes": sorted({r["exit_code"] for rs in runs.values() for r in rs}),
        "scenario_seconds_workers_1": seconds,
        "scenario_seconds_sum": sum(seconds.values()),
        "slowest_scenario_s": max(seconds.values(), default=0.0),
        "errors": [
            f"workers {n}: {r['stderr_tail']}"
            for n, rs in runs.items()
            for r in rs
            if r["stderr_tail"]
        ],
    }


if __name__ == "__main__":
    raise SystemExit(main())
