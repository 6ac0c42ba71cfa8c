"""Benchmark: ``racesim explore --workers 1`` against ``--workers 2`` on the bundled scenarios.

Each configuration is a subprocess running the real command line, ``racesim explore scenarios/
--workers N --json --report-dir <temp>``, timed by wall clock from spawn to exit (process start-up,
imports and the spawn-based worker pool included — what a user or a CI job waits for). The
configurations alternate (1 2, 2 1, ...) and each figure is the median of its repeats. The JSON on
stdout gives each scenario's verdict, schedules and failure token: they must be identical for both
worker counts (the CLI promises results independent of ``--workers``), and we check it.

On this 2-core box other processes compete for the cores, so the speed-up is bounded by what is
left idle; the load average at start is printed. The ideal is set by the longest scenario: with
one scenario much slower than the rest, two workers cannot halve the time.

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
        extra, repeats = ["--max-schedules", "20"], 1
    else:
        paths, extra, repeats = [str(SCENARIOS)], [], args.repeats

    runs = _common.interleaved(
        {"1": lambda: explore(paths, 1, extra), "2": lambda: explore(paths, 2, extra)}, repeats
    )
    walls = {n: _common.median([r["wall_s"] for r in rs]) for n, rs in runs.items()}
    reference = runs["1"][0]["outcomes"]
    same = all(r["outcomes"] == reference for rs in runs.values() for r in rs)
    codes = sorted({r["exit_code"] for rs in runs.values() for r in rs})
    slowest = max(runs["1"][0]["scenario_seconds"].values(), default=0.0)
    total = sum(runs["1"][0]["scenario_seconds"].values())
    _common.table(
        f"racesim explore on {len(reference)} scenario(s), wall seconds (median of {repeats})",
        ["workers", "wall", "all runs", "speed-up", "exit codes"],
        [
            (
                n,
                f"{walls[n]:.1f} s",
                ", ".join(f"{r['wall_s']:.1f}" for r in runs[n]),
                f"{walls['1'] / walls[n]:.2f}x",
                ", ".join(str(r["exit_code"]) for r in runs[n]),
            )
            for n in ("1", "2")
        ],
    )
    _common.console.print(
        f"verdicts, schedules and tokens identical for 1 and 2 workers: {'yes' if same else 'NO'}; "
        f"exploration time summed over scenarios {total:.1f} s, slowest scenario {slowest:.1f} s "
        f"(bounds the 2-worker time from below)"
    )
    for n, rs in runs.items():
        for r in rs:
            if r["stderr_tail"]:
                _common.console.print(f"workers {n}: {r['stderr_tail']}")
    _common.write_json(
        "parallel",
        {
            "machine": info,
            "quick": args.quick,
            "paths": paths,
            "extra_flags": extra,
            "repeats": repeats,
            "wall_s_median": walls,
            "speedup": walls["1"] / walls["2"],
            "identical_results": same,
            "exit_codes": codes,
            "scenario_seconds_workers_1": runs["1"][0]["scenario_seconds"],
            "runs": {
                n: [{k: v for k, v in r.items() if k != "outcomes"} for r in rs]
                for n, rs in runs.items()
            },
        },
    )
    return 0 if same and set(codes) <= {0, 1} else 1


if __name__ == "__main__":
    raise SystemExit(main())
