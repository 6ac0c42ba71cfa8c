"""Smoke test of the benchmark scripts: each runs at its tiny size in a fresh process, exits 0 and
writes its JSON report (to a temporary directory, never over the real numbers in reports/bench/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
FAST_SCENARIO = ROOT / "scenarios" / "shipped_tool_events_dropped.toml"


# script, extra arguments (besides --quick), JSON it writes
SCRIPTS = [
    ("bench_overhead.py", [], "overhead.json"),
    ("bench_dpor.py", [], "dpor.json"),
    ("bench_time_to_bug.py", [], "time_to_bug.json"),
    ("bench_memory.py", ["--budget", "2"], "memory.json"),
    ("bench_parallel.py", [], "parallel.json"),
    ("bench_strategies.py", [], "strategies.json"),
    ("bench_footprints.py", [], "footprints.json"),
]


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RACESIM_BENCH_DIR": str(tmp_path), "COLUMNS": "150"}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(("script", "extra", "output"), SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_benchmark_script_runs_at_quick_size_and_writes_json(
    script: str, extra: list[str], output: str, tmp_path: Path
) -> None:
    done = _run([str(BENCHMARKS / script), "--quick", *extra], tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads((tmp_path / output).read_text())
    assert report["benchmark"] == output.removesuffix(".json")
    assert report["quick"] is True
    assert report["machine"]["nproc"] >= 1


def test_bench_hb_runs_at_a_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "hb.json"
    done = _run([str(BENCHMARKS / "bench_hb.py"), "--size", "200", "--out", str(out)], tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert json.loads(out.read_text())["size"] == 200


def test_bench_scenarios_runs_quick_on_one_scenario(tmp_path: Path) -> None:
    out = tmp_path / "scenarios.json"
    done = _run(
        [str(BENCHMARKS / "bench_scenarios.py"), "--quick", str(FAST_SCENARIO), "--out", str(out)],
        tmp_path,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert json.loads(out.read_text())["quick"] is True
